"""Language awareness where people see it (index, /health, the collection), query prefixes, and bad input."""

import json

import pytest
from fastapi.testclient import TestClient

from indexer.documents import Document
from service.api.app import create_app
from service.runtime import Runtime
from service.search.pipeline import query_text, search
from service.settings import Settings
from tests.cli_runner import run

GERMAN = [
    "Der Befehl zeigt den Inhalt eines Verzeichnisses an und sortiert die Einträge alphabetisch.",
    "Kopiert die Quelldatei an das Ziel oder mehrere Quellen in ein Verzeichnis, ohne Nachfrage.",
    "Entfernt jede angegebene Datei; Verzeichnisse werden nur mit der rekursiven Option gelöscht.",
]


def test_api_says_when_dense_retrieval_cannot_be_trusted(settings_env, monkeypatch):
    monkeypatch.setenv("QUARRY_EMBEDDER_LANGUAGES", "en")  # the tiny test model is unknown to the table
    with TestClient(create_app()) as client:
        client.post("/v1/collections", json={"name": "de"})
        for i, text in enumerate(GERMAN):
            client.put(f"/v1/collections/de/documents/d{i}", json={"text": text})
        info = client.get("/v1/collections/de").json()
        assert info["languages"] == {"de": 1.0} and info["dense_retrieval"] == "untrusted"
        assert "multilingual" in info["warnings"][0] and "mode=lexical" in info["warnings"][0]
        health = client.get("/health").json()
        assert health["collections"][0]["warnings"] == info["warnings"]
        hits = client.post("/v1/collections/de/search", json={"query": "Quelldatei Ziel"}).json()["hits"]
        assert hits[0]["doc_id"] == "d1"  # hybrid leans on BM25 here
    monkeypatch.setenv("QUARRY_EMBEDDER_LANGUAGES", "*")
    with TestClient(create_app()) as client:
        info = client.get("/v1/collections/de").json()
        assert info["dense_retrieval"] == "ok" and info["warnings"] == []


def test_quarry_index_prints_the_languages_and_the_warning(settings_env, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("QUARRY_EMBEDDER_LANGUAGES", "en")
    folder = tmp_path / "docs"
    folder.mkdir()
    for i, text in enumerate(GERMAN):
        (folder / f"{i}.txt").write_text(text)
    code, stdout, stderr = run(capsys, "index", "-c", "de", str(folder), "--json", "--no-progress")
    out = json.loads(stdout)
    assert code == 0 and out["languages"] == {"de": 1.0} and any("cannot be trusted" in w for w in out["warnings"])
    assert "dense retrieval cannot be trusted" in stderr


def test_query_prefix_is_recorded_and_used(tmp_path, tiny_embedder_path):
    runtime = Runtime(Settings(data_dir=tmp_path, embedder=tiny_embedder_path, reranker="none", device="cpu",
                               query_prefix="query: ", document_prefix="passage: ", chunk_size=64, chunk_overlap=8))  # fmt: skip
    collection = runtime.create_collection("p")
    assert (collection.manifest.query_prefix, collection.manifest.document_prefix) == ("query: ", "passage: ")
    assert query_text(collection, "bread") == "query: bread"
    runtime.close()
    reopened = Runtime(Settings(data_dir=tmp_path, embedder=tiny_embedder_path, reranker="none", device="cpu"))
    assert reopened.open_collection("p").manifest.query_prefix == "query: "  # the collection's, not today's settings
    assert reopened.prefixes() == ("", "")
    reopened.close()


@pytest.fixture
def runtime(tmp_path, tiny_embedder_path):
    runtime = Runtime(Settings(data_dir=tmp_path, embedder=tiny_embedder_path, reranker="none", device="cpu", chunk_size=64, chunk_overlap=8))
    yield runtime
    runtime.close()


@pytest.mark.parametrize("query", ["the of and", "???", "Verzeichnis", "列出目录内容", "مرحبا بالعالم", "x" * 500])
@pytest.mark.parametrize("corpus", ["one", "identical", "german"])
def test_awkward_queries_and_collections_give_results_not_crashes(runtime, query, corpus):
    texts = {"one": GERMAN[:1], "identical": [GERMAN[0]] * 4, "german": GERMAN}[corpus]
    collection = runtime.open_or_create(corpus)
    runtime.indexer(collection).upsert([Document(f"d{i}", t) for i, t in enumerate(texts)])
    for mode in ("hybrid", "dense", "lexical"):
        result = search(collection, runtime.embedder, query, mode=mode, top_k=5, rerank=False)
        assert len(result.hits) <= len(texts)
        if mode != "lexical":
            assert result.hits, (mode, query)  # dense always finds its nearest documents
        assert all(h.score == h.score for h in result.hits)  # no NaN from flat or tiny lists
