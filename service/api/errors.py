"""Every error the API returns, in one place and one shape: {"error": {"type", "message"}}.

Library exceptions map to HTTP statuses here; routes just let them rise. Messages say what was wrong
and how to fix it; no stack trace reaches a client (the server log keeps it for 500s).
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from indexer.errors import (
    CollectionExists,
    CollectionNotFound,
    DocumentNotFound,
    EmbedderMismatch,
    InvalidName,
    QuarryError,
)
from models import ModelLoadError
from service.filters import InvalidFilter
from service.search import InvalidQuery

log = logging.getLogger("quarry.api")


class ApiError(Exception):
    """An error raised by the API layer itself (limits, bad combinations of fields)."""

    def __init__(self, status: int, type_: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.type = type_
        self.message = message
        self.headers = headers  # e.g. WWW-Authenticate on 401, Retry-After on 429


def payload_too_large(message: str) -> ApiError:
    return ApiError(413, "payload_too_large", message)


# most specific first: the first matching class decides
STATUS_BY_EXCEPTION: list[tuple[type[Exception], int, str]] = [
    (CollectionNotFound, 404, "collection_not_found"),
    (DocumentNotFound, 404, "document_not_found"),
    (CollectionExists, 409, "collection_exists"),
    (EmbedderMismatch, 409, "embedder_mismatch"),
    (InvalidName, 422, "invalid_name"),
    (InvalidFilter, 422, "invalid_filter"),
    (InvalidQuery, 422, "invalid_query"),
    (ModelLoadError, 503, "model_unavailable"),
    (QuarryError, 500, "collection_error"),
]

_HTTP_TYPES = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large", 400: "bad_request"}


def error_response(
    status: int, type_: str, message: str, details: list | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    body: dict = {"type": type_, "message": message}
    if details:
        body["details"] = details
    return JSONResponse({"error": body}, status_code=status, headers=headers)


def _library_error(request: Request, exc: Exception) -> JSONResponse:
    for cls, status, type_ in STATUS_BY_EXCEPTION:
        if isinstance(exc, cls):
            if status >= 500:
                log.error("%s %s failed: %s", request.method, request.url.path, exc)
            return error_response(status, type_, str(exc))
    return _unexpected(request, exc)


def _api_error(request: Request, exc: ApiError) -> JSONResponse:
    return error_response(exc.status, exc.type, exc.message, headers=exc.headers)


def _where(loc: tuple) -> str:
    parts = [str(p) for p in loc if p != "body"]
    return ".".join(parts) or "body"


def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    details = []
    for err in exc.errors():
        message = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
        details.append({"field": _where(tuple(err.get("loc", ()))), "message": message})
    summary = "; ".join(f"{d['field']}: {d['message']}" for d in details) or "invalid request"
    return error_response(422, "invalid_request", f"{summary} (see /docs for the request schema)", details)


def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    message = str(exc.detail)
    if exc.status_code == 404 and message == "Not Found":
        message = f"no route {request.method} {request.url.path}; see /docs for the endpoints"
    elif exc.status_code == 405:
        message = f"method {request.method} is not allowed on {request.url.path}; see /docs"
    elif exc.status_code == 400 and "parsing the body" in message:
        message = "the request body is not valid JSON; send Content-Type: application/json with a JSON object"
    return error_response(exc.status_code, _HTTP_TYPES.get(exc.status_code, "http_error"), message)


def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("%s %s failed", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal_error", "internal server error; the server log has the details")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    for cls, _, _ in STATUS_BY_EXCEPTION:
        app.add_exception_handler(cls, _library_error)
    app.add_exception_handler(Exception, _unexpected)
