"""Sealed segments (indexer.segments): written without the lock, made live by one commit, read as one collection."""

import numpy as np
import pytest

from indexer.collection import Collection
from indexer.documents import Document
from indexer.layout import INDEX_FILE, Manifest
from indexer.pipeline import Indexer
from indexer.segments import SegmentConflict, SegmentWriter, commit_segments, orphans, segments_dir, write_segment

TEXTS = {
    f"d{i}": text
    for i, text in enumerate(
        [
            "the bread rises in a warm oven", "the planet circles the sun", "flour water salt and yeast make bread",
            "a comet has a long tail of ice", "sourdough needs a starter culture", "the moon pulls the tides",
            "rye bread is dense and dark", "jupiter is the largest planet", "knead the dough for ten minutes",
            "saturn has bright rings of ice",
        ]
    )
}


@pytest.fixture
def make(catalog, tiny_embedder, tiny_embedder_path):
    def make(name):
        manifest = Manifest(name, tiny_embedder_path, tiny_embedder.dimension, chunk_size=32, chunk_overlap=4)
        return catalog.create(manifest)

    return make


def prepared(collection, embedder, ids, suffix=""):
    indexer = Indexer(collection, embedder)
    return indexer.embed(indexer.diff([Document(i, TEXTS[i] + suffix) for i in ids])).prepared


def truth(collection: Collection) -> list[int]:
    """Every live collection-wide chunk id, read through the public reads (not the vector index)."""
    ids = collection.store.chunk_ids().tolist()
    if collection.segments:
        ids += collection.segments.chunk_ids().tolist()
    return sorted(ids)


def consistent(collection: Collection) -> None:
    assert sorted(collection.index.ids().tolist()) == truth(collection)


def hits(collection, embedder, query, k=5):
    dense = collection.chunks([cid for cid, _ in collection.dense_search(embedder.encode([query])[0], k)])
    lexical = collection.lexical_search(query, k)
    return [c.doc_id for c in dense.values()], [collection.chunks([cid])[cid].doc_id for cid, _ in lexical]


def test_segments_read_like_one_collection(make, tiny_embedder):
    one, split = make("one"), make("split")
    Indexer(one, tiny_embedder).upsert([Document(i, t) for i, t in TEXTS.items()])
    ids = list(TEXTS)
    split.write(prepared(split, tiny_embedder, ids[:4]))  # the base holds some, two segments the rest
    infos = [write_segment(split.directory, "job1-0", prepared(split, tiny_embedder, ids[4:7])),
             write_segment(split.directory, "job1-1", prepared(split, tiny_embedder, ids[7:]))]  # fmt: skip
    assert split.counts()["documents"] == 4  # written, not committed: invisible
    commit_segments(split, infos)
    assert split.counts() == one.counts()
    assert split.content_hashes(ids) == one.content_hashes(ids)
    assert split.get_document("d8").text == TEXTS["d8"]
    assert [d.doc_id for d in split.list_documents(100)] == [d.doc_id for d in one.list_documents(100)]
    consistent(split)
    for query in ("bread oven", "planet rings", "ice"):
        assert sorted(hits(split, tiny_embedder, query, 10)[0]) == sorted(hits(one, tiny_embedder, query, 10)[0])
        assert set(hits(split, tiny_embedder, query, 10)[1]) == set(hits(one, tiny_embedder, query, 10)[1])
    assert split.lexical_search("jupiter", 3)[0][0] >> 40 > 0  # a sealed row, named collection-wide


def test_write_segment_is_idempotent_and_commit_twice_is_harmless(make, tiny_embedder):
    c = make("c")
    docs = prepared(c, tiny_embedder, ["d1", "d2"])
    first = write_segment(c.directory, "job-7", docs)
    assert write_segment(c.directory, "job-7", docs) == first  # a retried task
    with pytest.raises(SegmentConflict):
        write_segment(c.directory, "job-7", prepared(c, tiny_embedder, ["d3"]))
    generation = commit_segments(c, [first]).generation
    assert commit_segments(c, [first]).generation == generation + 1  # nothing committed twice
    assert c.counts() == {"documents": 2, "chunks": 2}
    consistent(c)


def test_replace_and_delete_across_segments(make, tiny_embedder):
    c = make("c")
    c.write(prepared(c, tiny_embedder, ["d0", "d1"]))
    commit_segments(c, [write_segment(c.directory, "a", prepared(c, tiny_embedder, ["d1", "d2", "d3"]))])
    assert c.get_document("d1").text == TEXTS["d1"] and c.counts()["documents"] == 4
    # a later segment wins over an older one; deletes in the same commit
    commit_segments(c, [write_segment(c.directory, "b", prepared(c, tiny_embedder, ["d2"], " again"))], deletes=["d3"])
    assert c.get_document("d2").text == TEXTS["d2"] + " again"
    assert c.get_document("d3") is None and c.counts() == {"documents": 3, "chunks": 3}
    assert {c.chunks([cid])[cid].doc_id for cid, _ in c.lexical_search("again", 5)} == {"d2"}  # the old copy is dead
    consistent(c)
    # a write to the base replaces a segment's copy; a delete removes one
    c.write(prepared(c, tiny_embedder, ["d2"], " third"))
    assert c.get_document("d2").text == TEXTS["d2"] + " third"
    assert c.delete(["d1", "nope"]) == 1
    assert c.counts() == {"documents": 2, "chunks": 2}
    assert {c.chunks([cid])[cid].doc_id for cid, _ in c.lexical_search("bread planet comet sun", 10)} == {"d0", "d2"}
    consistent(c)


def test_reopen_and_rebuild_cover_the_segments(make, tiny_embedder, tiny_embedder_path):
    c = make("c")
    c.write(prepared(c, tiny_embedder, ["d0"]))
    commit_segments(c, [write_segment(c.directory, "s", prepared(c, tiny_embedder, ["d1", "d2"]))])
    c.close()
    again = Collection.open(c.directory, tiny_embedder_path)
    consistent(again)
    assert again.counts()["chunks"] == 3
    again.close()
    (c.directory / INDEX_FILE).unlink()
    rebuilt = Collection.open(c.directory, tiny_embedder_path)
    consistent(rebuilt)
    found = rebuilt.dense_search(tiny_embedder.encode([TEXTS["d2"]])[0], 10)
    assert {c.doc_id for c in rebuilt.chunks([cid for cid, _ in found]).values()} == {"d0", "d1", "d2"}
    assert rebuilt.vectors(np.array(truth(rebuilt))).shape == (3, tiny_embedder.dimension)
    rebuilt.close()


def test_uncommitted_segments_are_orphans(make, tiny_embedder, tiny_embedder_path):
    c = make("c")
    write_segment(c.directory, "never", prepared(c, tiny_embedder, ["d1"]))
    writer = SegmentWriter(c.directory, "half")
    writer.write(prepared(c, tiny_embedder, ["d2"]))  # a writer killed before finish()
    c.close()
    again = Collection.open(c.directory, tiny_embedder_path)
    assert again.counts() == {"documents": 0, "chunks": 0}
    assert len(orphans(c.directory, [])) == 2 and segments_dir(c.directory).is_dir()
    again.close()


def test_check_sees_segments_and_repair_removes_orphans(make, tiny_embedder):
    from indexer.integrity import check_collection, repair_collection

    c = make("c")
    c.write(prepared(c, tiny_embedder, ["d0"]))
    commit_segments(c, [write_segment(c.directory, "live", prepared(c, tiny_embedder, ["d1", "d2"]))])
    write_segment(c.directory, "orphan", prepared(c, tiny_embedder, ["d3"]))  # crashed before its commit
    c.save_index()
    report = check_collection(c.directory)
    assert report.healthy, report.findings
    assert (report.documents, report.chunks) == (3, 3)
    assert [f.area for f in report.warnings] == ["segments"] and "orphan" in report.warnings[0].message
    actions = repair_collection(c.directory)
    assert any("orphan" in a for a in actions)
    assert [p.name for p in segments_dir(c.directory).iterdir()] == ["live"]
    assert check_collection(c.directory).findings == []


def test_snapshot_and_restore_carry_the_segments(make, tiny_embedder, catalog, tmp_path):
    from indexer.backup import verify_snapshot

    c = make("c")
    c.write(prepared(c, tiny_embedder, ["d0"]))
    commit_segments(c, [write_segment(c.directory, "s1", prepared(c, tiny_embedder, ["d1", "d2"]))])
    write_segment(c.directory, "orphan", prepared(c, tiny_embedder, ["d3"]))
    info = catalog.snapshot("c", tmp_path / "snap")
    assert (info.documents, info.chunks) == (3, 3)
    assert sorted(info.files) == ["collection.json", "quarry.sqlite", "segments/s1/quarry.sqlite", "segments/s1/segment.json"]
    verify_snapshot(tmp_path / "snap")
    restored = catalog.restore(tmp_path / "snap", "copy")
    assert restored.counts() == c.counts() and restored.get_document("d2").text == TEXTS["d2"]
    consistent(restored)
