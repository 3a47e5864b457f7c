"""The speed settings reach the models and new collections."""

import numpy as np

from service.runtime import Runtime
from service.search.pipeline import search
from service.settings import load_settings


def test_onnx_backend_and_index_type_from_settings(settings_env, monkeypatch, tiny_embedder):
    monkeypatch.setenv("QUARRY_BACKEND", "onnx")
    monkeypatch.delenv("QUARRY_ONNX_CACHE_DIR", raising=False)  # the session's shared cache (tests/conftest.py)
    monkeypatch.setenv("QUARRY_INDEX_TYPE", "auto")
    monkeypatch.setenv("QUARRY_ANN_THRESHOLD", "2")
    settings = load_settings()
    assert settings.onnx_cache == settings.data_dir / "onnx-cache"
    runtime = Runtime(settings)
    try:
        assert runtime.embedder.backend == "onnx"
        collection = runtime.create_collection("docs")
        assert (collection.manifest.index_type, collection.manifest.ann_threshold) == ("auto", 2)
        from indexer.documents import Document

        runtime.indexer(collection).upsert([Document(f"d{i}", t) for i, t in enumerate(["the bread", "a red cat", "the sun"])])
        assert collection.index.approximate  # 3 chunks > threshold 2
        result = search(collection, runtime.embedder, "a red cat", mode="dense", rerank=False)
        assert result.hits[0].doc_id == "d1"
        assert any(settings.onnx_cache.rglob("model.onnx"))
        cos = float(np.dot(runtime.embedder.encode(["the sun"])[0], tiny_embedder.encode(["the sun"])[0]))
        assert cos > 0.999
    finally:
        runtime.close()


def test_default_backend_is_onnx_on_a_cpu_with_torch_vectors(settings_env, tiny_embedder, shared_onnx_cache):
    settings = load_settings()
    assert settings.backend == "auto" and settings.onnx_cache == shared_onnx_cache
    runtime = Runtime(settings)
    try:
        assert runtime.embedder.backend_in_use == "onnx"  # auto on a CPU (QUARRY_DEVICE=cpu in the tests)
        assert any(shared_onnx_cache.rglob("model.onnx"))
        texts = ["the bread", "a red cat and the sun"]
        cosines = (runtime.embedder.encode(texts) * tiny_embedder.encode(texts)).sum(axis=1)
        assert cosines.min() > 0.999  # a collection indexed with torch is searched as well with onnx, and back
    finally:
        runtime.close()
