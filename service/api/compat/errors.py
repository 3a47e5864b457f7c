"""Error bodies in the borrowed formats' shapes, so clients' SDKs parse them into their own exceptions.

OpenAI: {"error": {"message", "type", "param", "code"}}, invalid fields as 400 (not 422).
Cohere: {"message"}, invalid fields as 400. service.api.errors asks here first, by request path.
"""

from __future__ import annotations

from fastapi.responses import JSONResponse

OPENAI_PREFIXES = ("/v1/embeddings", "/v1/vector_stores", "/v1/models")
COHERE_PREFIXES = ("/v1/rerank",)


def _under(path: str, prefixes: tuple[str, ...]) -> bool:
    return any(path == p or path.startswith(p + "/") for p in prefixes)


def compat_error(
    status: int, type_: str, message: str, details: list | None, path: str, headers: dict[str, str] | None = None
) -> JSONResponse | None:
    """The error in the shape of the format `path` speaks, or None for quarry's own routes."""
    if _under(path, OPENAI_PREFIXES):
        return _openai_error(status, type_, message, details, headers)
    if _under(path, COHERE_PREFIXES):
        return JSONResponse({"message": message}, status_code=400 if status == 422 else status, headers=headers)
    return None


def _openai_error(
    status: int, type_: str, message: str, details: list | None, headers: dict[str, str] | None = None
) -> JSONResponse:
    status = 400 if status == 422 else status  # OpenAI answers invalid fields with 400
    if status >= 500:
        kind, code = "server_error", None if type_ == "internal_error" else type_
    else:
        kind, code = "invalid_request_error", type_
    if status == 401:
        code = "invalid_api_key"
    param = details[0]["field"] if details and details[0].get("field") not in (None, "body") else None
    body = {"message": message, "type": kind, "param": param, "code": code}
    return JSONResponse({"error": body}, status_code=status, headers=headers)
