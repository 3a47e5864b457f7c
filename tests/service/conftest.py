"""One way for a test to get the API: the real app factory and lifespan, settings overrides as arguments.

Settings start from `settings_env` (tiny models, a throwaway data dir, reranker off) and keyword overrides
are Settings fields, so a test says what it changes without touching the environment.
"""

from __future__ import annotations

from contextlib import contextmanager

import pytest
from fastapi.testclient import TestClient

from service.api import create_app
from service.settings import Settings, load_settings


@pytest.fixture
def make_app(settings_env):
    """make_app(settings=None, **overrides) -> a FastAPI app; models load when its lifespan starts."""

    def build(settings: Settings | None = None, **overrides):
        return create_app(settings if settings is not None else load_settings(**overrides))

    return build


@pytest.fixture
def make_client(make_app):
    """make_client(**overrides) -> a context manager yielding a TestClient inside the app's lifespan.

    `collections=[...]` creates those collections first; `raise_server_exceptions=False` turns an
    unhandled error into the 500 a client would see; `settings=` passes a ready Settings object.
    Leaving the block runs the shutdown, so a test can open a second client on the same data dir.
    """

    @contextmanager
    def open_client(*, collections=(), raise_server_exceptions=True, settings=None, **overrides):
        with TestClient(make_app(settings, **overrides), raise_server_exceptions=raise_server_exceptions) as client:
            for name in collections:
                created = client.post("/v1/collections", json={"name": name})
                assert created.status_code == 201, created.text
            yield client

    return open_client


@pytest.fixture
def client(make_client):
    """A client of an app with default test settings and no collections."""
    with make_client() as client:
        yield client
