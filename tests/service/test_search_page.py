"""The search page at "/", driven in a real headless Chromium against a real uvicorn server and MiniLM.

Needs Debian's chromium (apt-get install chromium; .ci/run installs it) and the playwright package (dev extra).
Missing either is a failure that says how to fix it, never a skip. TEST_SCREENSHOT_DIR (not QUARRY_*: conftest clears those): also save the
screenshot there for a person to look at.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.corpus_factory import write_mixed_corpus

pytestmark = pytest.mark.browser

CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


def chromium_path() -> str:
    found = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.fail("chromium not found: install it (apt-get install -y chromium) or set CHROMIUM_PATH to its path")
    return found


def sync_playwright():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("the playwright package is missing: pip install -e '.[dev]' (do not run `playwright install`)")
    return sync_playwright


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory, minilm):
    """A real uvicorn on 127.0.0.1 with a small corpus indexed by MiniLM; stopped (bounded) after the test."""
    import uvicorn

    from models import DEFAULT_EMBEDDER
    from service.api import create_app
    from service.runtime import Runtime
    from service.settings import load_settings

    tmp_path = tmp_path_factory.mktemp("page")
    corpus = write_mixed_corpus(tmp_path / "corpus")
    (corpus / "lighthouse.txt").write_text(LIGHTHOUSE)  # one long paragraph: chunks that overlap their neighbours
    (corpus / "markup.txt").write_text('Tire <b>pressure</b> notes <img src=x onerror="window.pwned=1"> for a road bike.\n')
    settings = load_settings(data_dir=tmp_path / "data", embedder=DEFAULT_EMBEDDER, reranker="none", device="cpu")
    runtime = Runtime(settings)
    runtime.indexer(runtime.create_collection("docs")).index_paths([corpus], progress=False)
    runtime.close()
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("uvicorn did not start within 30 s")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=15)


LIGHTHOUSE = " ".join(
    f"Entry {n}: the lighthouse keeper trimmed the lamp wick, polished the lens and wrote the weather in the log;"
    " the keeper doesn't sleep while the lamp burns."
    for n in range(1, 25)
) + " The last entry says the relief boat came at dawn.\n"


def offline(page) -> list[str]:
    """Cut the page off from everything but 127.0.0.1; returns the list of what it tried to fetch elsewhere."""
    blocked: list[str] = []

    def route(r):
        if urlsplit(r.request.url).hostname == "127.0.0.1":
            r.continue_()
        else:
            blocked.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    return blocked


@contextmanager
def offline_page():
    """A page in headless Chromium that can reach only 127.0.0.1; yields it and the list of what it tried elsewhere."""
    with sync_playwright()() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS, headless=True, timeout=20_000)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            page.set_default_timeout(15_000)
            yield page, offline(page)
        finally:
            browser.close()


def test_api_docs_load_with_the_network_cut_off(server):
    with offline_page() as (page, blocked):
        page.goto(server + "/docs")
        page.wait_for_selector(".opblock")
        paths = page.locator(".opblock-summary-path").all_inner_texts()
        assert any("/v1/collections/{name}/search" in path.replace("\u200b", "") for path in paths)
        assert any("/v1/rerank" in path.replace("\u200b", "") for path in paths)
        page.goto(server + "/redoc")
        page.wait_for_selector("li[data-item-id]")  # ReDoc's menu: one entry per tag and operation
        assert "postRerank" in page.locator("li[data-item-id]").all_inner_texts()
        assert blocked == []


def test_search_page_finds_highlights_and_sends_the_key(server, tmp_path):
    executable = chromium_path()
    with sync_playwright()() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True, timeout=20_000)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            page.set_default_timeout(15_000)
            sent: list[dict] = []
            page.on("request", lambda r: sent.append({"url": r.url, "auth": r.headers.get("authorization")}))
            page.goto(server + "/")
            page.wait_for_selector("#collection option[value=docs]", state="attached")
            page.fill("#api-key", "test-key-123")
            page.dispatch_event("#api-key", "change")
            assert page.evaluate("localStorage.getItem('quarry.apiKey')") == "test-key-123"
            page.fill("#query", "how do I repair a punctured bicycle tire")
            page.press("#query", "Enter")
            page.wait_for_selector("#results li.hit")

            first = page.locator("#results li.hit").first
            assert first.get_attribute("data-doc-id") == "corpus/bikes.html"
            assert "Fixing a flat tire" in first.locator(".title").inner_text()
            marks = [m.lower() for m in first.locator("mark").all_inner_texts()]
            assert "tire" in marks and "bicycle" in marks
            # short words mark whole words only: "do" must not light up "sourdough" or "window"
            assert page.locator("#results li.hit[data-doc-id='corpus/bread.md'] mark").count() == 0
            status = page.inner_text("#status")
            assert "hybrid" in status and "total" in status and "ms" in status and "not reranked" in status
            assert first.locator(".score").inner_text().startswith("score ")

            # document text is shown as text, never run as HTML
            markup = page.locator("#results li.hit[data-doc-id='corpus/markup.txt']")
            assert markup.count() == 1
            assert "<b>pressure</b>" in markup.locator(".text").inner_text()
            assert markup.locator("mark").all_inner_texts() == ["Tire"]
            assert markup.locator(".text b, .text img").count() == 0
            assert page.evaluate("window.pwned === undefined")

            search_calls = [r for r in sent if r["url"].endswith("/v1/collections/docs/search")]
            assert search_calls and search_calls[-1]["auth"] == "Bearer test-key-123"

            shot = tmp_path / "search-page.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 10_000
            if os.environ.get("TEST_SCREENSHOT_DIR"):
                target = Path(os.environ["TEST_SCREENSHOT_DIR"])
                target.mkdir(parents=True, exist_ok=True)
                shutil.copy(shot, target / "search-page.png")
        finally:
            browser.close()


def test_search_page_url_grouping_document_view_and_keyboard(server):
    with offline_page() as (page, blocked):
        page.goto(server + "/?q=does+the+lighthouse+keeper+sleep&collection=docs&mode=lexical")  # a shared link
        page.wait_for_selector("#results li.hit")
        assert page.input_value("#query") == "does the lighthouse keeper sleep" and page.input_value("#mode") == "lexical"
        assert "lexical" in page.inner_text("#status") and "not reranked" in page.inner_text("#status")
        assert page.is_disabled("#rerank") and not page.is_checked("#rerank")  # no cross-encoder here

        # neighbouring chunks of one document are one result, their overlap shown once
        lighthouse = page.locator("#results li.hit[data-doc-id='corpus/lighthouse.txt']")
        assert lighthouse.count() == 1 and lighthouse.locator(".text").count() == 1
        text = lighthouse.locator(".text").inner_text()
        assert text.count("Entry 3:") == 1 and text.count("Entry 4:") == 1
        # whole query words are marked; stop words and words inside others ("does" in "doesn't") are not
        marks = {m.lower() for m in lighthouse.locator("mark").all_inner_texts()}
        assert marks == {"lighthouse", "keeper", "sleep"}

        # a new search goes into the URL; Back brings the first one again
        page.keyboard.press("/")
        assert page.evaluate("document.activeElement.id") == "query"
        page.fill("#query", "sourdough starter")
        page.press("#query", "Enter")
        page.wait_for_selector("#results li.hit[data-doc-id='corpus/bread.md']")
        assert "q=sourdough+starter" in page.url and "collection=docs" in page.url and "mode=lexical" in page.url
        page.go_back()
        page.wait_for_selector("#results li.hit[data-doc-id='corpus/lighthouse.txt']")
        assert page.input_value("#query") == "does the lighthouse keeper sleep"

        # keyboard: leave the box, j to the first hit, Enter opens the passage in its context, Esc closes
        page.locator("#query").focus()
        page.keyboard.press("Escape")
        page.keyboard.press("j")
        assert page.evaluate("document.activeElement.dataset.docId") == "corpus/lighthouse.txt"
        page.keyboard.press("Enter")
        page.wait_for_selector("#viewer[open] mark.passage")
        body = page.inner_text("#viewer-body")
        assert "lighthouse keeper" in body and not body.lstrip().startswith("{")  # text, not JSON
        assert page.inner_text("#viewer-title") == "lighthouse"
        page.keyboard.press("Escape")
        page.wait_for_selector("#viewer", state="hidden")
        assert page.evaluate("document.activeElement.dataset.docId") == "corpus/lighthouse.txt"
        assert blocked == []
