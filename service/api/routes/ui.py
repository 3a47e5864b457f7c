from functools import cache
from importlib import resources

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

router = APIRouter(tags=["ui"])


@cache
def page() -> str:
    """One static file shipped as package data: no build step, nothing fetched from elsewhere."""
    return resources.files("service.api").joinpath("static/index.html").read_text(encoding="utf-8")


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def search_page() -> HTMLResponse:
    return HTMLResponse(page())
