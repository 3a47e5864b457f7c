"""Load sentence-transformers models once per (reference, device, dtype, backend) and share them."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from models.device import DeviceChoice, torch_dtype
from models.errors import ModelLoadError
from models.onnx_backend import require_onnxruntime
from models.resolve import hub_kwargs, resolve_model_reference

log = logging.getLogger(__name__)

_cache: dict[tuple, object] = {}
_lock = threading.Lock()


@dataclass(frozen=True)
class ModelKind:
    """How one kind of model is loaded: the sentence-transformers class for the torch backend and the
    ONNX Runtime wrapper for the others (each imported on first load: the libraries are slow to import).
    `name` labels messages and the cache keys."""

    name: str
    torch_class: Callable[[], type]
    onnx_class: Callable[[], type]


def _sentence_transformer() -> type:
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer


def _cross_encoder() -> type:
    from sentence_transformers import CrossEncoder

    return CrossEncoder


def _onnx_sentence_encoder() -> type:
    from models.onnx_backend import OnnxSentenceEncoder

    return OnnxSentenceEncoder


def _onnx_cross_encoder() -> type:
    from models.onnx_backend import OnnxCrossEncoder

    return OnnxCrossEncoder


EMBEDDER = ModelKind("embedder", _sentence_transformer, _onnx_sentence_encoder)
RERANKER = ModelKind("reranker", _cross_encoder, _onnx_cross_encoder)


def _load(kind: ModelKind, reference: str, choice: DeviceChoice, allow_downloads: bool, backend: str = "torch", cache_dir=None):
    resolved = resolve_model_reference(reference, allow_downloads)
    extra = hub_kwargs(resolved, allow_downloads)
    if backend != "torch":
        require_onnxruntime()  # fail before loading anything when the optional package is missing
        choice_for_torch = DeviceChoice("cpu", "float32")  # the ONNX export starts from the fp32 CPU model
    else:
        choice_for_torch = choice
    try:
        model = kind.torch_class()(resolved.location, device=choice_for_torch.device, **extra)
    except Exception as exc:  # the libraries raise many kinds; one clear message is what a user needs
        where = "directory" if resolved.is_local else "hub id"
        hint = (
            ""
            if resolved.is_local or allow_downloads
            else " (not in the local cache; set QUARRY_ALLOW_DOWNLOADS=true to fetch it, or point to a local directory)"
        )
        first_line = (str(exc).strip().splitlines() or [""])[0][:300]
        raise ModelLoadError(f"could not load {kind.name} {where} {reference!r}{hint}: {type(exc).__name__}: {first_line}") from exc
    if backend != "torch":
        return _onnx(kind, model, resolved.location, backend, choice, cache_dir)
    if choice.dtype != "float32":
        model.to(torch_dtype(choice.dtype))
    model.eval()
    return model


def _onnx(kind: ModelKind, model, location: str, backend: str, choice: DeviceChoice, cache_dir):
    if cache_dir is None:
        raise ModelLoadError(f"the {backend} backend needs a cache directory for the exported model (QUARRY_ONNX_CACHE_DIR)")
    try:
        return kind.onnx_class()(model, Path(cache_dir), location, backend, choice)
    except ModelLoadError:
        raise
    except Exception as exc:  # the exporter and onnxruntime raise many kinds
        first_line = (str(exc).strip().splitlines() or [""])[0][:300]
        raise ModelLoadError(f"could not run {kind.name} {location!r} with backend {backend}: {type(exc).__name__}: {first_line}") from exc


def load_shared(
    kind: ModelKind, reference: str, choice: DeviceChoice, allow_downloads: bool = False, backend: str = "torch", cache_dir=None
):
    key = (kind.name, reference, choice.device, choice.dtype, backend, None if backend == "torch" else str(cache_dir))
    with _lock:
        model = _cache.get(key)
        if model is None:
            log.info("loading %s %s on %s (%s, backend %s)", kind.name, reference, choice.device, choice.dtype, backend)
            model = _load(kind, reference, choice, allow_downloads, backend, cache_dir)
            _cache[key] = model
        return model


def clear_cache() -> None:
    with _lock:
        _cache.clear()
