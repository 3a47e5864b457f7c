"""Issue 14, unbounded query work: every search entrance is bounded the same way, in the Searcher and the store."""

import numpy as np
import pytest

from indexer.documents import Document
from indexer.layout import Manifest
from indexer.pipeline import Indexer
from indexer.store import MAX_LEXICAL_TERMS, fts_query
from service.search.options import SearchCancelled, SearchLimits
from service.search.searcher import Searcher


def test_a_lexical_query_sends_at_most_max_lexical_terms_to_fts5():
    query = " ".join(f"word{i}" for i in range(20_000))  # what a 1 MB query of distinct words becomes
    assert fts_query(query).count(" OR ") == MAX_LEXICAL_TERMS - 1
    assert fts_query("the bread and the flour") == '"bread" OR "flour"'  # short queries as before


@pytest.fixture
def catalog(tmp_path):
    from indexer.catalog import Catalog

    catalog = Catalog(tmp_path / "data")
    yield catalog
    catalog.close()


@pytest.fixture
def collection(catalog, tiny_embedder, tiny_embedder_path):
    manifest = Manifest("kb", tiny_embedder_path, tiny_embedder.dimension, chunk_size=24, chunk_overlap=4)
    collection = catalog.create(manifest)
    Indexer(collection, tiny_embedder).upsert([Document(f"d{i}", f"bread flour water number {i}.") for i in range(150)])
    return collection


class CountingReranker:
    def __init__(self):
        self.scored = []

    def score(self, query, passages):
        self.scored.append(len(passages))
        return np.linspace(1, 0, len(passages), dtype=np.float32)


def test_the_reranker_scores_at_most_max_rerank_candidates(collection, tiny_embedder):
    reranker = CountingReranker()
    searcher = Searcher(tiny_embedder, reranker, limits=SearchLimits(max_rerank_candidates=20))
    result = searcher.search(collection, "bread flour", candidates=1000, top_k=5)
    assert result.reranked and reranker.scored == [20] and len(result.hits) == 5
    searcher.search(collection, "bread flour", candidates=1000, top_k=50)
    assert reranker.scored[-1] == 50  # never fewer than top_k
    assert SearchLimits().max_rerank_candidates == 100


def test_a_batch_stops_when_the_client_has_gone(collection, tiny_embedder):
    searcher = Searcher(tiny_embedder)
    asked = []

    def gone_after_two():
        asked.append(1)
        return len(asked) > 2

    with pytest.raises(SearchCancelled, match="after 2 of 5 queries"):
        searcher.search_batch(collection, ["bread"] * 5, cancelled=gone_after_two)
    results, _ = searcher.search_batch(collection, ["bread"] * 3, cancelled=lambda: False)
    assert len(results) == 3


def test_vector_store_search_takes_as_many_queries_as_a_batch(make_client):
    with make_client(collections=["kb"], max_batch_queries=8) as client:
        client.put("/v1/collections/kb/documents/a", json={"text": "bread and butter"})
        too_many = client.post("/v1/vector_stores/kb/search", json={"query": ["bread"] * 500})
        assert too_many.status_code == 413 and "QUARRY_MAX_BATCH_QUERIES" in too_many.json()["error"]["message"]
        assert client.post("/v1/vector_stores/kb/search", json={"query": ["bread"] * 8}).status_code == 200
        huge = client.post("/v1/vector_stores/kb/search", json={"query": "bread " * 1000})
        assert huge.status_code == 400 and "QUARRY_MAX_QUERY_CHARS" in huge.json()["error"]["message"]


# jobs and `quarry index`: per-file and per-document limits ------------------------------------------
def test_index_skips_a_file_or_document_over_its_limit_and_a_flag_raises_it(settings_env, tmp_path, capsys):
    from service.cli import main

    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "small.txt").write_text("bread and flour.\n")
    (folder / "huge.txt").write_text("word " * 5_000)  # 25,000 characters
    data = ["--data-dir", str(settings_env)]
    assert main([*data, "index", str(folder), "-c", "kb", "--no-progress", "--max-document-chars", "10000"]) == 0
    err = capsys.readouterr().err
    assert "huge.txt" in err and "25000 characters, over the limit of 10000" in err and "--max-document-chars" in err
    assert main([*data, "index", str(folder), "-c", "kb2", "--no-progress", "--max-file-bytes", "1000"]) == 0
    err = capsys.readouterr().err
    assert "25000 bytes, over the limit of 1000" in err and "skipped unread" in err
    assert main([*data, "index", str(folder), "-c", "kb3", "--no-progress", "--max-document-chars", "0", "--json"]) == 0
    assert '"added": 2' in capsys.readouterr().out  # 0: no limit


def test_a_job_skips_a_document_over_the_limit(make_client, tmp_path):
    import time

    root = tmp_path / "root"
    root.mkdir()
    (root / "ok.txt").write_text("bread and flour.\n")
    (root / "huge.txt").write_text("x" * 3_000)
    with make_client(collections=["kb"], job_roots=str(root), max_document_chars=2_000) as client:
        job = client.post("/v1/collections/kb/jobs", json={"path": str(root)}).json()
        deadline = time.monotonic() + 60
        while (state := client.get(f"/v1/collections/kb/jobs/{job['id']}").json())["state"] in ("queued", "running"):
            assert time.monotonic() < deadline, state
            time.sleep(0.05)
        assert state["state"] == "succeeded" and (state["progress"]["added"], state["progress"]["skipped"]) == (1, 1)
        assert client.get("/v1/collections/kb").json()["documents"] == 1


def test_a_jsonl_corpus_is_streamed_a_line_at_a_time(settings_env, tmp_path, monkeypatch, capsys):
    """Never read whole (so the file limit does not apply to it); a line too long for any document is dropped unparsed."""
    import json

    import indexer.pipeline
    from service.cli import main

    def whole_file(path, doc_id):
        raise AssertionError(f"{path} was read whole")

    monkeypatch.setattr(indexer.pipeline, "load_file", whole_file)
    corpus = tmp_path / "corpus.jsonl"
    lines = [json.dumps({"_id": f"r{i}", "text": f"bread flour number {i}"}) for i in range(5)]
    lines.insert(2, json.dumps({"_id": "huge", "text": "x" * 200_000}))  # over 8 x the document limit: never parsed
    lines.insert(4, '{"_id": "nan", "text": "t", "metadata": {"n": NaN}}')
    corpus.write_text("\n".join(lines) + "\n")
    data = ["--data-dir", str(settings_env)]
    args = ["index", str(corpus), "-c", "kb", "--no-progress", "--json", "--max-file-bytes", "100", "--max-document-chars", "1000"]
    assert main([*data, *args]) == 0
    out, err = capsys.readouterr()
    report = json.loads(out)
    assert (report["added"], report["skipped"], report["total_documents"]) == (5, 2, 5)
    assert "corpus.jsonl:3: line of over" in err and "corpus.jsonl: 'nan'" not in err and "not a finite number" in err
