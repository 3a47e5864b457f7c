"""Concurrent single-query encodes are batched and each caller gets its own vector."""

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from models.batching import BatchingEmbedder


class SlowEmbedder:
    """Records batch sizes; slow enough that requests pile up behind a running batch."""

    dimension = 3

    def __init__(self):
        self.sizes = []
        self.gate = threading.Event()

    def encode(self, texts, **kwargs):
        self.gate.wait(5)
        self.sizes.append(len(texts))
        if any(t == "boom" for t in texts):
            raise RuntimeError("model failed")
        return np.array([[len(t), 1.0, 0.0] for t in texts], np.float32)


def test_concurrent_queries_share_forward_passes():
    inner = SlowEmbedder()
    batcher = BatchingEmbedder(inner, max_wait_ms=20)
    texts = ["q" * i for i in range(1, 21)]
    with ThreadPoolExecutor(20) as pool:
        futures = [pool.submit(batcher.encode, [t]) for t in texts]
        threading.Timer(0.2, inner.gate.set).start()
        results = [f.result(5) for f in futures]
    assert [int(r[0, 0]) for r in results] == list(range(1, 21))  # each caller its own vector
    assert sum(inner.sizes) == 20 and len(inner.sizes) < 20 and batcher.dimension == 3


def test_lists_pass_through_and_errors_reach_callers():
    inner = SlowEmbedder()
    inner.gate.set()
    batcher = BatchingEmbedder(inner)
    assert batcher.encode(["a", "bb"]).shape == (2, 3) and inner.sizes == [2]
    with pytest.raises(RuntimeError, match="model failed"):
        batcher.encode(["boom"])
    assert batcher.encode_query("abc")[0] == 3  # the worker survived the failure


def test_batched_vectors_match_direct_ones(tiny_embedder):
    batcher = BatchingEmbedder(tiny_embedder)
    texts = [f"the bread number {i} " * (i % 5 + 1) for i in range(16)]
    with ThreadPoolExecutor(8) as pool:
        got = np.stack(list(pool.map(batcher.encode_query, texts)))
    assert (got * tiny_embedder.encode(texts)).sum(axis=1).min() > 0.999
