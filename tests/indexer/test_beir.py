"""BEIR loaders: the good path, and every kind of bad input reported rather than fatal."""

import json

import pytest

from indexer.beir import DatasetError, load_beir


def write_dataset(root, corpus_lines=None, query_lines=None, qrels="q1\td1\t2\nq1\td2\t1\nq2\td3\t1\n", split="test"):
    (root / "qrels").mkdir(parents=True)
    corpus = corpus_lines or [json.dumps({"_id": f"d{i}", "title": "", "text": f"passage {i}"}) for i in range(1, 5)]
    queries = query_lines or [json.dumps({"_id": q, "text": f"question {q}"}) for q in ("q1", "q2", "q3")]
    (root / "corpus.jsonl").write_text("\n".join(corpus) + "\n")
    (root / "queries.jsonl").write_text("\n".join(queries) + "\n")
    (root / "qrels" / f"{split}.tsv").write_text(qrels)
    return root


def test_loads_corpus_queries_and_qrels_without_header(tmp_path):
    ds = load_beir(write_dataset(tmp_path / "ds"))
    assert len(ds.corpus) == 4 and ds.qrels == {"q1": {"d1": 2, "d2": 1}, "q2": {"d3": 1}}
    assert set(ds.queries) == {"q1", "q2"} and ds.skipped_queries == 1  # q3 has no judgments
    assert any("1 queries have no relevant judgment" in w for w in ds.warnings)
    assert len(ds.fingerprint) == 64


def test_qrels_with_header_and_trec_format(tmp_path):
    ds = load_beir(write_dataset(tmp_path / "a", qrels="query-id\tcorpus-id\tscore\nq1\td1\t1\n"))
    assert ds.qrels == {"q1": {"d1": 1}} and not [w for w in ds.warnings if "expected" in w]
    ds = load_beir(write_dataset(tmp_path / "b", qrels="q1 0 d2 3\n"))
    assert ds.qrels == {"q1": {"d2": 3}}


def test_missing_files_are_named(tmp_path):
    root = write_dataset(tmp_path / "ds")
    (root / "queries.jsonl").unlink()
    with pytest.raises(DatasetError, match="missing queries.jsonl"):
        load_beir(root)
    with pytest.raises(DatasetError, match=r"missing qrels/dev.tsv \(qrels splits present: test.tsv\)"):
        load_beir(write_dataset(tmp_path / "other"), split="dev")
    with pytest.raises(DatasetError, match="not found"):
        load_beir(tmp_path / "nope")


def test_malformed_lines_reported_with_line_numbers(tmp_path):
    corpus = [json.dumps({"_id": "d1", "text": "one"}), "{broken", json.dumps({"_id": "d2", "text": "two\u0085still two"}), json.dumps({"_id": "d3", "text": "three"})]
    queries = [json.dumps({"_id": "q1", "text": "a"}), "[1, 2]", json.dumps({"_id": "q2", "text": "b"})]
    qrels = "q1\td1\t1\nthis line is wrong\nq2\td2\tx\nq2\td3\t1\n"
    ds = load_beir(write_dataset(tmp_path / "ds", corpus, queries, qrels))
    joined = "\n".join(ds.warnings)
    assert "corpus.jsonl:2: not valid JSON" in joined
    assert "queries.jsonl:2: needs" in joined
    assert "test.tsv:2: expected" in joined and "test.tsv:3: expected" in joined
    assert [d.doc_id for d in ds.corpus] == ["d1", "d2", "d3"]
    assert ds.corpus[1].text == "two\u0085still two"  # U+0085 inside text is not a line break in JSON Lines


def test_unknown_documents_and_queries_are_counted(tmp_path):
    qrels = "q1\td1\t1\nq1\tghost\t2\nq9\td2\t1\n"
    ds = load_beir(write_dataset(tmp_path / "ds", qrels=qrels))
    assert ds.unknown_document_judgments == 1 and ds.unknown_query_judgments == 1
    assert ds.qrels["q1"] == {"d1": 1, "ghost": 2}  # kept: it counts in the ideal ranking, as in trec_eval
    assert "1 judgments name documents not in corpus.jsonl" in ds.summary() or "1 judgments name unknown documents" in ds.summary()


def test_no_judged_query_is_an_error(tmp_path):
    with pytest.raises(DatasetError, match="no query"):
        load_beir(write_dataset(tmp_path / "ds", qrels="q1\td1\t0\n"))
