"""What the embedder and the reranker share: a cheap constructor, and `load()` of one shared model."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from models.device import DeviceChoice, select_device
from models.loading import ModelKind, load_shared_entry
from models.onnx_backend import validate_backend


class SharedModel:
    kind: ModelKind  # how this kind loads (models.loading.EMBEDDER or RERANKER)

    def __init__(
        self,
        reference: str,
        device: str = "auto",
        dtype: str = "auto",
        batch_size: int | None = None,
        allow_downloads: bool = False,
        backend: str = "torch",
        cache_dir: str | Path | None = None,
    ):
        self.reference = reference
        self._device, self._dtype, self._batch_size = device, dtype, batch_size
        self.allow_downloads = allow_downloads
        self.backend = validate_backend(backend)  # as asked for; `auto` is resolved when the model loads
        self.cache_dir = cache_dir  # where the onnx backends keep their exported models
        self._model = None
        self._backend_in_use: str | None = None

    def spec(self) -> dict:
        """The constructor's arguments: how another process (a Ray worker) makes the same model."""
        return dict(reference=self.reference, device=self._device, dtype=self._dtype, batch_size=self._batch_size,
                    allow_downloads=self.allow_downloads, backend=self.backend,
                    cache_dir=None if self.cache_dir is None else str(self.cache_dir))  # fmt: skip

    @cached_property
    def choice(self) -> DeviceChoice:
        """Chosen on first use: asking torch about CUDA imports it (seconds), which a lexical search never needs."""
        return select_device(self._device, self._dtype)

    @property
    def batch_size(self) -> int:
        return self._batch_size or self.choice.default_batch_size

    def load(self):
        """Load (or take from the shared cache) the model; constructing does no work, this does."""
        if self._model is None:
            loaded = load_shared_entry(self.kind, self.reference, self.choice, self.allow_downloads, self.backend, self.cache_dir)
            self._model, self._backend_in_use = loaded.model, loaded.backend
        return self

    @property
    def backend_in_use(self) -> str:
        """What runs the model (loads it): `auto` resolved for this device, or torch after a fallback."""
        self.load()
        assert self._backend_in_use is not None
        return self._backend_in_use

    @property
    def model(self):
        return self.load()._model
