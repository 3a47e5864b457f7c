"""A tiny smoke run of each speed benchmark on a made-up BEIR folder with the tiny models (seconds, offline)."""

import json

import pytest

from benchmarks import bench_ann, bench_backends, bench_indexing, bench_query, lever_study, profile_indexing
from benchmarks.common import ndcg_at_10, percentile, scale_passages

WORDS = "bread flour water tire bike chain coffee tea planet sun moon star git commit python file plant".split()


@pytest.fixture
def beir(tmp_path):
    root = tmp_path / "beir"
    (root / "qrels").mkdir(parents=True)
    with open(root / "corpus.jsonl", "w") as handle:
        for i in range(60):
            handle.write(json.dumps({"_id": f"d{i}", "title": "", "text": " ".join(WORDS[(i + k) % len(WORDS)] for k in range(i % 9 + 3))}) + "\n")
    with open(root / "queries.jsonl", "w") as handle:
        for i in range(4):
            handle.write(json.dumps({"_id": f"q{i}", "text": f"{WORDS[i]} {WORDS[i + 1]}"}) + "\n")
    (root / "qrels" / "test.tsv").write_text("".join(f"q{i}\td{i}\t2\nq{i}\td{i + 20}\t1\n" for i in range(4)))
    return root


def test_helpers():
    assert len(scale_passages(["a b c d", "e f"], 7)) == 7
    assert ndcg_at_10({"q": ["a", "b"]}, {"q": {"a": 1}}) == 1.0
    assert ndcg_at_10({"q": ["b", "a"]}, {"q": {"a": 1}}) == pytest.approx(1 / 1.584962, rel=1e-5)
    assert percentile([3.0, 1.0, 2.0, 4.0], 50) == 2.0 and percentile([1.0, 2.0], 95) == 2.0


def test_benchmarks_print_their_tables(beir, tiny_embedder_path, tiny_reranker_path, tmp_path, capsys):
    common = ["--data", str(beir), "--model", tiny_embedder_path]
    bench_ann.main(common + ["--backend", "torch", "--base", "60", "--size", "300"])
    bench_backends.main(common + ["--reranker", tiny_reranker_path, "--backends", "torch,onnx", "--limit", "16", "--repeat", "1", "--queries", "3"])
    bench_indexing.main(common + ["--limit", "80", "--repeat", "1", "--device", "cpu"])
    bench_query.main(common + ["--reranker", tiny_reranker_path, "--limit", "60", "--clients", "1,2", "--seconds", "0.3", "--device", "cpu"])
    profile_indexing.main(common + ["--limit", "90", "--batch-documents", "16"])
    out = capsys.readouterr().out
    assert "90 passages, 90 chunks, 16 documents per batch" in out and "| SQLite write (rows + FTS5)" in out
    for title in ("Vector index: recall@10", "CPU backends", "Indexing throughput", "Query latency"):
        assert f"## {title}" in out
    assert "nDCG@10 change onnx vs torch" in out and "cosine min 1.0" in out


def test_lever_study_scores_every_lever_beside_the_default(beir, settings_env, capsys):
    lever_study.main([str(beir), "--depth", "20"])
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if line.startswith("| set |"))
    for lever in ("hybrid", "title0.3", "rocchio5/0.5", "rm3_5/10/0.3", "sum0.1", "docfuse"):
        assert f" {lever} |" in header, lever
    row = next(line for line in out.splitlines() if line.startswith("| beir |"))
    assert len(row.split("|")) == len(header.split("|"))
