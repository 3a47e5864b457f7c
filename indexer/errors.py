class QuarryError(Exception):
    """Base for errors whose message is meant for the user as is."""


class CollectionNotFound(QuarryError):
    pass


class CollectionExists(QuarryError):
    pass


class EmbedderMismatch(QuarryError):
    """A collection was opened with an embedder other than the one it was built with."""


class InvalidName(QuarryError):
    pass


class DocumentNotFound(QuarryError):
    pass


class LoadError(QuarryError):
    """A source file could not be turned into a document."""
