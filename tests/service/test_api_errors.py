"""Every error is {"error": {"type", "message"}} with the right status, and the server keeps serving."""

import pytest


@pytest.fixture
def client(make_client):
    limits = {"max_body_bytes": 4096, "max_document_chars": 500, "max_batch_documents": 3, "max_batch_queries": 2}
    with make_client(collections=["kb"], raise_server_exceptions=False, **limits) as client:
        client.put("/v1/collections/kb/documents/a", json={"text": "bread and butter", "metadata": {"year": 2020}})
        yield client


def error(response, status: int, type_: str, *phrases: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and body["error"]["type"] == type_, body
    message = body["error"]["message"]
    assert "Traceback" not in message
    for phrase in phrases:
        assert phrase in message, message
    return body["error"]


def test_404_unknown_collection_document_and_route(client):
    error(client.get("/v1/collections/nope"), 404, "collection_not_found", "'nope' not found", "kb")
    error(client.post("/v1/collections/nope/search", json={"query": "x"}), 404, "collection_not_found")
    error(client.put("/v1/collections/nope/documents/a", json={"text": "x"}), 404, "collection_not_found")
    error(client.delete("/v1/collections/nope"), 404, "collection_not_found")
    error(client.get("/v1/collections/kb/documents/missing/doc"), 404, "document_not_found", "'missing/doc'")
    error(client.delete("/v1/collections/kb/documents/missing"), 404, "document_not_found")
    error(client.get("/v2/whatever"), 404, "not_found", "/docs")
    error(client.patch("/v1/collections/kb"), 405, "method_not_allowed")


def test_409_collection_exists_and_embedder_mismatch(client, make_client):
    error(client.post("/v1/collections", json={"name": "kb"}), 409, "collection_exists", "already exists")
    other_embedder = make_client(embedder="sentence-transformers/all-MiniLM-L6-v2", max_body_bytes=4096)
    with other_embedder as other:  # same data dir, another embedder
        error(other.post("/v1/collections/kb/search", json={"query": "bread"}), 409, "embedder_mismatch", "QUARRY_EMBEDDER=")
        error(other.get("/v1/collections/kb"), 409, "embedder_mismatch")
        assert other.delete("/v1/collections/kb").status_code == 200  # how a mismatched collection is cleared


def test_413_body_document_and_batch_too_large(client):
    error(client.put("/v1/collections/kb/documents/big", json={"text": "x" * 5000}), 413, "payload_too_large", "QUARRY_MAX_BODY_BYTES")
    error(client.put("/v1/collections/kb/documents/big", json={"text": "word " * 120}), 413, "payload_too_large", "QUARRY_MAX_DOCUMENT_CHARS", "'big'")
    docs = [{"doc_id": str(i), "text": "tiny"} for i in range(4)]
    error(client.post("/v1/collections/kb/documents", json={"documents": docs}), 413, "payload_too_large", "QUARRY_MAX_BATCH_DOCUMENTS")
    error(client.post("/v1/collections/kb/search/batch", json={"queries": ["a", "b", "c"]}), 413, "payload_too_large", "QUARRY_MAX_BATCH_QUERIES")

    def chunked():  # no Content-Length: the streamed size is what counts
        for _ in range(10):
            yield b'{"text": "' + b"y" * 500
    response = client.put("/v1/collections/kb/documents/big", content=chunked(), headers={"content-type": "application/json"})
    error(response, 413, "payload_too_large", "over 4096 bytes")
    assert client.get("/v1/collections/kb").json()["documents"] == 1  # nothing was written


@pytest.mark.parametrize(
    ("body", "field", "phrase"),
    [
        ({"query": ""}, "query", "query is empty"),
        ({"query": "   "}, "query", "query is empty"),
        ({}, "query", "Field required"),
        ({"query": "x", "top_k": 0}, "top_k", "greater than or equal to 1"),
        ({"query": "x", "top_k": 5000}, "top_k", "less than or equal to 1000"),
        ({"query": "x", "candidates": 0}, "candidates", "greater than or equal to 1"),
        ({"query": "x", "mode": "fuzzy"}, "mode", "'hybrid', 'dense' or 'lexical'"),
        ({"query": "x", "filter": {"year": {"like": 3}}}, "filter", "unknown operator 'like'"),
        ({"query": "x", "filter": {"year": {"gte": "soon"}}}, "filter", "not a number or an ISO date"),
        ({"query": "x", "filter": {"bad name": 1}}, "filter", "invalid field name"),
        ({"query": "x", "filter": {"or": []}}, "filter", "non-empty list"),
        ({"query": "x", "filter": {"tag": {"in": "a"}}}, "filter", "non-empty list"),
        ({"query": "x", "topk": 3}, "topk", "Extra inputs are not permitted"),
    ],
)
def test_422_invalid_search_fields(client, body, field, phrase):
    err = error(client.post("/v1/collections/kb/search", json=body), 422, "invalid_request", phrase)
    assert err["details"][0]["field"] == field


def test_422_other_invalid_input(client):
    error(client.post("/v1/collections/kb/search/batch", json={"queries": ["ok", " "]}), 422, "invalid_request", "queries[1] is empty")
    error(client.put("/v1/collections/kb/documents/a", json={"text": "  "}), 422, "invalid_request", "text is empty")
    error(client.put("/v1/collections/kb/documents/a", json={"title": "no text"}), 422, "invalid_request", "text: Field required")
    error(client.post("/v1/collections", json={"name": "../evil"}), 422, "invalid_name", "invalid collection name")
    error(client.post("/v1/collections", json={"name": "c", "chunk_size": 64, "chunk_overlap": 40}), 422, "invalid_request", "overlap")
    bad_json = client.post("/v1/collections/kb/search", content=b"{not json", headers={"content-type": "application/json"})
    error(bad_json, 422, "invalid_request", "JSON")


def test_500_has_no_trace_and_the_server_keeps_serving(client, monkeypatch):
    from service.api.state import ApiState

    def boom(*args, **kwargs):
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(ApiState, "search", boom)
    err = error(client.post("/v1/collections/kb/search", json={"query": "bread"}), 500, "internal_error", "server log")
    assert "secret" not in err["message"]
    monkeypatch.undo()
    assert client.get("/health").status_code == 200


def test_storage_and_lock_errors_map_to_clear_statuses(make_client, monkeypatch):
    from indexer.errors import CollectionBusy, StorageError

    with make_client(collections=["busy"]) as client:
        for exc, status, kind in [
            (CollectionBusy("collection 'busy' is busy: another writer"), 409, "collection_busy"),
            (StorageError("the disk is full"), 503, "storage_unavailable"),
        ]:
            def refuse(*args, _exc=exc, **kwargs):
                raise _exc

            monkeypatch.setattr("indexer.collection.Collection.write", refuse)
            response = client.put("/v1/collections/busy/documents/a", json={"text": "the bread"})
            assert response.status_code == status
            assert response.json()["error"]["type"] == kind and str(exc) in response.json()["error"]["message"]
        bad = client.put("/v1/collections/busy/documents/a%01b", json={"text": "the bread"})
        assert bad.status_code == 422 and "doc" in bad.json()["error"]["message"].lower()
