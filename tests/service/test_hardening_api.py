"""Issue 14 through the real app: poisoned input is a 422 naming the field, a key learns only what it may,
and filtered searches keep working whatever was sent."""

import json
import unicodedata

import pytest
from fastapi.testclient import TestClient

from service.api import create_app

ADMIN, READER, DOCS_ONLY, SCRAPER = "admin-key-0123456789", "read-key-0123456789", "docs-key-0123456789", "metrics-key-0123456789"
KEYS = [
    {"key": ADMIN, "scope": "admin"},
    {"key": READER, "scope": "read"},
    {"key": DOCS_ONLY, "scope": "write", "collections": ["docs"]},
    {"key": SCRAPER, "scope": "metrics"},
]
JSON = {"content-type": "application/json"}


def bearer(key):
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def client(settings_env):
    with TestClient(create_app(), raise_server_exceptions=False) as client:
        assert client.post("/v1/collections", json={"name": "kb"}).status_code == 201
        assert client.put("/v1/collections/kb/documents/a", json={"text": "bread and butter", "metadata": {"year": 2020}}).status_code == 200
        yield client


def refused(response, field_phrase: str, status: int = 422):
    assert response.status_code == status, response.text
    assert field_phrase in response.text, response.text
    return response


FILTERED = [
    ("/v1/collections/kb/search", {"query": "bread", "filter": {"year": {"gte": 2000}}}),
    ("/v1/collections/kb/search", {"query": "bread", "mode": "dense", "filter": {"year": {"gte": 2000}}}),
    ("/v1/collections/kb/search", {"query": "bread", "mode": "lexical", "filter": {"year": {"gte": 2000}}}),
    ("/v1/collections/kb/context", {"query": "bread", "filter": {"year": {"gte": 2000}}, "score_threshold": 0}),
    ("/v1/vector_stores/kb/search", {"query": "bread", "filters": {"type": "gte", "key": "year", "value": 2000}}),
]


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "[1, NaN]", '{"deep": NaN}'])
def test_non_finite_metadata_is_refused_and_filtered_search_keeps_working(client, value):
    body = '{"text": "bread poison", "metadata": {"x": %s, "year": 2021}}' % value
    refused(client.put("/v1/collections/kb/documents/poison", content=body, headers=JSON), "metadata")
    batch = '{"documents": [{"doc_id": "p", "text": "bread", "metadata": {"x": %s}}]}' % value
    refused(client.post("/v1/collections/kb/documents", content=batch, headers=JSON), "not a finite number")
    for route, payload in FILTERED:
        assert client.post(route, json=payload).status_code == 200, route
    assert client.get("/v1/collections/kb/documents").status_code == 200


def test_metadata_nested_too_deep_or_too_large_is_refused(client):
    deep: dict = {}
    for _ in range(500):
        deep = {"a": deep}
    refused(client.put("/v1/collections/kb/documents/deep", json={"text": "bread", "metadata": deep}), "levels deep")
    refused(client.put("/v1/collections/kb/documents/big", json={"text": "bread", "metadata": {"b": "x" * 70_000}}), "bytes as JSON")
    refused(client.put("/v1/collections/kb/documents/huge", json={"text": "bread", "metadata": {"n": 2**70}}), "64 bits")
    assert client.get("/v1/collections/kb/documents").status_code == 200
    assert client.post("/v1/collections/kb/search", json={"query": "bread"}).status_code == 200


@pytest.mark.parametrize(
    "route, body, field",
    [
        ("/v1/collections/kb/documents/s", '{"text": "a\\ud800b"}', "text"),
        ("/v1/collections/kb/documents/s", '{"text": "ok", "title": "\\udfff"}', "title"),
        ("/v1/collections/kb/documents/s", '{"text": "ok", "metadata": {"k": "\\udc00"}}', "metadata.k"),
        ("/v1/collections/kb/search", '{"query": "bread", "filter": {"k": "\\ud800"}}', "filter.k"),
        ("/v1/collections/kb/search", '{"query": "bre\\ud800ad"}', "query"),
        ("/v1/embeddings", '{"model": "m", "input": ["ok", "\\ud800"]}', "input.1"),
        ("/v1/collections/kb/search/batch", '{"queries": ["ok", "\\udbff"]}', "queries.1"),
    ],
)
def test_lone_surrogates_are_a_422_naming_the_field(client, route, body, field):
    method = client.put if "/documents/" in route else client.post
    response = method(route, content=body, headers=JSON)
    assert response.status_code in (400, 422), response.text  # the OpenAI route answers 400, in its own shape
    assert field in response.text and "surrogate" in response.text
    ok = method(route, content=body.replace("\\ud83d", "").replace("\\ud800", "\\ud83d\\ude00"), headers=JSON)
    assert ok.status_code < 500


@pytest.mark.parametrize("value", [2**63, -(2**63) - 1, 10**30])
def test_integers_beyond_64_bits_in_filters_are_a_422(client, value):
    for spec in ({"year": value}, {"year": {"gte": value}}, {"year": {"in": [1, value]}}):
        refused(client.post("/v1/collections/kb/search", json={"query": "bread", "filter": spec}), "64 bits")
    body = {"query": "bread", "filters": {"type": "eq", "key": "year", "value": value}}
    refused(client.post("/v1/vector_stores/kb/search", json=body), "64 bits", status=400)
    nan = '{"query": "bread", "filter": {"year": {"gte": NaN}}}'
    refused(client.post("/v1/collections/kb/search", content=nan, headers=JSON), "not a finite number")


def test_a_trailing_newline_is_not_a_valid_collection_name(client, settings_env):
    for name in ("evil\n", "evil\r\n"):
        refused(client.post("/v1/collections", json={"name": name}), "invalid collection name")
    assert not any("\n" in p.name for p in (settings_env / "collections").iterdir())


def test_nfc_and_nfd_ids_are_one_document(client):
    nfc, nfd = unicodedata.normalize("NFC", "crème.md"), unicodedata.normalize("NFD", "crème.md")
    assert client.put(f"/v1/collections/kb/documents/{nfc}", json={"text": "bread one"}).json()["status"] == "added"
    assert client.put(f"/v1/collections/kb/documents/{nfd}", json={"text": "bread two"}).json()["status"] == "updated"
    assert client.get(f"/v1/collections/kb/documents/{nfd}").json()["text"] == "bread two"
    assert client.get("/v1/collections/kb").json()["documents"] == 2


def test_mcp_add_document_refuses_non_finite_metadata(client):
    from service.mcp.server import LOCAL_USER, AddDocumentArgs, QuarryMCP

    mcp = QuarryMCP(lambda: client.app.state.quarry, local=LOCAL_USER)
    args = AddDocumentArgs(collection="kb", doc_id="m", text="bread", metadata={"ok": 1})
    args.metadata = {"x": float("nan")}  # past the schema, as a client's own model could send it
    with pytest.raises(Exception, match="not a finite number"):
        mcp._tool_add_document(LOCAL_USER, args)
    with pytest.raises(Exception, match="finite"):
        AddDocumentArgs.model_validate_json('{"collection": "kb", "doc_id": "m", "text": "t", "metadata": {"x": NaN}}')
    assert client.post("/v1/collections/kb/search", json={"query": "bread", "filter": {"year": 2020}}).status_code == 200


# keys ------------------------------------------------------------------------------------------
@pytest.fixture
def keyed(settings_env, monkeypatch):
    monkeypatch.setenv("QUARRY_API_KEYS", json.dumps(KEYS))
    with TestClient(create_app()) as client:
        for name in ("docs", "private-plans"):
            assert client.post("/v1/collections", json={"name": name}, headers=bearer(ADMIN)).status_code == 201
        yield client


def _collection_routes(client):
    for path, operations in client.get("/openapi.json").json()["paths"].items():
        if "{name}" in path or "{collection}" in path:
            for method in operations:
                filled = path.replace("{name}", "zzz").replace("{collection}", "zzz")
                yield method.upper(), filled.replace("{doc_id}", "d").replace("{job_id}", "j")


def test_no_route_tells_a_caller_without_access_which_collections_exist(keyed):
    routes = list(_collection_routes(keyed))
    assert ("POST", "/v1/collections/zzz/context") in routes and len(routes) > 10
    for method, path in routes:
        for headers, status in (({}, 401), (bearer(DOCS_ONLY), 403)):
            response = keyed.request(method, path, json={"query": "q"}, headers=headers)
            assert response.status_code == status, (method, path, response.text)
            assert "private-plans" not in response.text and "docs," not in response.text, (method, path)


def test_metrics_need_a_key_that_sees_every_collection_or_a_metrics_key(keyed):
    forbidden = keyed.get("/metrics", headers=bearer(DOCS_ONLY))
    assert forbidden.status_code == 403 and "private-plans" not in forbidden.text
    assert "scope 'metrics'" in forbidden.json()["error"]["message"]
    for key in (SCRAPER, READER, ADMIN):
        scraped = keyed.get("/metrics", headers=bearer(key))
        assert scraped.status_code == 200 and 'collection="private-plans"' in scraped.text
    # a metrics key opens nothing else
    assert keyed.post("/v1/collections/docs/search", json={"query": "q"}, headers=bearer(SCRAPER)).status_code == 403
    assert keyed.get("/v1/collections", headers=bearer(SCRAPER)).status_code == 403


# operations ------------------------------------------------------------------------------------
@pytest.mark.parametrize("path, phrase", [("/srv/a\x00b", "NUL"), ("~nosuchuser-i14/x", "nosuchuser"), ("/srv/" + "x" * 300, "300 bytes")])
def test_impossible_job_paths_are_a_422(settings_env, tmp_path, monkeypatch, path, phrase):
    monkeypatch.setenv("QUARRY_JOB_ROOTS", str(tmp_path))
    with TestClient(create_app(), raise_server_exceptions=False) as client:
        client.post("/v1/collections", json={"name": "kb"})
        response = client.post("/v1/collections/kb/jobs", json={"path": path})
        assert (response.status_code, response.json()["error"]["type"]) == (422, "invalid_path"), response.text
        assert phrase in response.json()["error"]["message"]


def test_serve_on_an_unwritable_data_dir_is_one_clear_line(settings_env, tmp_path, monkeypatch, capsys):
    from service.cli import main

    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")  # tests run as root, where chmod cannot make a folder unwritable
    monkeypatch.setattr("uvicorn.run", lambda *a, **k: pytest.fail("must not start"))
    assert main(["--data-dir", str(blocker / "data"), "serve"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is not writable by this user" in err[0] and "Traceback" not in err[0]


def test_a_corrupt_page_is_noticed_at_start_up(settings_env):
    with TestClient(create_app()) as client:
        client.post("/v1/collections", json={"name": "kb"})
        docs = [{"doc_id": f"d{i}", "text": f"bread flour number {i} " * 150, "metadata": {"n": i}} for i in range(60)]
        for i in range(0, 60, 20):
            assert client.post("/v1/collections/kb/documents", json={"documents": docs[i : i + 20]}).status_code == 200
        assert client.get("/health").json()["status"] == "ok"
    path = settings_env / "collections" / "kb" / "quarry.sqlite"
    import sqlite3

    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    data = bytearray(path.read_bytes())
    page = len(data) // 4096 // 2
    data[page * 4096 + 8 : page * 4096 + 4000] = bytes(range(256)) * 15 + bytes(range(152))  # one page overwritten
    path.write_bytes(bytes(data))
    with TestClient(create_app(), raise_server_exceptions=False) as client:
        health = client.get("/health").json()
        assert health["status"] == "degraded", health
        problem = health["problems"]["kb"]
        assert "quarry check -c kb" in problem or "not opened" in problem
        for i in range(21):
            response = client.post("/v1/collections/kb/search", json={"query": f"bread number {i}", "filter": {"n": {"gte": 0}}})
            assert response.status_code in (200, 503), response.text  # never a bare 500
