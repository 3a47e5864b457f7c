"""Cross-encoder: (query, passage) pairs -> relevance scores."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from models.device import DeviceChoice, select_device
from models.loading import load_shared
from models.onnx_backend import validate_backend


class Reranker:
    def __init__(
        self,
        reference: str,
        device: str = "auto",
        dtype: str = "auto",
        batch_size: int = 64,
        allow_downloads: bool = False,
        backend: str = "torch",
        cache_dir: str | Path | None = None,
    ):
        self.reference = reference
        self.choice: DeviceChoice = select_device(device, dtype)
        self.batch_size = batch_size
        self.allow_downloads = allow_downloads
        self.backend = validate_backend(backend)
        self.cache_dir = cache_dir  # where the onnx backends keep their exported models
        self._model = None

    def load(self) -> "Reranker":
        if self._model is None:
            self._model = load_shared(
                "reranker", self.reference, self.choice, self.allow_downloads, self.backend, self.cache_dir
            )
        return self

    @property
    def model(self):
        return self.load()._model

    def score(self, query: str, passages: list[str]) -> np.ndarray:
        """Raw model scores (logits for single-label cross-encoders); higher is more relevant."""
        if not passages:
            return np.zeros((0,), dtype=np.float32)
        pairs = [(query, passage) for passage in passages]
        scores = self.model.predict(pairs, batch_size=self.batch_size, convert_to_numpy=True, show_progress_bar=False)
        scores = np.asarray(scores, dtype=np.float32)
        if scores.ndim == 2:  # multi-label heads: take the last ("relevant") column
            scores = scores[:, -1]
        return scores
