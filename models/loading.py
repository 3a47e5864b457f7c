"""Load sentence-transformers models once per (reference, device, dtype, backend) and share them."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from models.device import DeviceChoice, torch_dtype
from models.errors import ModelLoadError
from models.onnx_backend import ONNX_INSTALL, OnnxUnavailable, require_onnxruntime, resolve_backend
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
    fast_onnx: bool = False  # onnx_class has from_cache(): an earlier export starts without torch


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


EMBEDDER = ModelKind("embedder", _sentence_transformer, _onnx_sentence_encoder, fast_onnx=True)
RERANKER = ModelKind("reranker", _cross_encoder, _onnx_cross_encoder)


@dataclass(frozen=True)
class Loaded:
    """A shared model and the backend that runs it (`auto` resolved, or torch after a fallback)."""

    model: object
    backend: str


def _load(kind: ModelKind, reference: str, choice: DeviceChoice, allow_downloads: bool, backend: str = "torch", cache_dir=None,
          fallback: bool = False) -> Loaded:  # fmt: skip
    """fallback: when ONNX Runtime cannot run the model (missing package, failed export), use torch with one
    warning instead of failing; that is what backend `auto` asks for."""
    resolved = resolve_model_reference(reference, allow_downloads)
    extra = hub_kwargs(resolved, allow_downloads)
    if backend != "torch":
        try:
            require_onnxruntime()  # fail before loading anything when the optional package is missing
        except OnnxUnavailable as exc:
            if not fallback:
                raise
            _warn_fallback(kind, exc)
            backend = "torch"
    if backend != "torch" and kind.fast_onnx and cache_dir is not None:
        try:
            cached = kind.onnx_class().from_cache(Path(cache_dir), resolved.location, backend, choice)
        except Exception as exc:  # noqa: BLE001 - onnxruntime could not open the cached graph: the torch path says why
            log.info("cached ONNX %s not usable (%s: %s)", kind.name, type(exc).__name__, exc)
            cached = None
        if cached is not None:
            return Loaded(cached, backend)
    choice_for_torch = choice if backend == "torch" else DeviceChoice("cpu", "float32")  # ONNX exports the fp32 CPU model
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
        try:
            return Loaded(_onnx(kind, model, resolved.location, backend, choice, cache_dir), backend)
        except OnnxUnavailable as exc:
            if not fallback:
                raise
            _warn_fallback(kind, exc)
            if choice_for_torch != choice:  # the fp32 CPU copy is not what torch on this device wants
                return _load(kind, reference, choice, allow_downloads)
    if choice.dtype != "float32":
        model.to(torch_dtype(choice.dtype))
    model.eval()
    return Loaded(model, "torch")


def _warn_fallback(kind: ModelKind, exc: OnnxUnavailable) -> None:
    """The one line a user sees when backend auto cannot use ONNX Runtime: why, and the ways out."""
    log.warning(
        "%s: backend auto runs torch instead of ONNX Runtime (slower on a CPU) because %s. To fix: %s; or set "
        "QUARRY_BACKEND=torch to choose torch and silence this", kind.name, str(exc).rstrip("."), exc.fix,
    )  # fmt: skip


def _onnx(kind: ModelKind, model, location: str, backend: str, choice: DeviceChoice, cache_dir):
    if cache_dir is None:
        raise OnnxUnavailable(
            f"the {backend} backend needs a cache directory for the exported model", fix="set QUARRY_ONNX_CACHE_DIR"
        )
    try:
        return kind.onnx_class()(model, Path(cache_dir), location, backend, choice)
    except ModelLoadError:
        raise
    except Exception as exc:  # the exporter and onnxruntime raise many kinds
        first_line = (str(exc).strip().splitlines() or [""])[0][:300]
        raise OnnxUnavailable(
            f"could not run {kind.name} {location!r} with backend {backend}: {type(exc).__name__}: {first_line}",
            fix=f"check that {cache_dir} is writable and that onnx and onnxruntime import ({ONNX_INSTALL}); "
            "the export is tried again at the next start",
        ) from exc


def load_shared(
    kind: ModelKind, reference: str, choice: DeviceChoice, allow_downloads: bool = False, backend: str = "torch", cache_dir=None
):
    return load_shared_entry(kind, reference, choice, allow_downloads, backend, cache_dir).model


def load_shared_entry(
    kind: ModelKind, reference: str, choice: DeviceChoice, allow_downloads: bool = False, backend: str = "torch", cache_dir=None
) -> Loaded:
    """The shared model for this key, loaded on first use. backend `auto` is resolved here (models.onnx_backend
    .resolve_backend) and falls back to torch, once per process and key, when ONNX Runtime cannot run the model."""
    fallback = backend == "auto"
    backend = resolve_backend(backend, choice)
    key = (kind.name, reference, choice.device, choice.dtype, backend, None if backend == "torch" else str(cache_dir))
    with _lock:
        loaded = _cache.get(key)
        if loaded is None:
            log.info("loading %s %s on %s (%s, backend %s)", kind.name, reference, choice.device, choice.dtype, backend)
            loaded = _load(kind, reference, choice, allow_downloads, backend, cache_dir, fallback)
            _cache[key] = loaded
        return loaded


def clear_cache() -> None:
    with _lock:
        _cache.clear()
