"""Every way in to a search (the search and batch routes, context, OpenAI vector-store search, the MCP search
tool, `quarry search` and `quarry eval`) goes through one Searcher: the same configured limits refuse the same
over-long query everywhere, and every API entrance records the same per-stage search metrics."""

import json
import re
from types import SimpleNamespace

import anyio
import mcp_types as types
import pytest

from service.mcp.server import LOCAL_USER, QuarryMCP
from tests.cli_runner import run
from tests.service.test_eval_cli import tiny_dataset

LONG = "bicycle tyre puncture"  # 21 characters: one over the limit below
SHORT = "bicycle tyre"
NEEDLE = "QUARRY_MAX_QUERY_CHARS"


@pytest.fixture
def limited_env(settings_env, monkeypatch):
    monkeypatch.setenv("QUARRY_MAX_QUERY_CHARS", "20")
    monkeypatch.setenv("QUARRY_MAX_TOP_K", "5")
    return settings_env


@pytest.fixture
def client(limited_env, make_client):
    with make_client(collections=["kb"]) as client:  # the limits come from limited_env, as the CLI's do
        body = {"documents": [{"doc_id": "d1", "text": "Fix a bicycle tyre puncture with a patch kit."}]}
        assert client.post("/v1/collections/kb/documents", json=body).status_code == 200
        yield client


def _mcp_search(client, query: str, collection: str = "kb") -> types.CallToolResult:
    server = QuarryMCP(lambda: client.app.state.quarry, local=LOCAL_USER)
    params = types.CallToolRequestParams(name="search", arguments={"query": query, "collection": collection, "top_k": 5})
    return anyio.run(server._call_tool, SimpleNamespace(request=None), params)


def _searches_observed(client) -> int:
    text = client.get("/metrics").text
    match = re.search(r'^quarry_search_stage_duration_seconds_count\{stage="total"\} (\S+)$', text, re.M)
    return int(float(match.group(1))) if match else 0


# (name, call with a query -> (refused?, message))
def _route(path, body):
    def call(client, query):
        response = client.post(path, json=body(query))
        text = response.text
        return response.status_code >= 400, text, response.status_code
    return call


ENTRANCES = {
    "search": _route("/v1/collections/kb/search", lambda q: {"query": q, "top_k": 5}),
    "batch": _route("/v1/collections/kb/search/batch", lambda q: {"queries": [SHORT, q], "top_k": 5}),
    "context": _route("/v1/collections/kb/context", lambda q: {"query": q, "top_k": 5}),
    "vector_store": _route("/v1/vector_stores/kb/search", lambda q: {"query": q, "max_num_results": 5}),
    "vector_store_many": _route("/v1/vector_stores/kb/search", lambda q: {"query": [SHORT, q], "max_num_results": 5}),
}


@pytest.mark.parametrize("name", list(ENTRANCES))
def test_every_route_refuses_a_query_over_the_limit_and_records_metrics(client, name):
    call = ENTRANCES[name]
    before = _searches_observed(client)
    refused, text, status = call(client, LONG)
    assert refused and NEEDLE in text, (name, status, text)
    assert status == (400 if name.startswith("vector_store") else 422)  # OpenAI's shape answers bad fields with 400
    assert _searches_observed(client) == before  # nothing was searched
    refused, text, status = call(client, SHORT)
    assert not refused and status == 200, (name, status, text)
    assert _searches_observed(client) > before, name  # the same stage metrics at every entrance


def test_top_k_limit_holds_at_the_context_and_vector_store_routes_too(client):
    for path, body in (
        ("/v1/collections/kb/search", {"query": SHORT, "top_k": 6}),
        ("/v1/collections/kb/context", {"query": SHORT, "top_k": 6}),
        ("/v1/vector_stores/kb/search", {"query": SHORT, "max_num_results": 6}),
    ):
        response = client.post(path, json=body)
        assert response.status_code in (400, 422) and "QUARRY_MAX_TOP_K" in response.text, (path, response.text)


def test_mcp_search_tool_refuses_a_query_over_the_limit_and_records_metrics(client):
    before = _searches_observed(client)
    refused = _mcp_search(client, LONG)
    assert refused.is_error and NEEDLE in refused.content[0].text
    assert _searches_observed(client) == before
    answered = _mcp_search(client, SHORT)
    assert not answered.is_error and answered.structured_content["hits"], answered.content[0].text
    assert _searches_observed(client) > before


def test_cli_search_refuses_a_query_over_the_limit(limited_env, tmp_path, capsys):
    doc = tmp_path / "docs" / "tyre.txt"
    doc.parent.mkdir()
    doc.write_text("Fix a bicycle tyre puncture with a patch kit.\n")
    assert run(capsys, "index", str(doc.parent), "--collection", "kb", "--no-progress")[0] == 0
    code, out, err = run(capsys, "search", LONG, "--collection", "kb")
    assert code == 1 and NEEDLE in err and out == ""
    code, out, err = run(capsys, "search", LONG[:20], "--collection", "kb", "--json")
    assert code == 0, err
    assert json.loads(out)["hits"]


def test_eval_refuses_a_dataset_query_over_the_limit(limited_env, tmp_path, monkeypatch, capsys):
    root = tiny_dataset(tmp_path / "tiny")
    monkeypatch.setenv("QUARRY_MAX_QUERY_CHARS", "10")  # the tiny dataset's queries are 13 to 15 characters
    code, out, err = run(capsys, "eval", str(root), "--json", "--no-rerank")
    assert code == 1 and NEEDLE in err and out == ""
    monkeypatch.setenv("QUARRY_MAX_QUERY_CHARS", "20")
    monkeypatch.delenv("QUARRY_MAX_TOP_K")  # eval ranks 100 deep for recall@100
    code, out, err = run(capsys, "eval", str(root), "--json", "--no-rerank")
    assert code == 0, err
    assert json.loads(out)["queries"] == 6
