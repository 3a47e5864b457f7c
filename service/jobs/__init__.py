"""Background indexing jobs (manager: queue, runner, progress, resume) and the archive uploads they unpack."""
