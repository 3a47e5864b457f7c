import sqlite3

from tests.cli_runner import run
from tests.corpus_factory import write_mixed_corpus


def test_check_healthy_damaged_and_repaired(settings_env, tmp_path, capsys):
    corpus = write_mixed_corpus(tmp_path / "corpus")
    assert run(capsys, "index", str(corpus), "-c", "c", "--no-progress")[0] == 0
    code, out, _ = run(capsys, "check", "-c", "c")
    assert code == 0 and out.strip().startswith("c: ok (4 documents,")
    conn = sqlite3.connect(settings_env / "collections" / "c" / "quarry.sqlite", isolation_level=None)
    conn.execute("DELETE FROM chunks_fts WHERE rowid = (SELECT MIN(chunk_id) FROM chunks)")
    conn.close()
    code, out, _ = run(capsys, "check", "-c", "c")
    assert code == 1
    assert "c: problem: fts: 1 chunk(s) are missing from the full-text index" in out
    assert "c: 1 problem(s)" in out and "--repair" in out
    code, out, _ = run(capsys, "check", "-c", "c", "--repair")
    assert code == 0 and "c: repaired: rebuilt the full-text index" in out and "c: ok (" in out
    code, out, _ = run(capsys, "check")  # every collection
    assert code == 0 and out.startswith("c: ok")


def test_check_unknown_and_invalid_names(settings_env, capsys):
    code, _, err = run(capsys, "check", "-c", "nope")
    assert code == 1 and err.startswith("error: collection 'nope' not found")
    code, _, err = run(capsys, "check", "-c", "../etc")
    assert code == 1 and "invalid collection name" in err
