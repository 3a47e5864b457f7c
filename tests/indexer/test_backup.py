"""Snapshots: consistent beside a writer, checksummed, restorable in another data dir under any name."""

from __future__ import annotations

import json
import threading

import pytest

from indexer.backup import SNAPSHOT_FILE, SnapshotError, verify_snapshot
from indexer.catalog import Catalog
from indexer.documents import Document
from indexer.errors import CollectionExists
from indexer.integrity import check_collection
from indexer.layout import DATABASE, Manifest
from indexer.pipeline import Indexer


@pytest.fixture
def source(catalog, tiny_embedder, tiny_embedder_path):
    manifest = Manifest("docs", tiny_embedder_path, tiny_embedder.dimension, chunk_size=24, chunk_overlap=4, index_type="auto")
    collection = catalog.create(manifest)
    Indexer(collection, tiny_embedder).upsert([Document(f"d{i}", f"bread flour planet number {i}. " * 3, metadata={"n": i}) for i in range(10)])
    return collection


def _ranked(collection, vector):
    return [cid for cid, _ in collection.dense_search(vector, 5)], collection.lexical_search("planet number 7", 5)


def test_snapshot_beside_a_writer_restores_elsewhere_with_the_same_results(catalog, source, tiny_embedder, tmp_path):
    stop, wrote_one, failures = threading.Event(), threading.Event(), []

    def writer():  # another writer keeps committing batches while the snapshot is taken
        i = 0
        try:
            while not stop.is_set():
                Indexer(source, tiny_embedder).upsert([Document(f"w{i}-{j}", f"water tea number {i} {j}. " * 2) for j in range(3)])
                i += 1
                wrote_one.set()
        except Exception as exc:  # noqa: BLE001 - reported by the test
            failures.append(exc)
            wrote_one.set()

    thread = threading.Thread(target=writer)
    thread.start()
    assert wrote_one.wait(60)
    info = catalog.snapshot("docs", tmp_path / "snap")
    stop.set()
    thread.join(60)
    assert not failures
    assert info.documents >= 13 and info.documents % 3 == 1  # 10 + whole batches of 3, never part of one
    assert set(json.loads((tmp_path / "snap" / SNAPSHOT_FILE).read_text())["files"]) == {"collection.json", DATABASE}
    assert sorted(p.name for p in (tmp_path / "snap").iterdir()) == ["collection.json", DATABASE, SNAPSHOT_FILE]

    elsewhere = Catalog(tmp_path / "other-machine")
    restored = elsewhere.restore(tmp_path / "snap")
    assert restored.name == "docs" and restored.counts()["documents"] == info.documents
    assert check_collection(restored.directory).healthy
    snapshot_state = Catalog(tmp_path / "third").restore(tmp_path / "snap", "copy")
    vector = tiny_embedder.encode(["planet number 7"])[0]
    assert _ranked(restored, vector) == _ranked(snapshot_state, vector)
    assert restored.store.get_document("d7").metadata == {"n": 7}
    elsewhere.close()


def test_restore_refuses_a_damaged_copy_and_a_taken_name(catalog, source, tmp_path):
    catalog.snapshot("docs", tmp_path / "snap")
    with pytest.raises(CollectionExists):
        catalog.restore(tmp_path / "snap")
    copy = catalog.restore(tmp_path / "snap", "docs-copy")
    assert copy.counts() == source.counts() and copy.manifest.name == "docs-copy"
    with pytest.raises(SnapshotError, match="already exists"):
        catalog.snapshot("docs", tmp_path / "snap")
    db = tmp_path / "snap" / DATABASE
    data = bytearray(db.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped bit
    db.write_bytes(bytes(data))
    with pytest.raises(SnapshotError, match="does not match its checksum"):
        verify_snapshot(tmp_path / "snap")
    with pytest.raises(SnapshotError, match="checksum"):
        catalog.restore(tmp_path / "snap", "other")
    assert not catalog.exists("other") and not any(p.name.startswith(".") for p in catalog.root.iterdir())


def test_cli_snapshot_and_restore_round_trip(source, catalog, tmp_path, capsys):
    from service.cli import main

    data_dir = catalog.root.parent
    source.save_index()
    assert main(["--data-dir", str(data_dir), "snapshot", "--collection", "docs", str(tmp_path / "b1")]) == 0
    assert "quarry restore" in capsys.readouterr().out
    assert main(["--data-dir", str(tmp_path / "new"), "restore", str(tmp_path / "b1"), "--collection", "moved", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"collection": "moved", "documents": 10, "chunks": source.counts()["chunks"]}
    assert main(["--data-dir", str(data_dir), "snapshot", "--collection", "nope", str(tmp_path / "b2")]) == 1
    assert "'nope' not found" in capsys.readouterr().err


def test_a_reindex_swap_cut_between_its_renames_puts_the_old_copy_back(catalog, source, tiny_embedder, tmp_path):
    """swap_in renames NAME aside, then the new copy in; a crash between the two must never lose NAME."""
    before = source.lexical_search("planet number 7", 5)
    root = catalog.root
    catalog.close()
    (root / "docs").rename(root / ".docs.old")  # the state a kill -9 between the renames leaves
    (root / ".docs.reindex-half").mkdir()  # and a never-committed new copy beside it

    reopened = Catalog(root.parent)
    assert reopened.names() == ["docs"] and not (root / ".docs.old").exists()
    collection = reopened.open("docs")
    assert collection.counts()["documents"] == 10 and collection.lexical_search("planet number 7", 5) == before
    reopened.close()

    # a server that stays up sees the same repair on its next lookup of the name
    (root / "docs").rename(root / ".docs.old")
    assert reopened.exists("docs") and reopened.open("docs").counts()["documents"] == 10
