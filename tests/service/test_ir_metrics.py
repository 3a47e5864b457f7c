"""Metrics against values computed by hand (trec_eval conventions: linear gains, log2 discounts)."""

import math

import pytest

from service.eval.ir_metrics import dedupe, mean_metrics, mrr_at_k, ndcg_at_k, percentile, recall_at_k

JUDGED = {"b": 2, "d": 1, "x": 3, "z": 0}  # x is judged but never retrieved; z is judged non-relevant
RANKING = ["a", "b", "c", "d", "z"]


def test_ndcg_uses_all_judged_documents_for_the_ideal():
    dcg = 2 / math.log2(3) + 1 / math.log2(5)  # b at rank 2, d at rank 4
    ideal = 3 / math.log2(2) + 2 / math.log2(3) + 1 / math.log2(4)  # x, b, d
    assert ndcg_at_k(RANKING, JUDGED, 10) == pytest.approx(dcg / ideal)
    assert ndcg_at_k(RANKING, JUDGED, 10) == pytest.approx(0.355436, abs=1e-6)  # 1.692544 / 4.761860


def test_ndcg_cutoff_and_perfect_and_empty():
    assert ndcg_at_k(RANKING, JUDGED, 1) == 0.0
    assert ndcg_at_k(["x", "b", "d"], JUDGED, 10) == pytest.approx(1.0)
    assert ndcg_at_k(["b", "x"], {"b": 2, "x": 3}, 10) == pytest.approx((2 + 3 / math.log2(3)) / (3 + 2 / math.log2(3)))
    assert ndcg_at_k(RANKING, {"a": 0}, 10) == 0.0


def test_recall_counts_relevant_only():
    assert recall_at_k(RANKING, JUDGED, 10) == pytest.approx(2 / 3)
    assert recall_at_k(RANKING, JUDGED, 2) == pytest.approx(1 / 3)
    assert recall_at_k([], JUDGED, 100) == 0.0


def test_mrr_is_first_relevant_within_cutoff():
    assert mrr_at_k(RANKING, JUDGED, 10) == 0.5
    assert mrr_at_k(RANKING, JUDGED, 1) == 0.0
    assert mrr_at_k(["z", "a", "c", "d"], JUDGED, 10) == 0.25


def test_percentile_mean_and_dedupe():
    assert percentile([1, 2, 3, 4, 5], 50) == 3
    assert percentile([10, 20], 95) == pytest.approx(19.5)
    assert mean_metrics([{"m": 1.0}, {"m": 0.0}]) == {"m": 0.5}
    assert dedupe(["a", "b", "a", "c"]) == ["a", "b", "c"]
