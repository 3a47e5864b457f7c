"""Configurable limits and input validation: nothing a client sends reaches a path outside the data dir."""

import pytest

from indexer.documents import MAX_DOC_ID_LENGTH


@pytest.fixture
def client(make_client):
    with make_client(collections=["kb"], max_query_chars=20, max_top_k=5, max_candidates=7) as client:
        yield client


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"query": "x" * 21}, "QUARRY_MAX_QUERY_CHARS"),
        ({"query": "x", "top_k": 6}, "QUARRY_MAX_TOP_K"),
        ({"query": "x", "candidates": 8}, "QUARRY_MAX_CANDIDATES"),
    ],
)
def test_configured_search_limits(client, body, needle):
    response = client.post("/v1/collections/kb/search", json=body)
    assert response.status_code == 422 and needle in response.json()["error"]["message"]
    batch = {"queries": [body["query"]], **{k: v for k, v in body.items() if k != "query"}}
    assert client.post("/v1/collections/kb/search/batch", json=batch).status_code == 422
    assert client.post("/v1/collections/kb/search", json={"query": "x" * 20, "top_k": 5, "candidates": 7}).status_code == 200


@pytest.mark.parametrize("doc_id", ["a\x00b", "line\nbreak", "x" * (MAX_DOC_ID_LENGTH + 1)])
def test_document_ids_are_validated(client, doc_id):
    from urllib.parse import quote

    response = client.put(f"/v1/collections/kb/documents/{quote(doc_id)}", json={"text": "hello"})
    assert response.status_code in (404, 422), response.text  # the router's own path pattern stops at a newline
    assert client.get("/v1/collections/kb/documents").json()["documents"] == []
    batch = client.post("/v1/collections/kb/documents", json={"documents": [{"doc_id": doc_id, "text": "hello"}]})
    assert batch.status_code == 422


@pytest.mark.parametrize("name", ["..", "...", "a..b", "%2E%2E", "..%2F..%2Fetc", "a%2Fb", "%00", "-x", ".hidden"])
def test_collection_names_cannot_escape_the_data_dir(client, settings_env, name):
    before = sorted(p.name for p in settings_env.parent.iterdir())
    for response in (
        client.post("/v1/collections", json={"name": name}),
        client.post("/v1/collections", json={"name": name.replace("%2F", "/").replace("%2E", ".")}),
        client.get(f"/v1/collections/{name}"),
        client.delete(f"/v1/collections/{name}"),
        client.post(f"/v1/collections/{name}/search", json={"query": "x"}),
    ):
        assert response.status_code in (404, 422), (name, response.status_code, response.text)
    assert sorted(p.name for p in settings_env.parent.iterdir()) == before
    assert sorted(p.name for p in (settings_env / "collections").iterdir()) == ["kb"]
