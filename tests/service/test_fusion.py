"""Fusion by hand-computed examples, and the property it was chosen for: exact identifiers still win."""

import numpy as np
import pytest

from indexer.documents import Document
from service.search.fusion import FusionConfig, blend_rerank, convex_fusion, fuse, minmax, reciprocal_rank_fusion
from service.runtime import Runtime
from service.settings import Settings


def test_minmax_and_convex_by_hand():
    assert minmax([3.0, 2.0, 1.0]).tolist() == [1.0, 0.5, 0.0]
    assert minmax([2.0, 2.0]).tolist() == [1.0, 1.0]
    dense = [(1, 0.9), (2, 0.8), (3, 0.5)]  # normalized 1, 0.75, 0
    lexical = [(3, 12.0), (4, 2.0)]  # normalized 1, 0
    fused = dict(convex_fusion([dense, lexical], [0.7, 0.3]))
    assert fused == pytest.approx({1: 0.7, 2: 0.525, 3: 0.3, 4: 0.0})


def test_fuse_caps_bm25_depth_and_rrf_is_available():
    dense = [(1, 0.9), (2, 0.1)]
    lexical = [(i, 10.0 - i) for i in range(10, 20)]
    capped = fuse(dense, lexical, FusionConfig(lexical_depth=3))
    assert {cid for cid, _ in capped} == {1, 2, 10, 11, 12}
    plain = fuse(dense, lexical, FusionConfig("rrf", 0.5, lexical_depth=0))
    assert plain == reciprocal_rank_fusion([dense, lexical], [0.5, 0.5])
    with pytest.raises(ValueError, match="unknown fusion method"):
        FusionConfig("sum")


def test_blend_rerank_replaces_or_mixes():
    ranked = [(7, 1.0), (8, 0.5), (9, 0.0)]
    scores = np.array([0.0, 2.0, 1.0])
    assert [c for c, _ in blend_rerank(ranked, scores, FusionConfig(rerank_weight=1.0))] == [8, 9, 7]
    mixed = blend_rerank(ranked, scores, FusionConfig(rerank_weight=0.5))  # 7: .5, 8: .75, 9: .25
    assert [c for c, _ in mixed] == [8, 7, 9] and mixed[0][1] == pytest.approx(0.75)


MEANINGS = ["the drain pump is blocked", "the door is not latched", "the water inlet valve failed",
            "the heater element is open", "the control board lost power", "the spray arm is stuck"]  # fmt: skip
FAMILIES = ["ERR-7Q41", "KX-44", "FAULT-9C"]


def test_hybrid_finds_exact_identifiers_dense_confuses(tmp_path, minilm):
    """Near-identical codes look alike to the embedder; BM25 tells them apart, and the fusion keeps that."""
    docs = [Document(f"{prefix}{s}", f"Error code {prefix}{s} on the dishwasher means {MEANINGS[(j + f) % 6]}.")
            for f, prefix in enumerate(FAMILIES) for j, s in enumerate("ABCDEF")]  # fmt: skip
    runtime = Runtime(Settings(data_dir=tmp_path, reranker="none", device="cpu"))
    collection = runtime.create_collection("codes")
    runtime.indexer(collection).upsert(docs)
    reciprocal = {"dense": [], "hybrid": [], "rrf": []}
    for code in [f"{prefix}{s}" for prefix in FAMILIES for s in "BE"]:
        query = f"what does error code {code} mean"
        dense = collection.dense_search(runtime.embedder.encode([query])[0], 50)
        lexical = collection.lexical_search(query, 50)
        chunks = collection.store.chunks_by_id([c for c, _ in dense + lexical])
        for name, ranked in (("dense", dense), ("hybrid", fuse(dense, lexical, FusionConfig())), ("rrf", fuse(dense, lexical, FusionConfig("rrf", 0.5, lexical_depth=0)))):
            ids = [chunks[c].doc_id for c, _ in ranked]
            reciprocal[name].append(1 / (ids.index(code) + 1))
    runtime.close()
    mrr = {name: sum(v) / len(v) for name, v in reciprocal.items()}
    assert mrr["hybrid"] == 1.0, mrr  # every code found first
    assert mrr["dense"] < 0.9 and mrr["rrf"] < 1.0, mrr  # what the fusion is for


def test_settings_choose_the_runtime_fusion(tmp_path):
    runtime = Runtime(Settings(data_dir=tmp_path, reranker="none", fusion="rrf", fusion_dense_weight=0.6, fusion_lexical_depth=0, rerank_weight=0.5))
    assert runtime.fusion == FusionConfig("rrf", 0.6, lexical_depth=0, rerank_weight=0.5)
    assert fuse([(1, 0.9)], [(2, 5.0)], runtime.fusion) == reciprocal_rank_fusion([[(1, 0.9)], [(2, 5.0)]], [0.6, 0.4])
    assert Runtime(Settings(data_dir=tmp_path, reranker="none")).fusion == FusionConfig()  # no leak between runtimes
    with pytest.raises(Exception, match="fusion_dense_weight"):
        Settings(data_dir=tmp_path, fusion_dense_weight=1.5)
