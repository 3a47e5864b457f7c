"""The FastAPI app factory. Models and collections are opened once, in the lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from anyio import to_thread
from fastapi import FastAPI
from starlette.routing import Route

from service.api.auth import AccessControl
from service.api.errors import install_error_handlers
from service.api.limits import BodySizeLimit
from service.api.routes.jobs import ARCHIVE_ROUTE
from service.api.operations import install_operations
from service.api.routes import ROUTERS
from service.api.schemas import ErrorResponse
from service.api.state import ApiState
from service.settings import Settings, load_settings

DESCRIPTION = """Hybrid document search (dense vectors + BM25, reranked by a cross-encoder).

Every error is `{"error": {"type", "message"}}` with a message that says what to fix.

When the server has API keys configured, send one as `Authorization: Bearer <key>` or `X-API-Key: <key>`.
Scopes: `read` (search, get), `write` (+ upsert, delete documents), `admin` (+ create/delete collections)."""

# Every status an endpoint may answer with, declared once so the OpenAPI schema is complete (the fuzz test checks it).
ERROR_RESPONSES: dict[int | str, dict] = {
    400: {"model": ErrorResponse, "description": "the body is not valid JSON"},
    401: {"model": ErrorResponse, "description": "no API key, or an unknown one (keys configured)"},
    403: {"model": ErrorResponse, "description": "the API key's scope or collections do not allow this"},
    404: {"model": ErrorResponse, "description": "unknown collection or document"},
    409: {"model": ErrorResponse, "description": "collection exists, or was built with another embedder"},
    413: {"model": ErrorResponse, "description": "body, document or batch too large"},
    422: {"model": ErrorResponse, "description": "invalid fields"},
    429: {"model": ErrorResponse, "description": "rate limit hit; retry after Retry-After seconds"},
    500: {"model": ErrorResponse, "description": "unexpected server error (the server log has details)"},
    503: {"model": ErrorResponse, "description": "a model could not be used"},
}


def create_app(settings: Settings | None = None) -> FastAPI:
    """Settings are read and checked now (fail fast); models load when the app starts (lifespan)."""
    settings = settings or load_settings()
    mcp = None
    if settings.mcp_enabled:
        from service.mcp.server import QuarryMCP

        mcp = QuarryMCP(lambda: app.state.quarry)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = await to_thread.run_sync(ApiState, settings)  # model loading must not block the event loop
        app.state.quarry = state
        try:
            if mcp is None:
                yield
            else:
                async with mcp.http_lifespan():
                    yield
        finally:
            await to_thread.run_sync(state.close)

    app = FastAPI(
        title="quarry",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        responses=ERROR_RESPONSES,
        docs_url=None,  # served by routes.docs with local assets: FastAPI's own pages load them from a CDN
        redoc_url=None,
    )
    app.state.access = AccessControl(settings)
    app.add_middleware(
        BodySizeLimit,
        max_bytes=settings.max_body_bytes,
        streamed={ARCHIVE_ROUTE: (settings.max_upload_bytes, "QUARRY_MAX_UPLOAD_BYTES")},
    )
    install_error_handlers(app)
    install_operations(app, settings)  # request ids, access logs, metrics, the job runner
    for router in ROUTERS:
        app.include_router(router)
    if mcp is not None:  # a plain route (not a mount): clients POST to /mcp, with no redirect to /mcp/
        app.router.routes.append(Route("/mcp", endpoint=mcp.http_app(), include_in_schema=False))
    return app
