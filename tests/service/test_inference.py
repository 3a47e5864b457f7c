"""The micro-batcher and the thread guards, on CPU."""

import threading
import time
from types import SimpleNamespace

import numpy as np
import pytest

from service.inference import GuardedEmbedder, MicroBatcher


def fake_encode(calls):
    def encode(texts):
        calls.append(list(texts))
        time.sleep(0.01)
        return np.array([[float(len(t))] for t in texts], dtype=np.float32)

    return encode


def encode_from_threads(batcher, clients=12):
    """Each client thread asks for two texts at once (released together); client i's rows come back as results[i]."""
    results, barrier = {}, threading.Barrier(clients)

    def client(i):
        barrier.wait()
        results[i] = batcher.encode(["x" * i, "y" * (i + 100)])

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_concurrent_requests_share_batches_and_get_their_own_rows():
    calls = []
    batcher = MicroBatcher(fake_encode(calls), max_batch=16, max_wait_ms=20)
    results = encode_from_threads(batcher)
    batcher.close()
    for i, rows in results.items():
        assert rows[:, 0].tolist() == [i, i + 100]
    assert len(calls) < 12  # batched together, not one call per request
    assert all(len(batch) <= 16 for batch in calls) and sum(map(len, calls)) == 24


def test_without_a_wait_a_lone_query_runs_in_its_own_thread_and_busy_times_still_batch():
    calls, threads_seen = [], []

    def encode(texts):
        threads_seen.append(threading.current_thread())
        return fake_encode(calls)(texts)

    batcher = MicroBatcher(encode, max_batch=16, max_wait_ms=0)
    assert batcher.encode(["alone"])[:, 0].tolist() == [5.0]
    assert threads_seen == [threading.current_thread()] and batcher.calls == 1  # no hand-off to the worker
    results = encode_from_threads(batcher)
    batcher.close()
    assert all(rows[:, 0].tolist() == [i, i + 100] for i, rows in results.items()) and len(results) == 12
    assert len(calls) - 1 < 12 and sum(map(len, calls)) == 25  # the ones that came while busy shared calls


def test_errors_reach_every_caller_in_the_batch_and_the_worker_survives():
    state = {"fail": True}

    def encode(texts):
        if state["fail"]:
            raise ValueError("model exploded")
        return np.ones((len(texts), 2), np.float32)

    batcher = MicroBatcher(encode, max_batch=8, max_wait_ms=1)
    with pytest.raises(ValueError, match="model exploded"):
        batcher.encode(["a"])
    state["fail"] = False
    assert batcher.encode(["a", "b"]).shape == (2, 2)
    batcher.close()
    with pytest.raises(RuntimeError, match="closed"):
        batcher.encode(["a"])


def test_guarded_embedder_batches_queries_and_matches_direct_encoding(tiny_embedder):
    guarded = GuardedEmbedder(tiny_embedder)
    direct = guarded.encode(["flat tire", "bread"])
    batcher = guarded.enable_batching(max_batch=8, max_wait_ms=1)
    assert np.allclose(guarded.encode(["flat tire"])[0], direct[0], atol=1e-5)
    assert batcher.calls == 1
    big = guarded.encode([f"text {i}" for i in range(20)])  # larger than a batch: encoded directly, in slices
    assert big.shape == (20, tiny_embedder.dimension) and batcher.calls == 1
    assert guarded.dimension == tiny_embedder.dimension and guarded.tokenizer.is_fast
    guarded.close()


def test_requests_larger_than_one_forward_pass_skip_the_batcher(tiny_embedder):
    """An upsert's chunks go by lock-sized slices, so queries wait behind a slice, not the whole upsert."""
    guarded = GuardedEmbedder(tiny_embedder)
    batcher = guarded.enable_batching(max_batch=64, max_wait_ms=0)
    assert tiny_embedder.batch_size == 16  # the CPU default
    guarded.encode([f"query {i}" for i in range(10)])
    assert batcher.calls == 1
    upsert = guarded.encode([f"chunk {i}" for i in range(40)])
    assert upsert.shape == (40, tiny_embedder.dimension) and batcher.calls == 1
    guarded.close()


def test_chunking_and_encoding_from_many_threads_do_not_collide(tiny_embedder):
    """Fast tokenizers raise 'Already borrowed' when used with different truncation settings at once."""
    from indexer.chunker import Chunker, ChunkerSettings
    from indexer.documents import Document

    guarded = GuardedEmbedder(tiny_embedder)
    chunker = Chunker(guarded.tokenizer, ChunkerSettings(16, 2))
    doc = Document("d", "A fairly long sentence about tires and wheels. " * 40)
    failures = []

    def work(i):
        try:
            for _ in range(10):
                (chunker.chunk(doc) if i % 2 else guarded.encode(["a query about tires " * 20]))
        except Exception as exc:  # noqa: BLE001
            failures.append(repr(exc))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []


def test_large_encodes_take_the_lock_in_slices_sized_for_the_device():
    calls = []

    class Recording:
        batch_size = 64

        def __init__(self, is_cuda):
            self.choice = SimpleNamespace(is_cuda=is_cuda)

        def encode(self, texts):
            calls.append(len(texts))
            return np.zeros((len(texts), 2), np.float32)

    GuardedEmbedder(Recording(is_cuda=False)).encode(["t"] * 200)
    assert calls == [64, 64, 64, 8]  # CPU: one forward pass per hold, so queries interleave
    calls.clear()
    GuardedEmbedder(Recording(is_cuda=True)).encode(["t"] * 3000)
    assert calls == [1024, 1024, 952]  # GPU: slices big enough for the pipelined encoder (128+ texts)


def test_models_and_their_wrappers_meet_the_protocols(tiny_embedder):
    """indexer/ and service/ type against TextEncoder and PairScorer; the API's thread-safe wrappers meet them
    with explicit attributes (no attribute forwarding), so a missing one fails here, not in a request."""
    from models import PairScorer, Reranker, TextEncoder
    from service.inference import GuardedEmbedder, GuardedReranker

    guarded = GuardedEmbedder(tiny_embedder)
    assert isinstance(tiny_embedder, TextEncoder) and isinstance(guarded, TextEncoder)
    assert (guarded.dimension, guarded.max_seq_length, guarded.batch_size, guarded.choice, guarded.reference) == (
        tiny_embedder.dimension, tiny_embedder.max_seq_length, tiny_embedder.batch_size, tiny_embedder.choice,
        tiny_embedder.reference,
    )  # fmt: skip
    assert not hasattr(GuardedEmbedder, "__getattr__") and not hasattr(GuardedReranker, "__getattr__")
    reranker = Reranker("unused", device="cpu")  # constructing loads nothing
    assert isinstance(reranker, PairScorer) and isinstance(GuardedReranker(reranker), PairScorer)
    assert GuardedReranker(reranker).choice is reranker.choice

