"""The indexing job's batches: chunk + embed of one batch runs beside the commit of the one before."""

import json
from types import SimpleNamespace

import numpy as np
import pytest

from indexer.layout import Manifest
from indexer.pipeline import Indexer, default_batch_documents


@pytest.fixture
def collection(catalog, tiny_embedder, tiny_embedder_path):
    return catalog.create(Manifest("jobs", tiny_embedder_path, tiny_embedder.dimension, chunk_size=32, chunk_overlap=4))


def _jsonl(path, records):
    path.write_text("".join(json.dumps({"_id": i, "text": t}) + "\n" for i, t in records))
    return path


class FailingEmbedder:
    """The tiny embedder, failing once it has embedded `after` batches."""

    def __init__(self, embedder, after):
        self.embedder, self.after, self.calls = embedder, after, 0

    def __getattr__(self, name):
        return getattr(self.embedder, name)

    def encode(self, texts, **kwargs):
        self.calls += 1
        if self.calls > self.after:
            raise RuntimeError("out of GPU memory")
        return self.embedder.encode(texts, **kwargs)


def test_an_id_repeated_in_a_later_batch_is_counted_against_the_batch_in_flight(tmp_path, collection, tiny_embedder):
    records = [("d1", "bread and butter"), ("d1", "bread and butter"), ("d2", "the red planet"), ("d2", "the blue planet")]
    source = _jsonl(tmp_path / "a.jsonl", records)
    report = Indexer(collection, tiny_embedder, batch_documents=1).index_paths([source], progress=False)
    assert (report.added, report.updated, report.unchanged) == (2, 1, 1)
    assert collection.store.get_document("d2").text == "the blue planet"
    assert sorted(collection.index.ids().tolist()) == collection.store.chunk_ids().tolist()


def test_a_failing_batch_keeps_every_batch_committed_before_it(tmp_path, collection, tiny_embedder):
    source = _jsonl(tmp_path / "c.jsonl", [(f"d{i}", f"passage number {i} about bread") for i in range(5)])
    indexer = Indexer(collection, FailingEmbedder(tiny_embedder, after=2), batch_documents=1)
    with pytest.raises(RuntimeError, match="out of GPU memory"):
        indexer.index_paths([source], progress=False)
    assert collection.counts()["documents"] == 2  # d0 and d1; nothing half-written
    assert sorted(collection.index.ids().tolist()) == collection.store.chunk_ids().tolist()
    report = Indexer(collection, tiny_embedder, batch_documents=2).index_paths([source], progress=False)
    assert (report.added, report.unchanged) == (3, 2)


def test_a_cancelled_job_keeps_what_it_committed_and_drops_the_batch_in_flight(tmp_path, collection, tiny_embedder):
    source = _jsonl(tmp_path / "c.jsonl", [(f"d{i}", f"passage number {i}") for i in range(6)])
    seen = []

    def cancel_after_first(progress):
        seen.append(progress.report.added)
        if progress.report.added >= 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        Indexer(collection, tiny_embedder, batch_documents=2).index_paths([source], progress=False, on_progress=cancel_after_first)
    assert seen == [0, 2] and collection.counts()["documents"] == 2


def test_vectors_match_embedding_each_chunk_directly(tmp_path, collection, tiny_embedder):
    texts = [f"document {i}: " + "words about the sea " * (i % 7 + 1) for i in range(40)]
    source = _jsonl(tmp_path / "e.jsonl", [(f"d{i}", t) for i, t in enumerate(texts)])
    Indexer(collection, tiny_embedder, batch_documents=7).index_paths([source], progress=False)
    ids, vectors = next(collection.store.iter_vectors(batch=1000))
    chunks = collection.store.chunks_by_id(ids)
    expected = tiny_embedder.encode([chunks[int(i)].text for i in ids])
    assert np.allclose(vectors, expected, atol=1e-5)


def test_batches_are_larger_on_a_gpu(tiny_embedder):
    assert default_batch_documents(tiny_embedder) == 64  # the tests run on CPU
    assert default_batch_documents(SimpleNamespace(choice=SimpleNamespace(is_cuda=True))) == 512
