"""`quarry eval` and `quarry train-reranker` end to end on a tiny BEIR dataset with the tiny models."""

import json

from models import Reranker
from tests.cli_runner import run
from tests.indexer.test_beir import write_dataset

TOPICS = ["bread flour water", "bike tire chain", "coffee tea water", "planet sun moon", "git commit file", "plant water sun"]


def tiny_dataset(root):
    corpus = [json.dumps({"_id": f"d{i}", "text": f"{TOPICS[i % 6]} doc {i}"}) for i in range(18)]
    queries = [json.dumps({"_id": f"q{t}", "text": TOPICS[t]}) for t in range(6)]
    qrels = "query-id\tcorpus-id\tscore\n" + "".join(f"q{t}\td{i}\t{1 + i % 2}\n" for t in range(6) for i in range(18) if i % 6 == t)
    return write_dataset(root, corpus, queries, qrels)


def test_eval_json_metrics_and_index_reuse(settings_env, tmp_path, capsys):
    root = tiny_dataset(tmp_path / "tiny")
    code, out, err = run(capsys, "eval", str(root), "--json")
    assert code == 0, err
    result = json.loads(out)
    for key in ("ndcg@10", "recall@10", "recall@100", "mrr@10", "latency_p50_ms", "latency_p95_ms"):
        assert 0 <= result[key] and (key.startswith("latency") or result[key] <= 1)
    assert result["mode"] == "hybrid" and result["queries"] == 6 and result["reused_index"] is False
    assert result["recall@100"] == 1.0  # 18 documents: everything is retrieved
    assert sum(result["error_analysis"]["queries"].values()) == 6
    code, out, _ = run(capsys, "eval", str(root), "--json", "--mode", "lexical", "--no-rerank")
    again = json.loads(out)
    assert again["reused_index"] is True and again["mode"] == "lexical" and again["ndcg@10"] == 1.0


def test_eval_compare_prints_one_table_and_error_analysis(settings_env, tmp_path, capsys):
    code, out, err = run(capsys, "eval", str(tiny_dataset(tmp_path / "tiny")), "--compare", "dense,lexical,hybrid")
    assert code == 0, err
    assert "ndcg@10" in out and "recall@100" in out and "latency_p95_ms" in out
    for mode in ("dense", "lexical", "hybrid"):
        assert f"\n{mode} " in out and f"{mode}: " in out
    assert "ranking problems" in out and "not retrieved (recall)" in out


def test_eval_bad_dataset_is_one_line_error(settings_env, tmp_path, capsys):
    root = tiny_dataset(tmp_path / "tiny")
    (root / "corpus.jsonl").unlink()
    code, out, err = run(capsys, "eval", str(root))
    assert code == 1 and err.startswith("error: ") and "missing corpus.jsonl" in err
    code, _, err = run(capsys, "eval", str(tiny_dataset(tmp_path / "t2")), "--compare", "dense,fancy")
    assert code == 1 and "unknown mode 'fancy'" in err


def test_train_reranker_from_qrels_with_folds(settings_env, tmp_path, capsys, tiny_reranker_path):
    out_dir = tmp_path / "ce"
    code, out, err = run(capsys, "train-reranker", "--dataset", str(tiny_dataset(tmp_path / "tiny")), "--output", str(out_dir),
                         "--base", tiny_reranker_path, "--folds", "2", "--negatives", "1", "--batch-size", "8", "--json")  # fmt: skip
    assert code == 0, err
    report = json.loads(out)
    assert len(report["folds"]) == 2 and sum(f["held_out_queries"] for f in report["folds"]) == 6
    for phase in ("before", "after"):
        assert {"ndcg@10_retrieval", "ndcg@10_reranked", "ndcg@10_blended"} <= set(report["held_out_mean"][phase])
    scores = Reranker(str(out_dir), device="cpu").score("bike tire", ["bike tire chain", "coffee tea"])
    assert scores.shape == (2,) and (out_dir / "quarry-training.json").is_file()


def test_train_reranker_from_pairs_jsonl_reports_bad_lines(settings_env, tmp_path, capsys, tiny_reranker_path):
    pairs = tmp_path / "pairs.jsonl"
    lines = [json.dumps({"query": f"q {t}", "positive": TOPICS[t], "negatives": [TOPICS[(t + 1) % 6]]}) for t in range(6)]
    pairs.write_text("\n".join(lines[:3] + ["{oops", json.dumps({"query": "no positive"})] + lines[3:]) + "\n")
    code, out, err = run(capsys, "train-reranker", "--pairs", str(pairs), "--output", str(tmp_path / "ce"), "--base", tiny_reranker_path, "--held-out", "0.5")
    assert code == 0, err
    assert "pairs.jsonl:4: not valid JSON" in out and "pairs.jsonl:5: needs" in out
    assert "pair_accuracy" in out and "saved CrossEncoder" in out
