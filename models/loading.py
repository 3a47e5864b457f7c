"""Load sentence-transformers models once per (reference, device, dtype, backend) and share them."""

from __future__ import annotations

import logging
import threading

from models.device import DeviceChoice, torch_dtype
from models.errors import ModelLoadError
from models.resolve import hub_kwargs, resolve_model_reference

log = logging.getLogger(__name__)

_cache: dict[tuple, object] = {}
_lock = threading.Lock()


def _load(kind: str, reference: str, choice: DeviceChoice, allow_downloads: bool):
    resolved = resolve_model_reference(reference, allow_downloads)
    extra = hub_kwargs(resolved, allow_downloads)
    try:
        if kind == "embedder":
            from sentence_transformers import SentenceTransformer

            model = SentenceTransformer(resolved.location, device=choice.device, **extra)
        else:
            from sentence_transformers import CrossEncoder

            model = CrossEncoder(resolved.location, device=choice.device, **extra)
    except Exception as exc:  # the libraries raise many kinds; one clear message is what a user needs
        where = "directory" if resolved.is_local else "hub id"
        hint = (
            ""
            if resolved.is_local or allow_downloads
            else " (not in the local cache; set QUARRY_ALLOW_DOWNLOADS=true to fetch it, or point to a local directory)"
        )
        first_line = (str(exc).strip().splitlines() or [""])[0][:300]
        raise ModelLoadError(f"could not load {kind} {where} {reference!r}{hint}: {type(exc).__name__}: {first_line}") from exc
    if choice.dtype != "float32":
        model.to(torch_dtype(choice.dtype))
    model.eval()
    return model


def load_shared(kind: str, reference: str, choice: DeviceChoice, allow_downloads: bool = False, backend: str = "torch"):
    key = (kind, reference, choice.device, choice.dtype, backend)
    with _lock:
        model = _cache.get(key)
        if model is None:
            log.info("loading %s %s on %s (%s)", kind, reference, choice.device, choice.dtype)
            model = _load(kind, reference, choice, allow_downloads)
            _cache[key] = model
        return model


def clear_cache() -> None:
    with _lock:
        _cache.clear()
