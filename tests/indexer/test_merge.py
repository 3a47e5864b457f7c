"""Merging segments: the tiered plan, merge (dead rows dropped), optimize (back to one database)."""

import pytest

from indexer.documents import Document
from indexer.integrity import check_collection
from indexer.layout import Manifest
from indexer.merge import SegmentSize, maybe_merge, merge, optimize, plan
from indexer.pipeline import Indexer
from indexer.segments import commit_segments, segments_dir, write_segment
from tests.indexer.test_writers import QUERIES, corpus, ranked


@pytest.fixture
def make(catalog, tiny_embedder, tiny_embedder_path):
    def make(name):
        return catalog.create(Manifest(name, tiny_embedder_path, tiny_embedder.dimension, chunk_size=16, chunk_overlap=2))

    return make


def segmented(c, embedder, docs, sizes):
    """`docs` spread over sealed segments of these sizes, then a third of them replaced by one more segment."""
    indexer = Indexer(c, embedder)
    prepared = indexer.embed(indexer.diff(docs)).prepared
    infos, start = [], 0
    for n, size in enumerate(sizes):
        infos.append(write_segment(c.directory, f"s{n}", prepared[start : start + size]))
        start += size
    commit_segments(c, infos)
    changed = [Document(d.doc_id, d.text + " comet") for d in docs[::3]]
    commit_segments(c, [write_segment(c.directory, "changes", indexer.embed(indexer.diff(changed)).prepared)])
    return [Document(d.doc_id, d.text + " comet") if n % 3 == 0 else d for n, d in enumerate(docs)]


def state(c, embedder):
    docs = {d.doc_id: (d.text, d.content_hash) for d in c.list_documents(1000)}
    dense = [ranked(c, c.dense_search(embedder.encode([q])[0], 10)) for q in QUERIES]
    return c.counts(), docs, dense


def consistent(c):
    truth = c.store.chunk_ids().tolist() + (c.segments.chunk_ids().tolist() if c.segments else [])
    assert sorted(c.index.ids().tolist()) == sorted(truth)


def test_plan_merges_the_smallest_and_rewrites_dead_heavy_segments():
    few = [SegmentSize(f"s{i}", 10, 10) for i in range(4)]
    assert plan(few, per_tier=4) == []
    many = [SegmentSize(f"s{i}", 100 * i + 1, 100 * i + 1) for i in range(10)]
    assert plan(many, per_tier=4) == [["s0", "s1", "s2", "s3"], ["s4", "s5", "s6", "s7"]]
    assert plan([SegmentSize("big", 100, 100), SegmentSize("holey", 100, 50)], per_tier=4) == [["holey"]]


def test_merge_and_optimize_keep_the_collection_and_drop_dead_rows(make, tiny_embedder):
    docs = [Document(i, t) for i, t in corpus(40, seed=5)]
    reference, c = make("reference"), make("c")
    final = segmented(c, tiny_embedder, docs, [3, 7, 10, 20])
    Indexer(reference, tiny_embedder).upsert(final)
    assert state(c, tiny_embedder) == state(reference, tiny_embedder)
    merged = merge(c, ["s0", "s1", "s2", "s3"])
    assert [n for n, _ in c.segments.live] == ["changes", merged]
    rows = c.segments.store(merged).counts()
    assert rows == (26, c.counts()["chunks"] - c.segments.store("changes").counts()[1])  # only the live rows travelled
    assert state(c, tiny_embedder) == state(reference, tiny_embedder)
    consistent(c)
    assert sorted(p.name for p in segments_dir(c.directory).iterdir()) == sorted(["changes", merged])
    assert optimize(c) == 2 and not c.segments
    assert c.store.counts() == (40, reference.counts()["chunks"])
    assert state(c, tiny_embedder) == state(reference, tiny_embedder)
    for query in QUERIES:  # one database again: FTS5 ranks natively, as the reference
        assert ranked(c, c.lexical_search(query, 10)) == ranked(reference, reference.lexical_search(query, 10))
    consistent(c)
    c.save_index()
    assert check_collection(c.directory).findings == []


def test_maybe_merge_follows_the_plan(make, tiny_embedder):
    docs = [Document(i, t) for i, t in corpus(24, seed=6)]
    c = make("c")
    segmented(c, tiny_embedder, docs, [4] * 6)
    assert len(c.segments.live) == 7
    assert len(maybe_merge(c, per_tier=3)) == 2 and len(c.segments.live) == 3  # 7 -> 5 -> 3
    assert maybe_merge(c, per_tier=3) == []
    assert c.counts()["documents"] == 24
    consistent(c)


def test_background_merger_compacts_while_searches_read(make, tiny_embedder):
    from indexer.merge import BackgroundMerger

    docs = [Document(i, t) for i, t in corpus(24, seed=7)]
    c = make("c")
    segmented(c, tiny_embedder, docs, [4] * 6)
    before = state(c, tiny_embedder)
    merger = BackgroundMerger(lambda: [c], interval_s=0.01, per_tier=3)
    merger.start()
    try:
        while merger.rounds < 2:  # the first round merges; the second finds nothing more to do
            assert merger.round_done.wait(60)
            merger.round_done.clear()
            assert c.counts() == before[0]  # searches and reads see a whole collection at every moment
    finally:
        merger.close()
    assert len(c.segments.live) == 3 and state(c, tiny_embedder) == before
    consistent(c)
