"""The RAG context block: budget, numbering, citations, and an explicit "nothing relevant"."""

import pytest

from service.search.context import TokenCounter, build_context
from service.search.relevance import ScoredHit
from service.search.pipeline import SearchHit


def _hit(i: int, text: str, title: str = "", source: str = "") -> ScoredHit:
    return ScoredHit(SearchHit(f"doc{i}", i, 1.0, text, title, source, {}, 10 * i, 10 * i + len(text)), 0.9 - i / 10)


def test_budget_numbering_and_truncation(tiny_embedder):
    counter = TokenCounter(tiny_embedder.tokenizer)
    hits = [_hit(1, "alpha beta gamma " * 3, "First", "a.md"), _hit(2, "delta " * 40), _hit(3, "epsilon zeta", "Third")]
    block = build_context(hits, counter, max_tokens=30)
    assert block.tokens <= 30 and block.tokens == counter.count(block.context)
    assert [c.doc_id for c in block.citations] == ["doc1", "doc3"]  # the long one is skipped for one that fits
    assert [c.n for c in block.citations] == [1, 2]
    assert block.context.startswith("[1] First (a.md)\nalpha") and "\n\n[2] Third\nepsilon zeta" in block.context
    assert not block.no_relevant_context
    alone = build_context([_hit(2, "delta " * 40)], counter, max_tokens=16)  # too long even alone: cut, not dropped
    assert alone.citations[0].truncated and alone.tokens <= 16 and alone.citations[0].end < 20 + 240
    assert build_context([], counter, 100).no_relevant_context


@pytest.fixture
def client(make_client):
    with make_client(collections=["kb"]) as client:
        for i, text in enumerate(["Patch the inner tube to fix a flat tire.", "Bake sourdough in a hot oven."]):
            body = {"text": text, "title": f"Doc {i}", "source": f"notes/{i}.md", "metadata": {"n": i}}
            assert client.put(f"/v1/collections/kb/documents/d{i}", json=body).status_code == 200
        yield client


def test_context_endpoint(client):
    body = client.post("/v1/collections/kb/context", json={"query": "flat tire", "score_threshold": 0.0}).json()
    assert body["no_relevant_context"] is False and body["score_kind"] == "cosine" and body["reranked"] is False
    assert {c["doc_id"] for c in body["citations"]} == {"d0", "d1"}
    first = body["citations"][0]
    assert body["context"].startswith(f"[1] {first['title']} ({first['source']})\n")
    assert set(first) >= {"n", "doc_id", "title", "source", "start", "end", "score"}
    filtered = client.post("/v1/collections/kb/context", json={"query": "tire", "score_threshold": 0, "filter": {"n": 1}}).json()
    assert [c["doc_id"] for c in filtered["citations"]] == ["d1"]


def test_nothing_relevant_says_so(client):
    body = client.post("/v1/collections/kb/context", json={"query": "flat tire", "score_threshold": 1.0}).json()
    assert body == {**body, "no_relevant_context": True, "context": "", "citations": [], "tokens": 0}


def test_context_errors_in_quarry_shape(client):
    r = client.post("/v1/collections/kb/context", json={"query": "x", "max_tokens": 2})
    assert r.status_code == 422 and r.json()["error"]["type"] == "invalid_request"
    assert client.post("/v1/collections/nope/context", json={"query": "x"}).status_code == 404
