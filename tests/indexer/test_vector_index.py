"""One shared run against every index type the factory makes (and the auto index on both sides of its threshold)."""

import numpy as np
import pytest

from indexer.vectors import ann as ann_index
from indexer.vectors import pq
from indexer.vectors.ann import AutoIndex, HnswFaissIndex, IvfFaissIndex
from indexer.vectors.factory import create_index, load_index
from indexer.vectors.flat import FlatFaissIndex
from indexer.vectors.pq import IvfPqFaissIndex

DIM = 16


def _vectors(n: int, seed: int = 0) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


# (factory kind, kwargs): auto below its threshold is flat, above it is hnsw, ivf or (past ivfpq_threshold) ivfpq;
# ivfpq below its training minimum is exact, "ivfpq-trained" lowers the minimum so these sizes train it
FACTORIES = {
    "flat": ("flat", {}),
    "hnsw": ("hnsw", {}),
    "ivfpq": ("ivfpq", {}),
    "ivfpq-trained": ("ivfpq", {}),
    "auto-small": ("auto", {"ann_threshold": 10_000}),
    "auto-hnsw": ("auto", {"ann_threshold": 50, "ann_type": "hnsw"}),
    "auto-ivf": ("auto", {"ann_threshold": 50, "ann_type": "ivf"}),
    "auto-ivfpq": ("auto", {"ann_threshold": 10_000, "ivfpq_threshold": 300}),
}
MIN_TRAIN = {"ivfpq-trained": 300}


@pytest.fixture(params=list(FACTORIES))
def factory(request, monkeypatch):
    kind, options = FACTORIES[request.param]
    if request.param in MIN_TRAIN:
        monkeypatch.setattr(pq, "IVFPQ_MIN_TRAIN", MIN_TRAIN[request.param])
    return lambda: create_index(kind, DIM, **options), (kind, options)


def test_add_search_remove_save_load(factory, tmp_path):
    make, (kind, options) = factory
    index = make()
    assert len(index) == 0 and index.search(_vectors(1)[0], 5)[1].shape == (1, 0)
    vectors, ids = _vectors(400), np.arange(1000, 1400)
    index.add(ids[:200], vectors[:200])
    index.add(ids[200:], vectors[200:])
    assert len(index) == 400 and sorted(index.ids().tolist()) == ids.tolist()

    scores, found = index.search(vectors[7], 3)
    assert found[0, 0] == 1007 and scores[0, 0] == pytest.approx(1.0, abs=1e-4)
    assert list(scores[0]) == sorted(scores[0], reverse=True)

    index.remove(np.array([1007, 1008, 99999]))  # an unknown id is ignored
    assert len(index) == 398 and not {1007, 1008} & set(index.ids().tolist())
    _, found = index.search(vectors[7:9], 10)
    assert found.shape == (2, 10) and not {1007, 1008} & set(found.ravel().tolist())

    index.add(np.array([1007]), vectors[7:8])  # an id may come back after its removal
    assert index.search(vectors[7], 1)[1][0, 0] == 1007

    path = tmp_path / "vectors.faiss"
    index.save(path)
    loaded = load_index(kind, path, DIM, **options)
    assert sorted(loaded.ids().tolist()) == sorted(index.ids().tolist())
    assert loaded.search(vectors[3], 1)[1][0, 0] == 1003
    with pytest.raises(ValueError, match="dimension"):
        load_index(kind, path, DIM + 1, **options)


def test_approximate_recall_against_exact(factory):
    make, _ = factory
    index, exact = make(), FlatFaissIndex(DIM)
    vectors, ids = _vectors(2000, seed=1), np.arange(2000)
    for i in range(0, 2000, 500):
        index.add(ids[i : i + 500], vectors[i : i + 500])
        exact.add(ids[i : i + 500], vectors[i : i + 500])
    queries = _vectors(50, seed=2)
    got, want = index.search(queries, 10)[1], exact.search(queries, 10)[1]
    recall = np.mean([len(set(g) & set(w)) / 10 for g, w in zip(got, want)])
    assert recall >= 0.9


def test_auto_switches_past_its_threshold_and_stays():
    index = AutoIndex(DIM, threshold=100, ann_type="ivf")
    index.add(np.arange(100), _vectors(100))
    assert not index.approximate
    index.add(np.arange(100, 200), _vectors(100, seed=3))
    assert isinstance(index.inner, IvfFaissIndex) and len(index) == 200
    index.remove(np.arange(150))
    assert index.approximate and len(index) == 50


def test_auto_moves_on_to_ivfpq_past_the_second_threshold():
    index = AutoIndex(DIM, threshold=100, ann_type="hnsw", ivfpq_threshold=400)
    index.add(np.arange(300), _vectors(300))
    assert isinstance(index.inner, HnswFaissIndex)
    index.remove(np.arange(10))  # HNSW tombstones must not travel into the IVF-PQ index
    index.add(np.arange(300, 500), _vectors(200, seed=3))
    assert isinstance(index.inner, IvfPqFaissIndex) and index.inner.trained
    assert sorted(index.ids().tolist()) == list(range(10, 500))
    index.add(np.arange(500, 600), _vectors(100, seed=4))
    assert isinstance(index.inner, IvfPqFaissIndex) and len(index) == 590


def test_ivfpq_code_size_follows_the_dimension():
    assert [pq.pq_subquantizers(d) for d in (16, 100, 384, 768, 1024)] == [8, 10, 48, 96, 128]


def clustered(n: int, dim: int, clusters: int, seed: int) -> np.ndarray:
    """Unit vectors around `clusters` random centres, as real embeddings cluster by topic."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dim)).astype(np.float32)
    v = centres[rng.integers(0, clusters, n)] + 0.6 * rng.standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_ivfpq_recall_at_10_on_clustered_vectors(monkeypatch):
    """Trained (on a lowered minimum, for speed): re-scored IVF-PQ finds ~all of the exact top 10."""
    monkeypatch.setattr(pq, "IVFPQ_MIN_TRAIN", 3_000)
    dim, n = 32, 4_000
    data = clustered(n + 100, dim, clusters=50, seed=11)
    vectors, queries = data[:n], data[n:]
    index, exact = create_index("ivfpq", dim), FlatFaissIndex(dim)
    for start in range(0, n, 1_000):
        index.add(np.arange(start, min(n, start + 1_000)), vectors[start : start + 1_000])
    exact.add(np.arange(n), vectors)
    assert index.trained and index.index.pq.M == 8 and len(index) == n
    (got_scores, got), (want_scores, want) = index.search(queries, 10), exact.search(queries, 10)
    recall = np.mean([len(set(g) & set(w)) / 10 for g, w in zip(got, want)])
    assert recall >= 0.95
    # scores are exact cosines, not PQ estimates: where the ids agree, the scores agree
    agree = got == want
    assert agree.mean() > 0.8 and np.allclose(got_scores[agree], want_scores[agree], atol=1e-5)


def test_ivfpq_gpu_mirror_path_on_cpu(monkeypatch):
    """The GPU search path (a device copy of the trained index, dropped on writes) with a CPU stand-in;
    a device that refuses the index leaves searches on the CPU."""
    import faiss

    monkeypatch.setattr(pq, "IVFPQ_MIN_TRAIN", 300)
    index = IvfPqFaissIndex(DIM, use_gpu=True)
    copies = []
    monkeypatch.setattr(index, "_to_device", lambda trained: copies.append(1) or faiss.clone_index(trained))
    vectors = _vectors(400)
    index.add(np.arange(400), vectors)
    assert index.search(vectors[4], 1)[1][0, 0] == 4 and len(copies) == 1
    index.remove(np.array([4]))
    assert index.search(vectors[4], 1)[1][0, 0] != 4 and len(copies) == 2

    def refuse(trained):
        raise RuntimeError("no GPU here")

    monkeypatch.setattr(index, "_to_device", refuse)
    index.add(np.array([4]), vectors[4:5])
    assert index.search(vectors[4], 1)[1][0, 0] == 4 and not index.use_gpu


def test_hnsw_compacts_tombstones(monkeypatch):
    monkeypatch.setattr(ann_index, "COMPACT_FRACTION", 0.1)
    index = create_index("hnsw", DIM)
    index.add(np.arange(100), _vectors(100))
    index.remove(np.arange(5))
    assert index._removed and index.index.ntotal == 100
    index.remove(np.arange(5, 20))
    assert not index._removed and index.index.ntotal == 80 and len(index) == 80


def test_flat_gpu_mirror_path_on_cpu(monkeypatch):
    """The GPU search path (a device copy of the flat storage, positions mapped to ids) with a CPU stand-in."""
    import faiss

    index = FlatFaissIndex(DIM, use_gpu=True)
    copies = []
    monkeypatch.setattr(index, "_to_device", lambda flat: copies.append(1) or faiss.clone_index(flat))
    vectors = _vectors(50)
    index.add(np.arange(500, 550), vectors)
    assert index.search(vectors[4], 1)[1][0, 0] == 504
    index.add(np.array([900]), _vectors(1, seed=9))  # appended to the device copy, no re-copy
    assert index.search(_vectors(1, seed=9)[0], 1)[1][0, 0] == 900 and len(copies) == 1
    index.remove(np.array([504, 505]))  # positions shift: the device copy is rebuilt on the next search
    assert index.search(vectors[6], 1)[1][0, 0] == 506 and len(copies) == 2
    assert not {504, 505} & set(index.search(vectors[4:6], 5)[1].ravel().tolist())


@pytest.mark.gpu
def test_flat_index_on_a_real_gpu():
    from indexer.vectors.base import faiss_gpus

    assert faiss_gpus() > 0, "faiss sees no GPU: pip install faiss-gpu on a CUDA machine"
    index = FlatFaissIndex(DIM)
    assert index.use_gpu
    vectors = _vectors(100)
    index.add(np.arange(100), vectors)
    index.remove(np.array([3]))
    assert index.search(vectors[4], 1)[1][0, 0] == 4


@pytest.mark.parametrize("kind,ann_type", [("hnsw", "hnsw"), ("auto", "hnsw"), ("auto", "ivf")])
def test_collection_keeps_an_approximate_index_consistent(tmp_path, tiny_embedder, tiny_embedder_path, kind, ann_type):
    from indexer.collection import Collection
    from indexer.layout import Manifest
    from indexer.documents import Document
    from indexer.pipeline import Indexer

    manifest = Manifest("docs", tiny_embedder_path, tiny_embedder.dimension, 32, 4, kind, ann_threshold=3, ann_type=ann_type)
    directory = tmp_path / "docs"
    with Collection.create(directory, manifest) as collection:
        docs = [Document(f"d{i}", f"the {w} and the {w}") for i, w in enumerate("bread planet coffee cat dog tea".split())]
        Indexer(collection, tiny_embedder).upsert(docs)
        collection.delete(["d1"])
        Indexer(collection, tiny_embedder).upsert([Document("d2", "a changed text")])
        truth = collection.store.chunk_ids().tolist()
        assert sorted(collection.index.ids().tolist()) == truth
    with Collection.open(directory) as reopened:
        assert sorted(reopened.index.ids().tolist()) == truth
        [(top, score), *_] = reopened.dense_search(tiny_embedder.encode(["the tea and the tea"])[0], 3)
        assert reopened.store.chunks_by_id([top])[top].doc_id == "d5" and score == pytest.approx(1.0, abs=1e-4)


def test_collection_ivfpq_rescores_from_the_stored_vectors(tmp_path, tiny_embedder, tiny_embedder_path, monkeypatch):
    """Trained inside a collection, the index keeps codes only and re-scores with SQLite's float32 vectors,
    also after a reopen: hits carry the exact cosines, and deleted chunks never come back."""
    import zlib

    from indexer.collection import Collection
    from indexer.documents import Document
    from indexer.layout import Manifest
    from indexer.pipeline import Indexer

    dim = tiny_embedder.dimension

    def encode(texts, *args, **kwargs):  # distinct vectors per text (the tiny model's are nearly all alike)
        out = np.stack([np.random.default_rng(zlib.crc32(t.encode())).standard_normal(dim) for t in texts] or [np.zeros(dim)])
        return (out / np.linalg.norm(out, axis=1, keepdims=True)).astype(np.float32)[: len(texts)]

    monkeypatch.setattr(tiny_embedder, "encode", encode)
    monkeypatch.setattr(pq, "IVFPQ_MIN_TRAIN", 40)
    monkeypatch.setattr(pq, "PQ_BITS", 4)  # 16 centroids per sub-vector: trainable from a few dozen chunks
    manifest = Manifest("docs", tiny_embedder_path, dim, 32, 4, "ivfpq")
    directory = tmp_path / "docs"

    def exact_top(collection, probe, k):
        ids = np.array(sorted(collection.store.chunk_ids().tolist()))
        scores = collection.vectors(ids) @ probe
        return scores[np.argsort(-scores)[:k]]

    with Collection.create(directory, manifest) as collection:
        Indexer(collection, tiny_embedder).upsert([Document(f"d{i}", f"document number {i}") for i in range(60)])
        index = collection.index
        assert index.trained and index._copy is None and index.lookup is not None and len(index) == 60
        stored = collection.vectors(np.array(sorted(index.ids().tolist())))
        hits = collection.dense_search(stored[5], 5)
        assert [s for _, s in hits] == pytest.approx(exact_top(collection, stored[5], 5).tolist(), abs=1e-5)
        top = hits[0][0]
        doc = collection.chunks([top])[top].doc_id
        collection.delete([doc])
        assert top not in {cid for cid, _ in collection.dense_search(stored[5], 60)}
    with Collection.open(directory) as reopened:
        assert reopened.index.trained and reopened.index.lookup is not None and len(reopened.index) == 59
        hits = reopened.dense_search(stored[9], 3)
        assert hits[0][1] == pytest.approx(1.0, abs=1e-5)
        assert [s for _, s in hits] == pytest.approx(exact_top(reopened, stored[9], 3).tolist(), abs=1e-5)


def test_faiss_thread_setting_reaches_each_searching_thread(monkeypatch):
    """OpenMP's thread count is per thread: a search applies the setting in the thread it runs in."""
    import threading

    import faiss

    from indexer.vectors import base as vector_index

    monkeypatch.setattr(vector_index, "_faiss_threads", 1)
    index = FlatFaissIndex(DIM)
    index.add(np.arange(10), _vectors(10))
    seen = []
    worker = threading.Thread(target=lambda: (index.search(_vectors(1)[0], 3), seen.append(faiss.omp_get_max_threads())))
    worker.start()
    worker.join()
    assert seen == [1]
