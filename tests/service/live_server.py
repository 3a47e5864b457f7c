"""A real `quarry serve` (uvicorn) on 127.0.0.1 in a thread, for tests that drive real client SDKs."""

from __future__ import annotations

import socket
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import uvicorn

from service.api import create_app
from service.settings import Settings
from tests.tiny_models import TEST_SETTINGS


def tiny_settings(data_dir: Path, embedder: str, reranker: str = "none") -> Settings:
    return Settings(**{**TEST_SETTINGS, "data_dir": data_dir, "embedder": embedder, "reranker": reranker})


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def live_server(settings: Settings, startup_timeout: float = 60.0):
    """Yields the base URL; the server is stopped (bounded wait) on exit."""
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="quarry-test-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError("test server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
