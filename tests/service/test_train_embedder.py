"""`quarry train-embedder` and `quarry reindex` end to end with the tiny embedder and a tiny judged set."""

import json
import shutil

from models import Embedder
from service.eval import embedder_training
from tests.cli_runner import run
from tests.corpus_factory import write_mixed_corpus
from tests.service.test_eval_cli import TOPICS, tiny_dataset

FAST = ("--epochs", "1", "--batch-size", "4")


def test_folds_never_train_on_a_held_out_query(settings_env, tmp_path, capsys, monkeypatch):
    trained = []
    real = embedder_training.train_bi_encoder

    def spy(examples, output, *args, **kwargs):
        trained.append((str(output), {e.query for e in examples}))
        return real(examples, output, *args, **kwargs)

    monkeypatch.setattr(embedder_training, "train_bi_encoder", spy)
    held = []
    real_score = embedder_training.FoldScorer.score
    monkeypatch.setattr(embedder_training.FoldScorer, "score", lambda self, ref, ids: (held.append((ref, {self.items[i].query for i in ids})), real_score(self, ref, ids))[1])
    code, out, err = run(capsys, "train-embedder", "--dataset", str(tiny_dataset(tmp_path / "tiny")), "-o", str(tmp_path / "emb"), "--folds", "3", "--json", *FAST)
    assert code == 0, err
    report = json.loads(out)
    folds = [(queries, next(q for ref, q in held if ref == path)) for path, queries in trained if "fold-" in path]
    assert len(folds) == 3 and len(trained) == 4  # three fold models, then the saved one
    for train_queries, test_queries in folds:
        assert test_queries and not train_queries & test_queries
    assert set().union(*(test for _, test in folds)) == set(TOPICS)  # every query held out exactly once
    assert trained[-1] == (str(tmp_path / "emb"), set(TOPICS))  # the saved model: all labels, trained last
    assert sum(f["held_out_queries"] for f in report["folds"]) == 6
    for phase in ("before", "after"):
        assert set(report["held_out_mean"][phase]) == {"ndcg@10_dense", "ndcg@10_hybrid"}


def test_train_reindex_and_search_with_the_new_embedder(settings_env, tmp_path, capsys, monkeypatch):
    output = tmp_path / "emb"
    code, out, err = run(capsys, "train-embedder", "--dataset", str(tiny_dataset(tmp_path / "tiny")), "-o", str(output), "--folds", "2", *FAST)
    assert code == 0, err
    assert "held-out fold 1 (3 queries): before: ndcg@10_dense" in out and "; after: ndcg@10_dense" in out
    assert "ndcg@10_hybrid: before " in out and "a new embedder means a re-index" in out
    command = next(line.strip() for line in out.splitlines() if line.strip().startswith("quarry reindex"))
    assert command.startswith("quarry reindex -c eval-tiny-") and command.endswith(f"--embedder {output}")
    assert Embedder(str(output), device="cpu").encode(["bread flour"]).shape == (1, 32)
    assert (output / "quarry-training.json").is_file() and "fold" in err

    code, _, err = run(capsys, *command.split()[1:])
    assert code == 0, err
    code, out, err = run(capsys, "search", "bread", "-c", command.split()[3], "--mode", "dense")
    assert code == 1 and "was built with embedder" in err  # the old QUARRY_EMBEDDER no longer fits: no silent garbage
    monkeypatch.setenv("QUARRY_EMBEDDER", str(output))
    code, out, err = run(capsys, "search", "bread", "-c", command.split()[3], "--mode", "dense", "--json")
    assert code == 0, err
    assert json.loads(out)["hits"]
    code, _, err = run(capsys, "train-embedder", "--dataset", str(tmp_path / "tiny"), "-o", str(output), "--folds", "2")
    assert code == 1 and "is not empty" in err  # a model in use is never replaced in place


def test_pairs_file_reports_pool_ranking(settings_env, tmp_path, capsys):
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("".join(json.dumps({"query": f"about {t}", "positive": t}) + "\n" for t in TOPICS))
    code, out, err = run(capsys, "train-embedder", "--pairs", str(pairs), "-o", str(tmp_path / "emb"), "--folds", "2", "--train-layers", "1", *FAST)
    assert code == 0, err
    assert "pool_ndcg@10: before " in out and "quarry reindex -c NAME" in out
    code, _, err = run(capsys, "train-embedder", "--pairs", str(pairs), "-o", str(tmp_path / "e2"), "--folds", "7")
    assert code == 1 and "6 labelled queries cannot make 7 folds" in err


def test_reindex_keeps_documents_headings_and_file_records(settings_env, tmp_path, capsys, monkeypatch, tiny_embedder_path):
    corpus = write_mixed_corpus(tmp_path / "corpus")
    assert run(capsys, "index", str(corpus), "-c", "c", "--no-progress", "--writers", "2")[0] == 0  # sealed segments too
    before = json.loads(run(capsys, "search", "bread", "-c", "c", "--mode", "lexical", "--json")[1])["hits"]
    other = tmp_path / "copy-of-embedder"  # same weights under another name: the collection must follow the name
    shutil.copytree(tiny_embedder_path, other)
    code, out, err = run(capsys, "reindex", "-c", "c", "--embedder", str(other), "--no-progress")
    assert code == 0, err
    assert f"with {other} (was {tiny_embedder_path})" in out
    monkeypatch.setenv("QUARRY_EMBEDDER", str(other))
    after = json.loads(run(capsys, "search", "bread", "-c", "c", "--mode", "lexical", "--json")[1])["hits"]
    assert [(h["doc_id"], h["text"], h["heading_path"]) for h in after] == [(h["doc_id"], h["text"], h["heading_path"]) for h in before]
    code, out, _ = run(capsys, "index", str(corpus), "-c", "c", "--no-progress")
    assert "0 added, 0 updated, 4 unchanged" in out  # file records and content hashes came along
    assert not [p.name for p in (settings_env / "collections").iterdir() if p.name.startswith(".")]


def test_estimate_only_on_a_sub_collection(settings_env, tmp_path, capsys):
    code, out, err = run(capsys, "train-embedder", "--dataset", str(tiny_dataset(tmp_path / "tiny")), "-o", str(tmp_path / "emb"),
                         "--folds", "2", "--eval-documents", "8", "--estimate-only", *FAST)  # fmt: skip
    assert code == 0, err
    assert "on a sub-collection of 8 documents" in out and "no model saved" in out and "quarry reindex" not in out
    assert "held-out fold 2" in err and "held-out mean: ndcg@10_dense: before" in err  # shown as they come
    assert not (tmp_path / "emb").exists()
