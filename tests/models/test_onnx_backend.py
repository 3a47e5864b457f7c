"""The ONNX Runtime backends give the torch model's vectors and scores, and export once per model."""

import numpy as np
import pytest

from models import DEFAULT_EMBEDDER, Embedder, Reranker
from models.loading import clear_cache

TEXTS = [
    "the bread and the flour",
    "a red cat",
    "how do I fix a punctured bike tyre when the chain is off " * 3,
    "what",
    "coffee tastes bitter, why is that? " * 12,
]


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


@pytest.mark.parametrize("backend", ["onnx", "onnx-int8"])
def test_tiny_embedder_matches_torch(tiny_embedder, tiny_embedder_path, tmp_path, backend):
    onnx = Embedder(tiny_embedder_path, device="cpu", backend=backend, cache_dir=tmp_path, batch_size=2)
    expected = tiny_embedder.encode(TEXTS)
    got = onnx.encode(TEXTS)
    assert got.dtype == np.float32 and got.shape == expected.shape
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    threshold = 0.999 if backend == "onnx" else 0.98  # int8 weights of a random 32-dim model are coarse
    assert _cosines(got, expected).min() > threshold
    assert onnx.dimension == tiny_embedder.dimension and onnx.max_seq_length == tiny_embedder.max_seq_length


def test_export_is_cached_and_reused(tiny_embedder_path, tmp_path):
    Embedder(tiny_embedder_path, device="cpu", backend="onnx", cache_dir=tmp_path).load()
    [exported] = list(tmp_path.rglob("*.onnx"))
    stamp = exported.stat().st_mtime_ns
    clear_cache()  # a new process: only the disk cache is left
    Embedder(tiny_embedder_path, device="cpu", backend="onnx", cache_dir=tmp_path).encode(["again"])
    assert [p.stat().st_mtime_ns for p in tmp_path.rglob("*.onnx")] == [stamp]


def test_unknown_backend_is_a_clear_error(tiny_embedder_path):
    with pytest.raises(ValueError, match="onnx-int8"):
        Embedder(tiny_embedder_path, backend="tensorrt")


def test_minilm_onnx_matches_torch(minilm, tmp_path):
    onnx = Embedder(DEFAULT_EMBEDDER, device="cpu", backend="onnx", cache_dir=tmp_path)
    assert _cosines(onnx.encode(TEXTS), minilm.encode(TEXTS)).min() > 0.999


@pytest.mark.slow
def test_minilm_int8_stays_close(minilm, tmp_path):
    onnx = Embedder(DEFAULT_EMBEDDER, device="cpu", backend="onnx-int8", cache_dir=tmp_path)
    cosines = _cosines(onnx.encode(TEXTS), minilm.encode(TEXTS))
    # int8 is lossy, more so on one-word texts; its retrieval cost is measured by benchmarks/bench_backends.py
    assert cosines.min() > 0.95 and cosines.mean() > 0.98


@pytest.mark.parametrize("backend", ["onnx", "onnx-int8"])
def test_tiny_reranker_matches_torch(tiny_reranker_path, tmp_path, backend):
    passages = TEXTS + ["the planet and the sun"]
    expected = Reranker(tiny_reranker_path, device="cpu").score("bread flour", passages)
    got = Reranker(tiny_reranker_path, device="cpu", backend=backend, cache_dir=tmp_path, batch_size=4).score(
        "bread flour", passages
    )
    assert got.shape == expected.shape and got.dtype == np.float32
    assert np.allclose(got, expected, atol=1e-4 if backend == "onnx" else 2e-2)


def test_auto_is_onnx_on_a_cpu_and_torch_on_cuda():
    from models.device import DeviceChoice
    from models.onnx_backend import resolve_backend

    assert resolve_backend("auto", DeviceChoice("cpu", "float32")) == "onnx"
    assert resolve_backend("auto", DeviceChoice("cuda", "float16")) == "torch"
    assert resolve_backend("onnx-int8", DeviceChoice("cuda", "float16")) == "onnx-int8"


def test_auto_on_a_cpu_runs_onnx_with_torch_vectors(tiny_embedder, tiny_embedder_path, tmp_path):
    auto = Embedder(tiny_embedder_path, device="cpu", backend="auto", cache_dir=tmp_path)
    assert auto.backend_in_use == "onnx" and list(tmp_path.rglob("model.onnx"))
    assert _cosines(auto.encode(TEXTS), tiny_embedder.encode(TEXTS)).min() > 0.999


def _fallback_warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelname == "WARNING" and r.name.startswith("models")]


def test_auto_falls_back_to_torch_with_one_warning_when_export_fails(tiny_embedder, tiny_embedder_path, tmp_path, monkeypatch, caplog):
    import models.onnx_backend

    def broken_export(*args, **kwargs):
        raise RuntimeError("exporter broke\nwith a second line")

    monkeypatch.setattr(models.onnx_backend, "export_transformer", broken_export)
    with caplog.at_level("WARNING"):
        first = Embedder(tiny_embedder_path, device="cpu", backend="auto", cache_dir=tmp_path)
        vectors = first.encode(TEXTS)
        second = Embedder(tiny_embedder_path, device="cpu", backend="auto", cache_dir=tmp_path)  # same process: no new line
        second.encode(TEXTS[:1])
    assert first.backend_in_use == second.backend_in_use == "torch"
    assert np.allclose(vectors, tiny_embedder.encode(TEXTS), atol=1e-6)
    [warning] = _fallback_warnings(caplog)
    assert "\n" not in warning
    assert "RuntimeError: exporter broke" in warning and "QUARRY_BACKEND=torch" in warning and str(tmp_path) in warning
    assert not list(tmp_path.rglob("*.onnx"))


def test_auto_falls_back_when_onnxruntime_is_missing_but_explicit_onnx_fails(tiny_embedder_path, tmp_path, monkeypatch, caplog):
    import models.loading
    from models import ModelLoadError
    from models.onnx_backend import ONNX_INSTALL, OnnxUnavailable

    def missing():
        raise OnnxUnavailable("the onnx backends need onnxruntime and onnx", fix=ONNX_INSTALL)

    monkeypatch.setattr(models.loading, "require_onnxruntime", missing)
    with caplog.at_level("WARNING"):
        assert Embedder(tiny_embedder_path, device="cpu", backend="auto", cache_dir=tmp_path).backend_in_use == "torch"
    [warning] = _fallback_warnings(caplog)
    assert 'pip install "quarry[cpu]"' in warning
    with pytest.raises(ModelLoadError, match="need onnxruntime"):
        Embedder(tiny_embedder_path, device="cpu", backend="onnx", cache_dir=tmp_path / "explicit").load()


FRESH_START = """
import json, sys
from models import Embedder
embedder = Embedder(sys.argv[1], device="cpu", backend="onnx", cache_dir=sys.argv[2])
vectors = embedder.encode(json.loads(sys.argv[3]))
print(json.dumps({"vectors": vectors.tolist(), "torch": "torch" in sys.modules,
                  "sentence_transformers": "sentence_transformers" in sys.modules}))
"""


def _fresh_process(*args: str) -> dict:
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    done = subprocess.run([sys.executable, "-c", FRESH_START, *args], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_later_start_runs_the_cached_export_without_torch(tiny_embedder, tiny_embedder_path, tmp_path):
    import json

    Embedder(tiny_embedder_path, device="cpu", backend="onnx", cache_dir=tmp_path).load()  # exports, as a first start
    [spec] = list(tmp_path.rglob("encoder.json"))
    later = _fresh_process(tiny_embedder_path, str(tmp_path), json.dumps(TEXTS))
    assert not later["torch"] and not later["sentence_transformers"]  # the seconds a CPU start no longer spends
    assert _cosines(np.array(later["vectors"]), tiny_embedder.encode(TEXTS)).min() > 0.999

    spec.write_text("{damaged")  # a damaged entry costs one start through torch, which writes it again
    clear_cache()
    again = Embedder(tiny_embedder_path, device="cpu", backend="onnx", cache_dir=tmp_path)
    assert _cosines(again.encode(TEXTS), tiny_embedder.encode(TEXTS)).min() > 0.999
    assert json.loads(spec.read_text())["dimension"] == tiny_embedder.dimension


def test_cuda_check_needs_no_torch_on_a_linux_machine_without_gpu_devices():
    import os
    import subprocess
    import sys

    from models.device import _GPU_NODES

    code = "import sys; from models.device import cuda_available; print(cuda_available(), 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    if sys.platform.startswith("linux") and not any(os.path.exists(p) for p in _GPU_NODES):
        assert out == ["False", "False"]
    else:  # a GPU machine (or another OS): torch is asked
        import torch

        assert out == [str(torch.cuda.is_available()), "True"]
