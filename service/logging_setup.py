"""Process logging: one JSON object per line (for log shippers) or plain text (for people), with the request id.

The request id lives in a context variable set by the API middleware; every record logged while a request
is handled (in the event loop or in a worker thread, which copies the context) carries it.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import uuid
from contextvars import ContextVar
from datetime import datetime, timezone

request_id_var: ContextVar[str] = ContextVar("quarry_request_id", default="")

# an incoming X-Request-ID is echoed only when it cannot smuggle anything into logs or headers
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}")
# fields the access log passes with `extra=`; JSON logs give them their own keys
ACCESS_FIELDS = ("method", "path", "route", "status", "duration_ms")
_HANDLER_NAME = "quarry"


def request_id_from(header: str | None) -> str:
    """The caller's id when it is sane (letters, digits, . _ : -, at most 128), else a fresh one."""
    if header and _SANE_REQUEST_ID.fullmatch(header):
        return header
    return uuid.uuid4().hex


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", None):
            record.request_id = request_id_var.get()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "") or None,
        }
        for key in ACCESS_FIELDS:
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"


# Libraries that narrate their own loading at info level ("Loading faiss with AVX512 support.", "Could not load
# library with AVX2 support due to: ModuleNotFoundError...", "Loading SentenceTransformer model from ..."): at
# the server's info level they are noise that looks like trouble; their warnings and errors still come through.
CHATTY_LOADERS = ("faiss", "faiss.loader", "sentence_transformers", "transformers", "httpx", "mcp.server")


def resolve_format(fmt: str, stream=None) -> str:
    """auto: text for a person at a terminal, JSON for a log shipper (a pipe, a file, a container's stdout)."""
    if fmt != "auto":
        return fmt
    stream = stream or sys.stderr
    isatty = getattr(stream, "isatty", None)
    return "text" if isatty is not None and isatty() else "json"


def make_handler(fmt: str, stream=None) -> logging.Handler:
    fmt = resolve_format(fmt, stream)
    if fmt not in ("json", "text"):
        raise ValueError(f"unknown log format {fmt!r}: use auto, json or text")
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    return handler


def configure_logging(fmt: str = "auto", level: str | int = "INFO", stream=None) -> logging.Handler:
    """Route every logger (uvicorn's included) through one handler on the root, replacing the root's others
    (the CLI's basicConfig), so each record is written once; safe to call again."""
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    handler = make_handler(fmt, stream)
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    quiet = max(logging.WARNING, root.level)  # at debug level everything speaks
    for name in CHATTY_LOADERS:
        logging.getLogger(name).setLevel(quiet if root.level > logging.DEBUG else logging.NOTSET)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):  # let them reach the root handler only
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    return handler
