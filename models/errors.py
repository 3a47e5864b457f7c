class ModelLoadError(RuntimeError):
    """A model reference could not be turned into a loaded model; the message says why and what to do."""
