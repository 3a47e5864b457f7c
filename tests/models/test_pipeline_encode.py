"""The pipelined bulk encoder gives plain encode()'s vectors, in the caller's order."""

import numpy as np
import pytest

from models.pipeline_encode import PipelinedEncoder, plan_batches

TEXTS = [("the bread and the flour " * (i % 17 + 1)) + f"number {i}" for i in range(300)] + ["a", "what is tea"]


def test_batches_follow_a_token_budget():
    lengths = np.array([5, 100, 7, 100, 50, 1])
    batches = plan_batches(lengths, tokens_per_batch=200, max_batch=3)
    assert [b.tolist() for b in batches] == [[1, 3], [4, 2, 0], [5]]
    assert sorted(np.concatenate(batches).tolist()) == list(range(6))


@pytest.mark.parametrize("fixture", ["tiny_embedder", "minilm"])
def test_matches_plain_encode(request, fixture):
    embedder = request.getfixturevalue(fixture)
    texts = TEXTS if fixture == "tiny_embedder" else TEXTS[::6]
    expected = embedder.encode(texts)
    got = PipelinedEncoder(embedder, tokens_per_batch=2048, max_batch=64, workers=2).encode(texts)
    cosines = (got * expected).sum(axis=1)
    assert got.shape == expected.shape and cosines.min() > 0.999


def test_encode_bulk_and_empty(tiny_embedder):
    assert tiny_embedder.encode_bulk([]).shape == (0, tiny_embedder.dimension)
    got = tiny_embedder.encode_bulk(TEXTS[:5])
    assert (got * tiny_embedder.encode(TEXTS[:5])).sum(axis=1).min() > 0.999


@pytest.mark.gpu
def test_cuda_pipeline_matches_plain_encode_in_half_precision():
    from models import DEFAULT_EMBEDDER, Embedder
    from models.embedder import PIPELINE_MIN_TEXTS

    fast = Embedder(DEFAULT_EMBEDDER, device="cuda")  # fp16 on CUDA
    plain = Embedder(DEFAULT_EMBEDDER, device="cpu")
    texts = TEXTS * 4
    assert fast.choice.is_cuda and len(texts) >= PIPELINE_MIN_TEXTS  # encode() takes the pipelined path
    cosines = (fast.encode(texts) * plain.encode(texts)).sum(axis=1)
    assert cosines.min() > 0.999
