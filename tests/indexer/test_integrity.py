"""check_collection / repair_collection on healthy and damaged collections; refused writes; id validation."""

from __future__ import annotations

import errno
import sqlite3

import pytest

import indexer.locking
from indexer.collection import Collection
from indexer.layout import INDEX_FILE, INDEX_STAMP, MANIFEST, Manifest
from indexer.documents import MAX_DOC_ID_LENGTH, Document, validate_doc_id
from indexer.errors import InvalidDocumentId, InvalidName, StorageError
from indexer.integrity import check_collection, repair_collection
from indexer.pipeline import Indexer
from indexer.store import Store


@pytest.fixture
def filled(catalog, tiny_embedder, tiny_embedder_path):
    manifest = Manifest("docs", tiny_embedder_path, tiny_embedder.dimension, chunk_size=24, chunk_overlap=4)
    collection = catalog.create(manifest)
    Indexer(collection, tiny_embedder).upsert([Document(f"d{i}", "the bread flour water planet. " * (2 + i % 3)) for i in range(8)])
    collection.save_index()
    return collection


def _sql(collection: Collection, *statements: str) -> None:
    conn = sqlite3.connect(collection.directory / "quarry.sqlite", isolation_level=None)
    for statement in statements:
        conn.execute(statement)
    conn.close()


def test_healthy_collection_has_no_findings(filled):
    report = check_collection(filled.directory)
    assert report.healthy and report.findings == []
    assert (report.documents, report.chunks) == (8, filled.counts()["chunks"])


def test_damage_is_found_then_repaired(filled):
    filled.store.close()
    _sql(
        filled,
        "DELETE FROM chunks_fts WHERE rowid = (SELECT MIN(chunk_id) FROM chunks)",
        "UPDATE documents SET n_chunks = 99 WHERE doc_id = 'd1'",
        "INSERT INTO chunks (doc_id, ordinal, text, start, end, heading_path, vector)"
        " SELECT 'ghost', 0, text, start, end, heading_path, vector FROM chunks LIMIT 1",
        "UPDATE chunks SET vector = X'0000' WHERE doc_id = 'd2' AND ordinal = 0",
    )
    report = check_collection(filled.directory)
    text = "\n".join(str(f) for f in report.problems)
    assert not report.healthy
    for expected in ["not 128 bytes", "belong to no document", "'d1' says 99", "missing from the full-text index"]:
        assert expected in text
    actions = repair_collection(filled.directory)
    assert any("orphan" in a for a in actions) and any("'d2'" in a for a in actions)
    assert any(a.startswith("rebuilt vectors.faiss") for a in actions)
    after = check_collection(filled.directory)
    assert after.healthy and not after.warnings, [str(f) for f in after.findings]
    reopened = Collection.open(filled.directory)
    assert reopened.store.get_document("d2").content_hash == ""  # re-indexing its source re-embeds it
    assert reopened.lexical_search("bread", 50)
    reopened.close()


def test_faiss_that_claims_to_be_current_but_is_not_is_a_problem(filled, tiny_embedder):
    saved = (filled.directory / INDEX_FILE).read_bytes()
    Indexer(filled, tiny_embedder).upsert([Document("d0", "the planet replaced")])  # same count, other ids
    filled.save_index()
    (filled.directory / INDEX_FILE).write_bytes(saved)  # an old file under a current stamp
    problems = [str(f) for f in check_collection(filled.directory).problems]
    assert any("claims generation" in p for p in problems), problems
    repair_collection(filled.directory)
    assert check_collection(filled.directory).healthy


@pytest.mark.parametrize("damage", ["missing", "truncated", "stale-stamp"])
def test_derived_index_damage_is_a_warning_healed_on_open(filled, damage, caplog):
    path = filled.directory / INDEX_FILE
    if damage == "missing":
        path.unlink()
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[:40])
    else:
        (filled.directory / INDEX_STAMP).write_text('{"generation": 0, "count": 1}')
    report = check_collection(filled.directory)
    assert report.healthy and [f.area for f in report.warnings] == ["faiss"]
    filled.store.close()
    Collection.open(filled.directory).close()
    assert "rebuilding" in caplog.text or "caught up" in caplog.text
    assert not check_collection(filled.directory).findings


def test_missing_manifest_and_database_are_reported(tmp_path):
    (tmp_path / "c").mkdir()
    problems = [str(f) for f in check_collection(tmp_path / "c").problems]
    assert any(MANIFEST in p for p in problems) and any("quarry.sqlite is missing" in p for p in problems)


def test_disk_full_mid_batch_leaves_the_collection_unchanged(filled, tiny_embedder, monkeypatch):
    before = filled.counts(), sorted(filled.index.ids().tolist())

    def full(self, conn):  # simulated: SQLite's own message when a write hits ENOSPC
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(Store, "_bump_generation", full)
    with pytest.raises(StorageError, match="the disk is full; free some space and run the same command again"):
        Indexer(filled, tiny_embedder).upsert([Document("new", "the planet"), Document("d0", "changed text")])
    monkeypatch.undo()
    assert (filled.counts(), sorted(filled.index.ids().tolist())) == before
    assert check_collection(filled.directory).healthy
    Indexer(filled, tiny_embedder).upsert([Document("new", "the planet")])  # and it still works after
    assert filled.counts()["documents"] == 9


def test_read_only_data_directory_is_one_clear_error(filled, tiny_embedder, monkeypatch):
    # simulated: tests run as root, where chmod does not stop writes
    def refuse(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    other = Collection.open(filled.directory)
    monkeypatch.setattr(indexer.locking.os, "open", refuse)
    with pytest.raises(StorageError, match="read-only or not writable"):
        Indexer(other, tiny_embedder).upsert([Document("new", "the planet")])
    monkeypatch.undo()
    readonly = sqlite3.OperationalError("attempt to write a readonly database")
    monkeypatch.setattr(Store, "_bump_generation", lambda self, conn: (_ for _ in ()).throw(readonly))
    with pytest.raises(StorageError, match="QUARRY_DATA_DIR"):
        other.delete(["d0"])
    monkeypatch.undo()
    assert other.counts()["documents"] == 8
    other.close()


@pytest.mark.parametrize("doc_id", ["", "   ", "a\nb", "tab\there", "nul\x00", "x" * (MAX_DOC_ID_LENGTH + 1), 42, None])
def test_bad_document_ids_are_refused(doc_id):
    with pytest.raises(InvalidDocumentId):
        validate_doc_id(doc_id)


def test_good_document_ids_pass_and_are_never_paths(filled, tiny_embedder):
    odd = ["../../etc/passwd", "/abs/path.md", "ünï cödé", "a" * MAX_DOC_ID_LENGTH]
    Indexer(filled, tiny_embedder).upsert([Document(i, "the bread") for i in odd])
    assert {p.name for p in filled.directory.iterdir()} <= {"collection.json", "quarry.sqlite", "quarry.sqlite-wal",
                                                            "quarry.sqlite-shm", "vectors.faiss", "vectors.json", "write.lock"}  # fmt: skip
    with pytest.raises(InvalidDocumentId):
        Indexer(filled, tiny_embedder).upsert([Document("ok", "the bread"), Document("bad\x1b[31m", "x")])
    assert filled.store.get_document("ok") is None  # the whole call was refused before any write


def test_collection_paths_stay_inside_the_data_directory(catalog):
    for name in ["..", "../x", "a/../../b", "/etc", "x\x00"]:
        with pytest.raises(InvalidName):
            catalog.path(name)
    assert catalog.path("ok.name-1").parent == catalog.root
