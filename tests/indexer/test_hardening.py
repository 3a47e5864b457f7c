"""Issue 14 at the storage boundary: what a write may store, what `check` sees, and how a collection heals."""

from __future__ import annotations

import json
import math
import sqlite3
import unicodedata

import numpy as np
import pytest

from indexer.collection import Collection
from indexer.layout import INDEX_FILE, Manifest
from indexer.documents import MAX_METADATA_DEPTH, Document
from indexer.errors import InvalidDocument, InvalidDocumentId, InvalidName, StorageError
from indexer.integrity import QUARANTINE, check_collection, repair_collection
from indexer.pipeline import Indexer
from indexer.store import Store


def _make(catalog, tiny_embedder, tiny_embedder_path, name="docs", index_type="flat", n=8):
    manifest = Manifest(name, tiny_embedder_path, tiny_embedder.dimension, chunk_size=24, chunk_overlap=4, index_type=index_type)
    collection = catalog.create(manifest)
    docs = [Document(f"d{i}", f"the bread flour water planet number {i}. " * (2 + i % 3), metadata={"n": i}) for i in range(n)]
    Indexer(collection, tiny_embedder).upsert(docs)
    collection.save_index()
    return collection


@pytest.fixture
def filled(catalog, tiny_embedder, tiny_embedder_path):
    return _make(catalog, tiny_embedder, tiny_embedder_path)


def _deep(levels: int) -> dict:
    value: dict = {}
    for _ in range(levels):
        value = {"a": value}
    return value


@pytest.mark.parametrize(
    "metadata, phrase",
    [
        ({"x": math.nan}, "metadata.x: nan is not a finite number"),
        ({"x": [1, math.inf]}, "metadata.x[1]: inf is not a finite number"),
        ({"x": -math.inf}, "not a finite number"),
        ({"big": 2**64}, "does not fit in 64 bits"),
        (_deep(500), f"nested more than {MAX_METADATA_DEPTH} levels deep"),
        ({"blob": "x" * 70_000}, "bytes as JSON"),
        ({"s": "\ud800"}, "lone UTF-16 surrogate"),
    ],
)
def test_metadata_no_search_could_read_is_refused_before_any_write(filled, tiny_embedder, metadata, phrase):
    with pytest.raises(InvalidDocument, match="document 'bad'") as refused:
        Indexer(filled, tiny_embedder).upsert([Document("ok", "the bread"), Document("bad", "the bread", metadata=metadata)])
    assert phrase in str(refused.value)
    assert filled.store.get_document("ok") is None  # the whole call was refused


@pytest.mark.parametrize("field", ["text", "title", "source"])
def test_lone_surrogates_in_text_fields_are_refused(filled, tiny_embedder, field):
    doc = Document("bad", "the bread")
    setattr(doc, field, "broken \udc80 text")
    with pytest.raises(InvalidDocument) as refused:
        Indexer(filled, tiny_embedder).upsert([doc])
    assert refused.value.field == field
    with pytest.raises(InvalidDocumentId, match="surrogate"):
        Indexer(filled, tiny_embedder).upsert([Document("id\udc80", "the bread")])


def test_jsonl_records_with_nan_are_skipped_with_a_warning(filled, tiny_embedder, tmp_path):
    lines = ['{"_id": "good", "text": "the bread", "metadata": {"n": 1}}',
             '{"_id": "nan", "text": "the bread", "metadata": {"n": NaN}}',
             '{"_id": "inf", "text": "the bread", "metadata": {"n": -Infinity}}']  # fmt: skip
    (tmp_path / "corpus.jsonl").write_text("\n".join(lines) + "\n")
    report = Indexer(filled, tiny_embedder).index_paths([tmp_path / "corpus.jsonl"], progress=False)
    assert (report.added, report.skipped) == (1, 2)
    assert sum("not a finite number" in w for w in report.warnings) == 2
    assert filled.store.get_document("nan") is None and filled.store.get_document("good") is not None
    assert check_collection(filled.directory).healthy


def test_nfc_and_nfd_spellings_of_an_id_are_one_document(filled, tiny_embedder):
    nfc, nfd = unicodedata.normalize("NFC", "café/ü.md"), unicodedata.normalize("NFD", "café/ü.md")
    assert nfc != nfd
    Indexer(filled, tiny_embedder).upsert([Document(nfc, "the bread")])
    report = Indexer(filled, tiny_embedder).upsert([Document(nfd, "the bread, changed")])
    assert (report.added, report.updated) == (0, 1)
    assert filled.store.get_document(nfd).text == "the bread, changed" == filled.store.get_document(nfc).text
    assert filled.delete([nfd]) == 1 and filled.store.get_document(nfc) is None


def test_check_finds_stored_nan_metadata_and_repair_quarantines_it(filled):
    conn = sqlite3.connect(filled.directory / "quarry.sqlite", isolation_level=None)
    conn.execute("UPDATE documents SET metadata = ? WHERE doc_id = 'd3'", (json.dumps({"n": math.nan}),))  # as older versions stored it
    conn.execute("UPDATE documents SET metadata = ? WHERE doc_id = 'd5'", (json.dumps(_deep(40)),))
    conn.close()
    where = {"n": {"gte": 0}}
    with pytest.raises(sqlite3.OperationalError, match="malformed JSON"):
        filled.lexical_search("bread", 10, where)  # what every filtered search met
    report = check_collection(filled.directory)
    [problem] = [str(f) for f in report.problems]
    assert "2 document(s) hold metadata that breaks filtered searches" in problem and "'d3'" in problem
    filled.store.close()
    actions = repair_collection(filled.directory)
    assert any(QUARANTINE in a and "'d3'" in a and "'d5'" in a for a in actions), actions
    assert check_collection(filled.directory).healthy
    reopened = Collection.open(filled.directory)
    hits = reopened.lexical_search("bread", 50, where)
    ids = {reopened.store.chunks_by_id([cid])[cid].doc_id for cid, _ in hits}
    assert ids == {f"d{i}" for i in range(8)} - {"d3", "d5"}
    kept = reopened.store.conn.execute(f"SELECT doc_id, reason FROM {QUARANTINE} ORDER BY doc_id").fetchall()
    assert [k[0] for k in kept] == ["d3", "d5"] and "finite" in kept[0][1]
    reopened.close()


@pytest.mark.parametrize("index_type", ["flat", "hnsw", "auto"])
def test_check_compares_faiss_vectors_for_every_index_type(catalog, tiny_embedder, tiny_embedder_path, index_type):
    collection = _make(catalog, tiny_embedder, tiny_embedder_path, name=f"c-{index_type}", index_type=index_type)
    assert check_collection(collection.directory).healthy
    path = collection.directory / INDEX_FILE
    data = bytearray(path.read_bytes())
    [(chunk_id, vector)] = [(i, v) for i, v in zip(*next(collection.store.iter_vectors(1)))]
    at = bytes(data).find(vector.astype(np.float32).tobytes())
    assert at > 0, "the vector's bytes are in the file"
    data[at : at + vector.nbytes] = np.full(vector.shape, 0.5, np.float32).tobytes()  # overwritten in place
    path.write_bytes(bytes(data))
    problems = [str(f) for f in check_collection(collection.directory).problems]
    assert any(f"differ from SQLite: chunk ids {chunk_id}" in p for p in problems), problems
    collection.store.close()
    repair_collection(collection.directory)
    assert check_collection(collection.directory).healthy


def test_a_connection_opened_read_only_is_reopened_once_writes_are_possible(filled, tiny_embedder):
    """SQLite opens a file it may not write read-only and keeps it so; permissions fixed, writes must work."""
    path = filled.directory / "quarry.sqlite"
    filled.store._local.conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None, check_same_thread=False)
    Indexer(filled, tiny_embedder).upsert([Document("new", "the planet")])
    assert filled.store.get_document("new") is not None
    assert filled.delete(["new"]) == 1

    class StillReadOnly(Store):  # permissions not fixed: the second refusal is the answer, one clear error
        def _connect(self):
            return sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, isolation_level=None, check_same_thread=False)

    filled.store.__class__ = StillReadOnly
    filled.store._reconnect()
    with pytest.raises(StorageError, match="read-only or not writable"):
        filled.delete(["d0"])
    filled.store.__class__ = Store
    filled.store._reconnect()


def test_check_does_not_call_an_unopenable_database_damaged(filled, monkeypatch):
    import indexer.integrity as integrity

    def cannot_open(directory):
        raise sqlite3.OperationalError("unable to open database file")

    monkeypatch.setattr(integrity, "connect", cannot_open)
    [problem] = [str(f) for f in check_collection(filled.directory).problems]
    assert "could not be opened" in problem and "says nothing about damage" in problem
    assert "restore a backup" not in problem and "re-index" not in problem


@pytest.mark.parametrize("name", ["evil\n", "evil\r\n", "ok\nmore", "x" * 64 + "\n"])
def test_collection_names_with_a_trailing_newline_are_refused(catalog, name):
    with pytest.raises(InvalidName):
        catalog.path(name)
