"""HTTP API, search pipeline, settings and CLI wiring."""
