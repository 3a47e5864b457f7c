"""`--writers N`: parallel segments give the collection one writer gives; BM25 does not depend on segments."""

import json
import random

import pytest

from indexer.documents import Document
from indexer.layout import Manifest
from indexer.pipeline import Indexer
from indexer.segments import commit_segments, write_segment
from indexer.writers import default_writers

WORDS = ("bread oven flour yeast planet comet orbit moon tide river delta salt water rye dough starter crust "
         "jupiter saturn ring ice dust storm wind harbor ship sail").split()  # fmt: skip
QUERIES = ["bread oven", "planet ring ice", "salt water river", "sail ship harbor storm", "yeast"]


def corpus(n=48, seed=0):
    rng = random.Random(seed)
    return [(f"p{i:03d}", " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 30)))) for i in range(n)]


@pytest.fixture
def make(catalog, tiny_embedder, tiny_embedder_path):
    def make(name):
        return catalog.create(Manifest(name, tiny_embedder_path, tiny_embedder.dimension, chunk_size=16, chunk_overlap=2))

    return make


def write_jsonl(path, docs):
    path.write_text("".join(json.dumps({"_id": i, "title": "", "text": t}) + "\n" for i, t in docs))
    return path


def ranked(collection, hits):
    """Doc id and score of each hit, ties ordered by doc id (chunk ids differ between layouts by design).
    Hits tied with the last one are left as their score and count: which of a tie make the cut is arbitrary."""
    chunks = collection.chunks([cid for cid, _ in hits])
    out = sorted(((chunks[cid].doc_id, chunks[cid].ordinal, round(score, 6)) for cid, score in hits), key=lambda h: (-h[2], h[0], h[1]))
    last = out[-1][2] if out else None
    return [h for h in out if h[2] != last] + [("tied", len([h for h in out if h[2] == last]), last)]


def snapshot(collection, embedder):
    docs = {d.doc_id: (d.text, d.content_hash, d.n_chunks) for d in collection.list_documents(1000)}
    dense = [ranked(collection, collection.dense_search(embedder.encode([q])[0], 10)) for q in QUERIES]
    lexical = [ranked(collection, collection.lexical_search(q, 10)) for q in QUERIES]
    return collection.counts(), docs, dense, lexical


def test_writers_4_build_what_writers_1_builds(make, tiny_embedder, tmp_path):
    source = write_jsonl(tmp_path / "corpus.jsonl", corpus())
    one, four = make("one"), make("four")
    r1 = Indexer(one, tiny_embedder, batch_documents=5).index_paths([source], progress=False)
    r4 = Indexer(four, tiny_embedder, batch_documents=5, writers=4).index_paths([source], progress=False)
    assert (r1.added, r1.chunks) == (r4.added, r4.chunks) == (48, one.counts()["chunks"])
    assert len(four.segments.live) == 4 and four.store.counts() == (0, 0)  # all of it in the four segments
    assert snapshot(four, tiny_embedder) == snapshot(one, tiny_embedder)
    again = Indexer(four, tiny_embedder, batch_documents=5, writers=4).index_paths([source], progress=False, rehash=True)
    assert (again.added, again.updated, again.unchanged) == (0, 0, 48)
    assert len(four.segments.live) == 4


def test_repeated_and_changed_documents_across_writers(make, tiny_embedder, tmp_path):
    docs = corpus(20)
    c = make("c")
    Indexer(c, tiny_embedder, batch_documents=4, writers=3).index_paths([write_jsonl(tmp_path / "a.jsonl", docs)], progress=False)
    changed = [(i, t + " comet") if n % 3 == 0 else (i, t) for n, (i, t) in enumerate(docs)]
    changed += [("p001", "the last copy of p001 wins")]  # the same id twice in one run
    report = Indexer(c, tiny_embedder, batch_documents=4, writers=3).index_paths([write_jsonl(tmp_path / "a.jsonl", changed)], progress=False)
    assert report.updated == 8 and c.counts()["documents"] == 20
    assert c.get_document("p001").text == "the last copy of p001 wins"
    assert c.get_document("p003").text.endswith(" comet")
    assert sorted(c.index.ids().tolist()) == sorted(c.store.chunk_ids().tolist() + c.segments.chunk_ids().tolist())


def test_bm25_is_the_same_in_one_segment_and_in_many(make, tiny_embedder):
    docs = [Document(i, t, title="rye" if n % 5 == 0 else "") for n, (i, t) in enumerate(corpus(60, seed=3))]
    one, many = make("one"), make("many")
    Indexer(one, tiny_embedder).upsert(docs)
    indexer = Indexer(many, tiny_embedder)
    prepared = indexer.embed(indexer.diff(docs)).prepared
    random.Random(1).shuffle(prepared)
    sizes = [1, 2, 5, 13, 39]  # very uneven segments: per-segment statistics would reorder the top 10
    infos, start = [], 0
    for n, size in enumerate(sizes):
        infos.append(write_segment(many.directory, f"s{n}", prepared[start : start + size]))
        start += size
    commit_segments(many, infos)
    for query in QUERIES + ["rye bread", "moon"]:
        assert ranked(many, many.lexical_search(query, 10)) == ranked(one, one.lexical_search(query, 10)), query


def test_default_writers_follow_the_cores():
    assert [default_writers(c) for c in (1, 2, 3, 4, 8, 16, 64)] == [1, 1, 1, 2, 4, 4, 4]
