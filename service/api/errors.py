"""Every error the API returns, in one place: {"error": {"type", "message"}}.

Library exceptions map to HTTP statuses here; routes just let them rise. Messages say what was wrong
and how to fix it; no stack trace reaches a client (the server log keeps it for 500s).

Routes that speak another service's wire format answer errors in that service's shape, chosen by path
(service.api.compat.errors): OpenAI's for /v1/embeddings, /v1/vector_stores, /v1/models, Cohere's for /v1/rerank.
"""

from __future__ import annotations

import logging
import sqlite3

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from indexer.backup import SnapshotError
from indexer.errors import (
    CollectionBusy,
    CollectionExists,
    CollectionNotFound,
    DocumentNotFound,
    EmbedderMismatch,
    InvalidDocument,
    InvalidDocumentId,
    InvalidName,
    QuarryError,
    StorageError,
)
from models import ModelLoadError
from service.api.compat.errors import compat_error
from service.facade import TooLarge
from service.jobs.archives import ArchiveError, ArchiveTooLarge, UnsafeArchiveMember
from indexer.filters import InvalidFilter
from service.jobs.manager import InvalidJobPath, JobFinished, JobNotFound, JobPathNotFound, JobsDisabled, PathNotAllowed
from service.search.options import InvalidQuery, LimitExceeded, SearchCancelled, TooManyQueries

log = logging.getLogger("quarry.api")


class ApiError(Exception):
    """An error raised by the API layer itself (limits, bad combinations of fields)."""

    def __init__(
        self, status: int, type_: str, message: str, param: str | None = None, headers: dict[str, str] | None = None
    ):
        super().__init__(message)
        self.status = status
        self.type = type_
        self.message = message
        self.param = param  # the request field at fault, when there is one
        self.headers = headers  # e.g. WWW-Authenticate on 401, Retry-After on 429


def payload_too_large(message: str) -> ApiError:
    return ApiError(413, "payload_too_large", message)


# most specific first: the first matching class decides
STATUS_BY_EXCEPTION: list[tuple[type[Exception], int, str]] = [
    (CollectionNotFound, 404, "collection_not_found"),
    (DocumentNotFound, 404, "document_not_found"),
    (CollectionExists, 409, "collection_exists"),
    (EmbedderMismatch, 409, "embedder_mismatch"),
    (CollectionBusy, 409, "collection_busy"),
    (StorageError, 503, "storage_unavailable"),
    (InvalidName, 422, "invalid_name"),
    (InvalidDocumentId, 422, "invalid_document_id"),
    (InvalidDocument, 422, "invalid_document"),
    (SnapshotError, 422, "invalid_snapshot"),
    (InvalidFilter, 422, "invalid_filter"),
    (TooLarge, 413, "payload_too_large"),  # QUARRY_MAX_BATCH_DOCUMENTS, QUARRY_MAX_DOCUMENT_CHARS
    (LimitExceeded, 422, "invalid_request"),  # a configured limit (QUARRY_MAX_QUERY_CHARS, _TOP_K, _CANDIDATES)
    (TooManyQueries, 413, "payload_too_large"),
    (SearchCancelled, 499, "client_closed_request"),  # nobody reads it: the client is gone
    (InvalidQuery, 422, "invalid_query"),
    (ModelLoadError, 503, "model_unavailable"),
    (JobNotFound, 404, "job_not_found"),
    (JobFinished, 409, "job_finished"),
    (JobsDisabled, 403, "jobs_disabled"),
    (PathNotAllowed, 403, "path_not_allowed"),
    (JobPathNotFound, 422, "path_not_found"),
    (InvalidJobPath, 422, "invalid_path"),
    (ArchiveTooLarge, 413, "payload_too_large"),
    (UnsafeArchiveMember, 422, "unsafe_archive_member"),
    (ArchiveError, 422, "invalid_archive"),
    (QuarryError, 500, "collection_error"),
]

_HTTP_TYPES = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large", 400: "bad_request"}


def error_response(
    status: int,
    type_: str,
    message: str,
    details: list | None = None,
    path: str = "",
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """The error body for a request to `path`, in the shape its clients expect."""
    borrowed = compat_error(status, type_, message, details, path, headers)
    if borrowed is not None:
        return borrowed
    body: dict = {"type": type_, "message": message}
    if details:
        body["details"] = details
    return JSONResponse({"error": body}, status_code=status, headers=headers)


def _library_error(request: Request, exc: Exception) -> JSONResponse:
    for cls, status, type_ in STATUS_BY_EXCEPTION:
        if isinstance(exc, cls):
            if status >= 500:
                log.error("%s %s failed: %s", request.method, request.url.path, exc)
            field = getattr(exc, "field", None)
            details = [{"field": field, "message": str(exc)}] if field else None
            return error_response(status, type_, str(exc), details, path=request.url.path)
    return _unexpected(request, exc)


def _api_error(request: Request, exc: ApiError) -> JSONResponse:
    details = [{"field": exc.param, "message": exc.message}] if exc.param else None
    return error_response(exc.status, exc.type, exc.message, details, path=request.url.path, headers=exc.headers)


def _where(loc: tuple) -> str:
    parts = [str(p) for p in loc if p != "body"]
    return ".".join(parts) or "body"


def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    details = []
    for err in exc.errors():
        message = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
        details.append({"field": _where(tuple(err.get("loc", ()))), "message": message})
    summary = "; ".join(f"{d['field']}: {d['message']}" for d in details) or "invalid request"
    message = f"{summary} (see /docs for the request schema)"
    return error_response(422, "invalid_request", message, details, path=request.url.path)


def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    message = str(exc.detail)
    if exc.status_code == 404 and message == "Not Found":
        message = f"no route {request.method} {request.url.path}; see /docs for the endpoints"
    elif exc.status_code == 405:
        message = f"method {request.method} is not allowed on {request.url.path}; see /docs"
    elif exc.status_code == 400 and "parsing the body" in message:
        message = "the request body is not valid JSON; send Content-Type: application/json with a JSON object"
    return error_response(exc.status_code, _HTTP_TYPES.get(exc.status_code, "http_error"), message, path=request.url.path)


_DAMAGED = ("malformed", "not a database", "disk i/o error")


def _database_error(request: Request, exc: sqlite3.DatabaseError) -> JSONResponse:
    """A damaged database file is the operator's to fix, not a bug: 503 with what to run."""
    if not any(word in str(exc).lower() for word in _DAMAGED):
        return _unexpected(request, exc)
    name = request.path_params.get("name") or request.path_params.get("collection")
    target = f" -c {name}" if name else ""
    log.error("%s %s: database damaged: %s", request.method, request.url.path, exc)
    message = f"the collection's database is damaged ({exc}); the operator should run `quarry check{target}`"
    return error_response(503, "collection_damaged", message, path=request.url.path)


def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("%s %s failed", request.method, request.url.path, exc_info=exc)
    message = "internal server error; the server log has the details"
    return error_response(500, "internal_error", message, path=request.url.path)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    for cls, _, _ in STATUS_BY_EXCEPTION:
        app.add_exception_handler(cls, _library_error)
    app.add_exception_handler(sqlite3.DatabaseError, _database_error)
    app.add_exception_handler(Exception, _unexpected)
