"""The HTTP contract, through the real lifespan with tiny models."""

import pytest

DOCS = {
    "guides/bike.md": {
        "text": "# Bikes\n\nTo fix a flat tire, remove the wheel and patch the inner tube.",
        "title": "Bike repair",
        "metadata": {"lang": "en", "year": 2021, "tags": "howto", "published": "2021-05-01"},
    },
    "guides/bread.md": {
        "text": "Sourdough bread needs a lively starter, flour, water and salt. Bake in a hot oven.",
        "title": "Bread",
        "metadata": {"lang": "en", "year": 2023, "tags": "recipe", "published": "2023-02-10"},
    },
    "notes/planets.txt": {
        "text": "Jupiter is the largest planet; Saturn has bright rings made of ice.",
        "title": "Planets",
        "metadata": {"lang": "de", "year": 2019, "tags": "science", "published": "2019-11-30"},
    },
}


@pytest.fixture
def filled(client):
    assert client.post("/v1/collections", json={"name": "kb"}).status_code == 201
    for doc_id, body in DOCS.items():
        response = client.put(f"/v1/collections/kb/documents/{doc_id}", json=body)
        assert response.status_code == 200, response.text
    return client


def search(client, collection="kb", **body):
    response = client.post(f"/v1/collections/{collection}/search", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def test_health_reports_models_and_collections(filled):
    body = filled.get("/health").json()
    assert body["status"] == "ok"
    assert body["embedder"]["loaded"] is True and body["embedder"]["dimension"] == 32
    assert body["reranker"] == {"name": "none", "loaded": False, "reason": "disabled by QUARRY_RERANKER=none", "required": False, "device": None, "dimension": None}
    assert body["query_batching"] is True  # auto: on, also on CPU (without waiting)
    assert body["collections"] == [{"name": "kb", "documents": 3, "chunks": 3}]


def test_collections_lifecycle(client):
    assert client.get("/v1/collections").json() == {"collections": []}
    created = client.post("/v1/collections", json={"name": "notes", "chunk_size": 32, "chunk_overlap": 4})
    assert created.status_code == 201
    info = created.json()
    assert (info["name"], info["dimension"], info["chunk_size"], info["documents"], info["chunks"]) == ("notes", 32, 32, 0, 0)
    assert client.get("/v1/collections/notes").json() == info
    assert [c["name"] for c in client.get("/v1/collections").json()["collections"]] == ["notes"]
    assert client.delete("/v1/collections/notes").json() == {"deleted": "notes", "collection": None}
    assert client.get("/v1/collections/notes").status_code == 404
    assert client.get("/v1/collections").json() == {"collections": []}


def test_put_reports_chunks_and_status_then_get_and_delete(client):
    client.post("/v1/collections", json={"name": "kb"})
    body = DOCS["guides/bike.md"]
    first = client.put("/v1/collections/kb/documents/guides/bike.md", json=body).json()
    assert first == {"doc_id": "guides/bike.md", "status": "added", "chunks": 1}
    assert client.put("/v1/collections/kb/documents/guides/bike.md", json=body).json()["status"] == "unchanged"
    changed = client.put("/v1/collections/kb/documents/guides/bike.md", json={**body, "text": body["text"] + " Check the pressure."})
    assert changed.json()["status"] == "updated"
    doc = client.get("/v1/collections/kb/documents/guides/bike.md").json()
    assert doc["title"] == "Bike repair" and doc["metadata"]["year"] == 2021 and doc["text"].endswith("pressure.")
    listed = client.get("/v1/collections/kb/documents").json()
    assert [d["doc_id"] for d in listed["documents"]] == ["guides/bike.md"]
    assert client.delete("/v1/collections/kb/documents/guides/bike.md").json() == {"deleted": "guides/bike.md", "collection": "kb"}
    assert client.get("/v1/collections/kb/documents/guides/bike.md").status_code == 404
    assert search(client, query="flat tire", mode="lexical")["hits"] == []


def test_batch_upsert(client):
    client.post("/v1/collections", json={"name": "kb"})
    documents = [{"doc_id": doc_id, **body} for doc_id, body in DOCS.items()]
    response = client.post("/v1/collections/kb/documents", json={"documents": documents})
    body = response.json()
    assert response.status_code == 200 and (body["added"], body["updated"], body["unchanged"]) == (3, 0, 0)
    assert [d["status"] for d in body["documents"]] == ["added"] * 3 and body["chunks"] == 3
    again = client.post("/v1/collections/kb/documents", json={"documents": documents}).json()
    assert (again["unchanged"], again["chunks"]) == (3, 0)
    assert client.get("/v1/collections/kb").json()["documents"] == 3


def test_upsert_then_search_finds_it_in_every_mode(filled):
    for mode in ("hybrid", "dense", "lexical"):
        result = search(filled, query="flat tire inner tube", mode=mode, top_k=3)
        assert result["mode"] == mode and result["reranked"] is False and result["rerank_note"]
        assert set(result["timings_ms"]) >= {"embed", "retrieve", "rerank", "total"}
        assert len(result["hits"]) == (3 if mode != "lexical" else 1)
        assert "guides/bike.md" in [h["doc_id"] for h in result["hits"]]
        if mode == "lexical":  # the tiny embedder's random vectors decide dense and (weighted 0.7) hybrid order
            hit = result["hits"][0]
            assert hit["doc_id"] == "guides/bike.md" and hit["title"] == "Bike repair"
            assert hit["metadata"]["lang"] == "en" and hit["end"] > hit["start"] >= 0 and "flat tire" in hit["text"]


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        ({"lang": "de"}, {"notes/planets.txt"}),
        ({"lang": {"eq": "en"}}, {"guides/bike.md", "guides/bread.md"}),
        ({"lang": {"ne": "en"}}, {"notes/planets.txt"}),
        ({"tags": {"in": ["howto", "science"]}}, {"guides/bike.md", "notes/planets.txt"}),
        ({"year": {"gte": 2021}}, {"guides/bike.md", "guides/bread.md"}),
        ({"year": {"gt": 2019, "lt": 2023}}, {"guides/bike.md"}),
        ({"published": {"lt": "2021-01-01"}}, {"notes/planets.txt"}),
        ({"published": {"gte": "2021-05-01", "lte": "2023-01-01T00:00:00"}}, {"guides/bike.md"}),
        ({"or": [{"lang": "de"}, {"year": 2023}]}, {"notes/planets.txt", "guides/bread.md"}),
        ({"and": [{"lang": "en"}, {"or": [{"tags": "recipe"}, {"year": {"lte": 2000}}]}]}, {"guides/bread.md"}),
        ({"missing_field": "x"}, set()),
    ],
)
def test_filters_apply_in_every_mode(filled, flt, expected):
    for mode in ("dense", "hybrid"):
        hits = search(filled, query="tire bread planet", mode=mode, filter=flt)["hits"]
        assert {h["doc_id"] for h in hits} == expected, mode
    lexical = search(filled, query="tire bread planet rings", mode="lexical", filter=flt)["hits"]
    assert {h["doc_id"] for h in lexical} <= expected and ({h["doc_id"] for h in lexical} or not expected)


def test_min_score_and_group_by_document(client):
    client.post("/v1/collections", json={"name": "kb", "chunk_size": 16, "chunk_overlap": 2})
    text = "\n\n".join(f"Paragraph {i} about tire pressure and tire valves on a bike wheel." for i in range(6))
    assert client.put("/v1/collections/kb/documents/long", json={"text": text}).json()["chunks"] > 2
    client.put("/v1/collections/kb/documents/short", json={"text": "Tire levers help."})
    many = search(client, query="tire", mode="lexical")["hits"]
    assert len({h["doc_id"] for h in many}) == 2 and len(many) > 2
    grouped = search(client, query="tire", mode="lexical", group_by_document=True)["hits"]
    assert sorted(h["doc_id"] for h in grouped) == ["long", "short"]
    assert grouped[0]["score"] == many[0]["score"]
    cut = many[1]["score"]
    assert all(h["score"] >= cut for h in search(client, query="tire", mode="lexical", min_score=cut)["hits"])
    assert search(client, query="tire", mode="lexical", min_score=1e9)["hits"] == []


def test_batch_search_matches_single_searches(filled):
    queries = ["flat tire", "sourdough starter", "Saturn rings"]
    response = filled.post("/v1/collections/kb/search/batch", json={"queries": queries, "top_k": 2, "mode": "hybrid"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert [r["query"] for r in body["results"]] == queries and set(body["timings_ms"]) == {"embed", "total"}
    for query, result in zip(queries, body["results"]):
        single = search(filled, query=query, top_k=2, mode="hybrid")
        assert [h["chunk_id"] for h in result["hits"]] == [h["chunk_id"] for h in single["hits"]]
        assert [h["score"] for h in result["hits"]] == pytest.approx([h["score"] for h in single["hits"]], abs=1e-4)
    lexical = filled.post("/v1/collections/kb/search/batch", json={"queries": ["tire", "rings"], "mode": "lexical", "filter": {"lang": "de"}})
    assert [[h["doc_id"] for h in r["hits"]] for r in lexical.json()["results"]] == [[], ["notes/planets.txt"]]


def test_search_reranks_with_a_local_cross_encoder(make_client, tiny_reranker_path):
    with make_client(reranker=tiny_reranker_path) as client:
        health = client.get("/health").json()
        assert health["reranker"]["loaded"] is True and health["reranker"]["device"] == "cpu"
        client.post("/v1/collections", json={"name": "kb"})
        for doc_id, body in DOCS.items():
            client.put(f"/v1/collections/kb/documents/{doc_id}", json=body)
        result = search(client, query="bread", top_k=2)
        assert result["reranked"] is True and result["timings_ms"]["rerank"] > 0 and len(result["hits"]) == 2
        assert search(client, query="bread", rerank=False)["reranked"] is False


def test_unloadable_reranker_is_reported_and_search_still_works(make_client):
    with make_client(reranker="nobody/missing-cross-encoder") as client:
        health = client.get("/health").json()
        assert health["status"] == "degraded" and health["reranker"]["loaded"] is False
        assert "could not load reranker" in health["reranker"]["reason"]
        client.post("/v1/collections", json={"name": "kb"})
        client.put("/v1/collections/kb/documents/a", json={"text": "bread and butter"})
        result = search(client, query="bread")
        assert result["reranked"] is False and "could not load reranker" in result["rerank_note"] and result["hits"]
        assert health["reranker"]["required"] is True and health["note"] == health["reranker"]["reason"]


def test_default_reranker_missing_offline_is_ok_not_degraded(make_client, monkeypatch, caplog):
    """A fresh offline install names a hub cross-encoder it cannot fetch: that is normal, said once, not a fault."""
    monkeypatch.delenv("QUARRY_RERANKER")  # settings_env set it to none; unset is what a fresh install has
    with caplog.at_level("INFO"), make_client() as client:
        health = client.get("/health").json()
        client.post("/v1/collections", json={"name": "kb"})
        client.put("/v1/collections/kb/documents/a", json={"text": "bread and butter"})
        result = search(client, query="bread")
    assert health["status"] == "ok" and health["reranker"]["loaded"] is False and health["reranker"]["required"] is False
    assert health["note"].startswith("not reranked: the default cross-encoder") and "QUARRY_RERANKER" in health["note"]
    assert result["reranked"] is False and result["hits"]
    assert [r.levelname for r in caplog.records if "reranker" in r.getMessage()] == ["INFO"]  # one line, no warning
    assert not [r for r in caplog.records if "loading reranker" in r.getMessage()]  # no model built to find out


def test_openapi_docs_are_served(client):
    assert client.get("/docs").status_code == 200
    spec = client.get("/openapi.json").json()
    assert "/v1/collections/{name}/search" in spec["paths"]
    assert "SearchRequest" in spec["components"]["schemas"]


def test_serve_subcommand_runs_uvicorn_with_the_settings(settings_env, monkeypatch):
    import uvicorn

    from service.cli.main import main

    seen = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(kw, app=app))
    monkeypatch.setenv("QUARRY_PORT", "8123")
    assert main(["serve"]) == 0
    assert (seen["host"], seen["port"]) == ("127.0.0.1", 8123) and seen["app"].title == "quarry"
    monkeypatch.setenv("QUARRY_ALLOW_UNAUTHENTICATED_REMOTE", "true")  # no keys: 0.0.0.0 needs the opt-in (test_auth)
    assert main(["serve", "--host", "0.0.0.0", "--port", "9000"]) == 0
    assert (seen["host"], seen["port"]) == ("0.0.0.0", 9000)


def test_collections_created_over_the_api_use_the_configured_index(make_client):
    """The API and the CLI create collections in one place, so both honour QUARRY_INDEX_TYPE."""
    with make_client(index_type="hnsw") as client:
        created = client.post("/v1/collections", json={"name": "ann"})
        assert created.status_code == 201 and created.json()["index_type"] == "hnsw"


def test_search_uses_the_configured_fusion(make_client, monkeypatch):
    """QUARRY_FUSION reaches the API's searches through the runtime, not through process-wide state."""
    import service.search.pipeline

    seen = []
    real_fuse = service.search.pipeline.fuse
    monkeypatch.setattr(service.search.pipeline, "fuse", lambda dense, lexical, config: seen.append(config) or real_fuse(dense, lexical, config))
    with make_client(fusion="rrf", fusion_dense_weight=0.6) as client:
        client.post("/v1/collections", json={"name": "f"})
        client.put("/v1/collections/f/documents/a", json={"text": "the bread"})
        assert client.post("/v1/collections/f/search", json={"query": "bread"}).status_code == 200
    assert [(c.method, c.dense_weight) for c in seen] == [("rrf", 0.6)]
