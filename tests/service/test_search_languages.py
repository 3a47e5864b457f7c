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


AWKWARD = ["", "   ", "the of and", "???", "列出目录内容", "مرحبا بالعالم"]


def _entrance_answers(client, collection: str, query: str) -> dict[str, tuple[int, str, int]]:
    """entrance -> (status, body text, hits) for one query at every API entrance and the MCP tool."""
    from tests.service.test_search_entrances import _mcp_search

    answers = {}
    for name, path, body, key in (
        ("search", "search", {"query": query, "top_k": 5}, "hits"),
        ("context", "context", {"query": query, "top_k": 5, "score_threshold": 0.0}, "citations"),
        ("vector_store", "", {"query": query, "max_num_results": 5, "ranking_options": {"score_threshold": 0.0}}, "data"),
    ):
        url = f"/v1/collections/{collection}/{path}" if path else f"/v1/vector_stores/{collection}/search"
        response = client.post(url, json=body)
        hits = len(response.json().get(key, [])) if response.status_code == 200 else 0
        answers[name] = (response.status_code, response.text, hits)
    tool = _mcp_search(client, query, collection)
    hits = len((tool.structured_content or {}).get("hits", [])) if not tool.is_error else 0
    answers["mcp"] = (400 if tool.is_error else 200, tool.content[0].text if tool.content else "", hits)
    return answers


def test_every_entrance_answers_awkward_input_clearly(make_client, capsys):
    """Blank, stop-word-only, punctuation-only and other-script queries against a one-document collection and one
    whose documents are all the same: hits (dense always finds the nearest) or a 4xx that names the query."""
    corpora = {"one": GERMAN[:1], "same": [GERMAN[0]] * 4}
    with make_client(collections=list(corpora), raise_server_exceptions=False) as client:
        for name, texts in corpora.items():
            documents = [{"doc_id": f"d{i}", "text": t} for i, t in enumerate(texts)]
            assert client.post(f"/v1/collections/{name}/documents", json={"documents": documents}).status_code == 200
            for query in AWKWARD:
                for entrance, (status, text, hits) in _entrance_answers(client, name, query).items():
                    if query.strip():
                        assert status == 200 and 1 <= hits <= len(texts), (entrance, name, query, text)
                    else:
                        assert 400 <= status < 500 and "query" in text.lower(), (entrance, name, query, text)
    for query in AWKWARD:
        code, out, err = run(capsys, "search", query, "--collection", "same", "--json")
        if query.strip():
            assert code == 0 and 1 <= len(json.loads(out)["hits"]) <= 4, (query, err)
        else:
            assert code != 0 and "query" in err.lower() and "Traceback" not in err, (query, err)
