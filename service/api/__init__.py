"""The HTTP API: a FastAPI app over the same search function and indexer the CLI uses."""

from service.api.app import create_app

__all__ = ["create_app"]
