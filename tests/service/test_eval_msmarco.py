"""The shipped default on the real benchmark: hybrid must not lose to dense (slow: indexes 5,000 passages)."""

from pathlib import Path

import pytest

from indexer.beir import load_beir
from service.eval.evaluation import ensure_collection, run_eval
from service.runtime import Runtime
from service.settings import Settings

DATASET = Path(__file__).resolve().parents[2].parent / "shared" / "datasets" / "msmarco-subset"


@pytest.mark.slow
def test_default_hybrid_scores_at_least_dense_on_msmarco_subset(tmp_path):
    if not DATASET.is_dir():
        pytest.fail(f"dataset not found at {DATASET}: run from a checkout next to shared/datasets")
    dataset = load_beir(DATASET)
    runtime = Runtime(Settings(data_dir=tmp_path, reranker="none", device="cpu"))
    collection, _ = ensure_collection(runtime, dataset, progress=False)
    searcher = runtime.searcher(rerank=False)
    dense = run_eval(searcher, collection, dataset, mode="dense")
    hybrid = run_eval(searcher, collection, dataset, mode="hybrid")
    runtime.close()
    assert dense.metrics["ndcg@10"] == pytest.approx(0.798, abs=0.005)
    assert hybrid.metrics["ndcg@10"] >= dense.metrics["ndcg@10"]
    assert hybrid.metrics["recall@100"] >= dense.metrics["recall@100"]
