"""Issue 14: one request cannot hold a shared model for long, and work is bounded before it starts."""

import threading

import numpy as np
import pytest

from service.inference import CHARS_PER_TOKEN, GuardedEmbedder, GuardedReranker


class CountingLock:
    """An RLock that counts how often it is taken."""

    def __init__(self):
        self._lock = threading.RLock()
        self.taken = 0

    def __enter__(self):
        self._lock.acquire()
        self.taken += 1
        return self

    def __exit__(self, *exc):
        self._lock.release()


class FakeCrossEncoder:
    batch_size = 4

    class model:
        max_length = 64

    def __init__(self):
        self.calls: list[tuple[str, list[str]]] = []

    def score(self, query, passages):
        self.calls.append((query, list(passages)))
        return np.arange(len(passages), dtype=np.float32)


def test_reranker_takes_the_lock_per_batch_and_cuts_text_the_model_cannot_read():
    lock, model = CountingLock(), FakeCrossEncoder()
    guarded = GuardedReranker(model, lock)
    scores = guarded.score("q" * 10_000, ["p" * 100_000] * 10)
    assert len(scores) == 10 and lock.taken == 3  # 4 + 4 + 2 pairs, the lock released in between
    assert all(len(passages) <= 4 for _, passages in model.calls)
    budget = 64 * CHARS_PER_TOKEN
    assert all(len(query) <= budget // 2 and all(len(p) <= budget for p in passages) for query, passages in model.calls)
    assert guarded.score("q", []).shape == (0,)


def test_token_counting_never_waits_for_the_model_lock(tiny_embedder):
    guarded = GuardedEmbedder(tiny_embedder)
    held, release = threading.Event(), threading.Event()

    def hold():  # another request in the middle of a long model call
        with guarded.lock:
            held.set()
            release.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    assert held.wait(30)
    try:
        counted = []
        counter = threading.Thread(target=lambda: counted.append(guarded.count_tokens(["some words here", "x " * 5000])))
        counter.start()
        counter.join(30)
        assert counted, "counting tokens waited for the model lock"
        assert counted[0] == len(tiny_embedder.tokenizer("some words here")["input_ids"]) + tiny_embedder.max_seq_length
    finally:
        release.set()
        holder.join()


def test_embeddings_refuse_an_input_too_long_to_be_read(client):
    response = client.post("/v1/embeddings", json={"model": "m", "input": ["ok", "word " * 200_000]})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == "input" and "input[1]" in error["message"] and "at most 100000" in error["message"]
    fine = client.post("/v1/embeddings", json={"model": "m", "input": ["word " * 10_000]})
    assert fine.status_code == 200 and fine.json()["usage"]["prompt_tokens"] > 0


def test_rerank_query_has_a_length_limit(client):
    response = client.post("/v1/rerank", json={"query": "q" * 5000, "documents": ["a"]})
    assert response.status_code == 400 and "query" in response.json()["message"]


@pytest.fixture
def client(make_client):
    with make_client() as client:
        yield client
