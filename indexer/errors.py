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


class InvalidDocumentId(QuarryError):
    """A document id that is empty, too long or holds control characters."""


class CollectionBusy(QuarryError):
    """Another writer holds the collection's write lock (the API maps this to 409/423)."""


class StorageError(QuarryError):
    """The disk refused a write (full, read-only, no permission); nothing was half-written."""


class InvalidDocument(QuarryError):
    """A document's text, title or metadata cannot be stored safely (non-finite numbers, lone surrogates,
    metadata nested too deep or too large); `field` names the part at fault."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field
