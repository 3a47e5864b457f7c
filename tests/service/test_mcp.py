"""MCP clients from the official SDK against quarry: streamable HTTP at /mcp of a running server
(both protocol eras), the in-process server, and `quarry mcp` over stdio."""

import os
import sys
from pathlib import Path

import anyio
import httpx
import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from service.api import auth
from service.mcp.server import LOCAL_USER, QuarryMCP
from tests.service.live_server import live_server, tiny_settings

REPO = Path(__file__).resolve().parents[2]
DOCS = {
    "bike": {"text": "To fix a flat tire, patch the inner tube.", "title": "Bike repair", "source": "guides/bike.md",
             "metadata": {"lang": "en"}},
    "stars": {"text": "Saturn has bright rings made of ice.", "title": "Planets", "metadata": {"lang": "de"}},
}  # fmt: skip
READ_TOOLS = {"search", "list_collections"}
ALL_TOOLS = READ_TOOLS | {"add_document", "delete_document"}


def _keys(request):
    """Test stand-in for API keys: X-API-Key names the scope; no key is refused."""
    key = request.headers.get("x-api-key")
    if key not in auth.SCOPES:
        raise auth.ApiError(401, "unauthorized", "send an API key")
    return auth.Principal(f"{key}-key", key)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("mcp") / "data"


@pytest.fixture(scope="module")
def server(data_dir, tiny_embedder_path):
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("service.mcp.server.authenticate", _keys)
        with live_server(tiny_settings(data_dir, tiny_embedder_path)) as url:
            with httpx.Client(base_url=url) as http:
                http.post("/v1/collections", json={"name": "kb"})
                for doc_id, body in DOCS.items():
                    assert http.put(f"/v1/collections/kb/documents/{doc_id}", json=body).status_code == 200
            yield url


def _session(url: str, key: str, mode: str = "auto"):
    async def run(work):
        async with httpx2.AsyncClient(headers={"X-API-Key": key}, timeout=30) as http:
            async with Client(streamable_http_client(f"{url}/mcp", http_client=http), mode=mode) as client:
                return await work(client)

    return run


async def _list_and_search(client):
    tools = {t.name: t for t in (await client.list_tools()).tools}
    result = await client.call_tool("search", {"query": "flat tire", "collection": "kb", "top_k": 2})
    return tools, result


@pytest.mark.parametrize("mode", ["auto", "legacy"])
def test_http_list_tools_and_search(server, mode):
    tools, result = anyio.run(_session(server, "read", mode), _list_and_search)
    assert set(tools) == READ_TOOLS  # a read key never sees the write tools
    assert tools["search"].input_schema["required"] == ["query", "collection"]
    assert not result.is_error
    hits = result.structured_content["hits"]
    assert {h["doc_id"] for h in hits} == set(DOCS) and [h["n"] for h in hits] == [1, 2]
    bike = next(h for h in hits if h["doc_id"] == "bike")
    assert (bike["title"], bike["source"], bike["start"], bike["end"]) == ("Bike repair", "guides/bike.md", 0, 41)
    assert "(doc_id bike, source guides/bike.md, chars 0-41" in result.content[0].text


def test_http_write_tools_only_for_write_keys(server):
    async def work(client):
        names = {t.name for t in (await client.list_tools()).tools}
        added = await client.call_tool("add_document", {"collection": "kb", "doc_id": "new", "text": "Comets have tails."})
        found = await client.call_tool("search", {"query": "comets tails", "collection": "kb", "top_k": 5})
        deleted = await client.call_tool("delete_document", {"collection": "kb", "doc_id": "new"})
        return names, added, found, deleted

    names, added, found, deleted = anyio.run(_session(server, "write"), work)
    assert names == ALL_TOOLS
    assert not added.is_error and added.structured_content["status"] == "added"
    assert "new" in {h["doc_id"] for h in found.structured_content["hits"]}
    assert not deleted.is_error

    async def sneaky(client):  # a read key calling a write tool it was never shown
        return await client.call_tool("add_document", {"collection": "kb", "doc_id": "x", "text": "y"})

    refused = anyio.run(_session(server, "read"), sneaky)
    assert refused.is_error and "forbidden" in refused.content[0].text


def test_http_errors(server):
    async def bad_calls(client):
        missing = await client.call_tool("search", {"query": "x", "collection": "nope"})
        invalid = await client.call_tool("search", {"query": "x"})
        return missing, invalid

    missing, invalid = anyio.run(_session(server, "read"), bad_calls)
    assert missing.is_error and "not found" in missing.content[0].text
    assert invalid.is_error and "collection" in invalid.content[0].text
    r = httpx.post(f"{server}/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, timeout=10)
    assert r.status_code == 401 and r.json()["error"]["type"] == "unauthorized"  # no key, no MCP


def test_in_process_server_runs_as_local_user(data_dir, server, tiny_embedder_path):
    from service.api.state import ApiState

    state = ApiState(tiny_settings(data_dir, tiny_embedder_path))
    try:
        async def work():
            async with Client(QuarryMCP(lambda: state, local=LOCAL_USER).server) as client:
                names = {t.name for t in (await client.list_tools()).tools}
                listed = await client.call_tool("list_collections", {})
                return names, listed

        names, listed = anyio.run(work)
    finally:
        state.close()
    assert names == ALL_TOOLS
    assert listed.structured_content["collections"][0]["name"] == "kb"


def test_quarry_mcp_over_stdio(data_dir, server, tiny_embedder_path):
    env = {**os.environ, "QUARRY_DATA_DIR": str(data_dir), "QUARRY_EMBEDDER": tiny_embedder_path,
           "QUARRY_RERANKER": "none", "QUARRY_DEVICE": "cpu", "PYTHONPATH": str(REPO)}  # fmt: skip
    params = StdioServerParameters(command=sys.executable, args=["-m", "service.cli", "mcp"], env=env, cwd=str(REPO))

    async def work():
        with anyio.fail_after(120):
            async with Client(params) as client:
                names = {t.name for t in (await client.list_tools()).tools}
                result = await client.call_tool("search", {"query": "saturn rings", "collection": "kb"})
                return names, result

    names, result = anyio.run(work)
    assert names == ALL_TOOLS
    assert not result.is_error and {h["doc_id"] for h in result.structured_content["hits"]} == set(DOCS)
