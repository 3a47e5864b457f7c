import json

import pytest

from tests.cli_runner import run
from tests.corpus_factory import write_image_only_pdf, write_mixed_corpus


def test_index_mixed_folder_then_search_json(settings_env, tmp_path, capsys):
    corpus = write_mixed_corpus(tmp_path / "corpus")
    code, out, err = run(capsys, "index", str(corpus), "--collection", "mixed", "--no-progress")
    assert code == 0, err
    assert "4 added, 0 updated, 0 unchanged, 0 removed, 0 skipped" in out
    code, out, _ = run(capsys, "search", "flat tire", "--collection", "mixed", "--mode", "lexical", "--json")
    result = json.loads(out)
    assert code == 0 and result["query"] == "flat tire" and result["reranked"] is False
    hit = result["hits"][0]
    assert set(hit) >= {"doc_id", "chunk_id", "score", "text", "title", "source", "metadata"}
    assert hit["doc_id"] == "corpus/bikes.html" and hit["title"] == "Bike repair"
    assert set(result["timings_ms"]) >= {"total", "retrieve"}


def test_reindex_unchanged_changed_and_pruned(settings_env, tmp_path, capsys):
    corpus = write_mixed_corpus(tmp_path / "corpus")
    assert run(capsys, "index", str(corpus), "-c", "c", "--no-progress")[0] == 0
    code, out, _ = run(capsys, "index", str(corpus), "-c", "c", "--no-progress")
    assert "0 added, 0 updated, 4 unchanged" in out and "0 chunks written" in out
    (corpus / "planets.txt").write_text("Saturn has rings.\n")
    (corpus / "bread.md").unlink()
    code, out, _ = run(capsys, "index", str(corpus), "-c", "c", "--no-progress")
    assert "0 added, 1 updated, 2 unchanged, 0 removed" in out  # without --prune nothing is removed
    code, out, _ = run(capsys, "index", str(corpus), "-c", "c", "--no-progress", "--prune", "--json")
    summary = json.loads(out)
    assert (summary["removed"], summary["total_documents"]) == (1, 3)


def test_bad_files_are_skipped_with_warnings_and_the_rest_indexed(settings_env, tmp_path, capsys):
    corpus = write_mixed_corpus(tmp_path / "corpus")
    (corpus / "blob.txt").write_bytes(b"\x00\x01binary")
    (corpus / "empty.md").write_text("")
    (corpus / "photo.png").write_bytes(b"\x89PNG")
    write_image_only_pdf(corpus / "scan.pdf")
    (corpus / "legacy.txt").write_bytes("Caf\xe9 menu".encode("latin-1"))
    code, out, err = run(capsys, "index", str(corpus), "-c", "c", "--no-progress")
    assert code == 0
    assert "5 added" in out and "3 skipped" in out
    for expected in ["binary", "empty file", "no text layer", "unsupported type '.png'", "decoded as cp1252"]:
        assert expected in err
    assert all(line.startswith("warning: ") for line in err.strip().splitlines())


def test_missing_path_is_one_line_error_and_nothing_created(settings_env, tmp_path, capsys):
    code, out, err = run(capsys, "index", str(tmp_path / "nope"), "-c", "c")
    assert code == 1 and err.strip() == f"error: path not found: {tmp_path / 'nope'}"
    assert not (settings_env / "collections" / "c").exists()


def test_nothing_indexable_is_an_error(settings_env, tmp_path, capsys):
    (tmp_path / "only").mkdir()
    (tmp_path / "only" / "a.png").write_bytes(b"x")
    code, _, err = run(capsys, "index", str(tmp_path / "only"), "-c", "c", "--no-progress")
    assert code == 1 and "nothing indexable" in err


def test_unknown_collection_and_empty_query(settings_env, tmp_path, capsys):
    code, _, err = run(capsys, "search", "bread", "-c", "nope")
    assert code == 1 and "collection 'nope' not found" in err and len(err.strip().splitlines()) == 1
    run(capsys, "index", str(write_mixed_corpus(tmp_path / "corpus")), "-c", "c", "--no-progress")
    code, _, err = run(capsys, "search", "   ", "-c", "c")
    assert code == 1 and err.strip() == "error: empty query: give some words to search for"  # before any model loads


def test_bad_collection_name(settings_env, tmp_path, capsys):
    code, _, err = run(capsys, "index", str(write_mixed_corpus(tmp_path / "corpus")), "-c", "../evil")
    assert code == 1 and "invalid collection name" in err


def test_embedder_mismatch_is_a_clear_error(settings_env, tmp_path, capsys, monkeypatch):
    run(capsys, "index", str(write_mixed_corpus(tmp_path / "corpus")), "-c", "c", "--no-progress")
    monkeypatch.setenv("QUARRY_EMBEDDER", "sentence-transformers/all-MiniLM-L6-v2")
    code, _, err = run(capsys, "search", "bread", "-c", "c")
    assert code == 1 and "was built with embedder" in err


def test_bad_settings_fail_fast(settings_env, capsys, monkeypatch):
    monkeypatch.setenv("QUARRY_CANDIDATES", "0")
    code, _, err = run(capsys, "collections")
    assert code == 1 and "QUARRY_CANDIDATES" in err


def test_collections_lists_counts(settings_env, tmp_path, capsys):
    code, out, _ = run(capsys, "collections")
    assert code == 0 and "no collections" in out
    run(capsys, "index", str(write_mixed_corpus(tmp_path / "corpus")), "-c", "c", "--no-progress")
    code, out, _ = run(capsys, "collections", "--json")
    [row] = json.loads(out)
    assert row["name"] == "c" and row["documents"] == 4 and row["chunks"] >= 4


def test_search_reranks_with_a_local_cross_encoder(settings_env, tmp_path, capsys, monkeypatch, tiny_reranker_path):
    monkeypatch.setenv("QUARRY_RERANKER", tiny_reranker_path)
    run(capsys, "index", str(write_mixed_corpus(tmp_path / "corpus")), "-c", "c", "--no-progress")
    code, out, _ = run(capsys, "search", "bread", "-c", "c", "--json")
    result = json.loads(out)
    assert code == 0 and result["reranked"] is True and "rerank" in result["timings_ms"]
    code, out, _ = run(capsys, "search", "bread", "-c", "c", "--json", "--no-rerank")
    assert json.loads(out)["reranked"] is False


def test_unloadable_reranker_degrades_with_a_reason(settings_env, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("QUARRY_RERANKER", "nobody/missing-cross-encoder")
    run(capsys, "index", str(write_mixed_corpus(tmp_path / "corpus")), "-c", "c", "--no-progress")
    code, out, _ = run(capsys, "search", "bread", "-c", "c", "--json")
    result = json.loads(out)
    assert code == 0 and result["reranked"] is False and "could not load reranker" in result["rerank_note"]
    assert result["hits"]


def test_rehash_and_delete_by_id_and_by_path(settings_env, tmp_path, capsys):
    corpus = write_mixed_corpus(tmp_path / "corpus")
    assert run(capsys, "index", str(corpus), "-c", "c", "--no-progress")[0] == 0
    code, out, _ = run(capsys, "index", str(corpus), "-c", "c", "--no-progress", "--rehash", "--json")
    assert code == 0 and (json.loads(out)["loaded"], json.loads(out)["unchanged"]) == (4, 4)  # read again, nothing changed
    code, out, err = run(capsys, "delete", "corpus/bikes.html", str(corpus / "tea.pdf"), "nowhere/x", "-c", "c")
    assert code == 0 and "removed 2 document(s)" in out and "no document with id or source 'nowhere/x'" in err
    code, out, _ = run(capsys, "delete", str(corpus), "-c", "c", "--dry-run")
    assert "would remove 2 document(s)" in out
    assert run(capsys, "delete", "nowhere/x", "-c", "c")[0] == 1
