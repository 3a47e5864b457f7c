"""/docs (Swagger UI) and /redoc with their scripts served from here, not a CDN: a self-hosted service on a
network without internet must still show its own API documentation.

The assets come from the fastapi-offline package (MIT; it ships the swagger-ui and ReDoc dist files); only
its static folder is used. Every URL is relative to the app's root path, so a path prefix behind a proxy works.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from fastapi import APIRouter, HTTPException, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse, Response

router = APIRouter(include_in_schema=False)
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "redoc.standalone.js": "text/javascript; charset=utf-8",
    "favicon.png": "image/png",
}
STATIC = "/docs/static"
# The pages may load only what this server serves: ReDoc's footer logo (an image on its vendor's CDN) is
# blocked rather than fetched. Inline scripts and styles are how FastAPI's page templates start the viewers.
OFFLINE_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'"
)


def _offline(page: HTMLResponse) -> HTMLResponse:
    page.headers["Content-Security-Policy"] = OFFLINE_CSP
    return page


@cache
def asset(name: str) -> bytes:
    try:
        folder = resources.files("fastapi_offline").joinpath("static")
    except ModuleNotFoundError:  # a broken install; the pip command is the fix
        raise HTTPException(404, "API docs assets missing: pip install fastapi-offline") from None
    return folder.joinpath(name).read_bytes()


def _root(request: Request) -> str:
    return request.scope.get("root_path", "").rstrip("/")


@router.get(STATIC + "/{name}")
def docs_asset(name: str) -> Response:
    if name not in ASSETS:
        raise HTTPException(404, f"no docs asset {name!r}")
    return Response(asset(name), media_type=ASSETS[name], headers={"Cache-Control": "public, max-age=86400"})


@router.get("/docs")
def swagger_ui(request: Request) -> HTMLResponse:
    root = _root(request)
    return _offline(get_swagger_ui_html(
        openapi_url=root + request.app.openapi_url,
        title=request.app.title + " - API docs",
        oauth2_redirect_url=root + "/docs/oauth2-redirect",
        swagger_js_url=root + STATIC + "/swagger-ui-bundle.js",
        swagger_css_url=root + STATIC + "/swagger-ui.css",
        swagger_favicon_url=root + STATIC + "/favicon.png",
    ))


@router.get("/docs/oauth2-redirect")
def swagger_ui_redirect() -> HTMLResponse:
    return get_swagger_ui_oauth2_redirect_html()


@router.get("/redoc")
def redoc(request: Request) -> HTMLResponse:
    root = _root(request)
    return _offline(get_redoc_html(
        openapi_url=root + request.app.openapi_url,
        title=request.app.title + " - API reference",
        redoc_js_url=root + STATIC + "/redoc.standalone.js",
        redoc_favicon_url=root + STATIC + "/favicon.png",
        with_google_fonts=False,
    ))
