"""Bi-encoder: texts -> L2-normalized float32 vectors."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from models.device import DeviceChoice, select_device
from models.loading import load_shared
from models.onnx_backend import validate_backend

PIPELINE_MIN_TEXTS = 128  # on CUDA, lists this long go through the pipelined encoder (an indexing batch is ~64 documents)


class Embedder:
    """Cheap to construct; `load()` (or the first use) loads the shared model."""

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
        self._pipeline = None

    def load(self) -> "Embedder":
        if self._model is None:
            self._model = load_shared(
                "embedder", self.reference, self.choice, self.allow_downloads, self.backend, self.cache_dir
            )
        return self

    @property
    def model(self):
        return self.load()._model

    @property
    def dimension(self) -> int:
        model = self.model
        getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        return int(getter())

    @property
    def max_seq_length(self) -> int:
        return int(self.model.max_seq_length)

    @property
    def tokenizer(self):
        return self.model.tokenizer

    def encode(self, texts: list[str], batch_size: int | None = None, show_progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        if self.backend == "torch" and self.choice.is_cuda and len(texts) >= PIPELINE_MIN_TEXTS:
            return self.encode_bulk(texts)
        vectors = self.model.encode(
            list(texts),
            batch_size=batch_size or self.batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=show_progress,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def encode_bulk(self, texts: list[str]) -> np.ndarray:
        """Large lists through the pipelined encoder (see models.pipeline_encode); same vectors as encode()."""
        if self.backend != "torch":
            return self.encode(texts)
        if self._pipeline is None:
            from models.pipeline_encode import PipelinedEncoder

            self._pipeline = PipelinedEncoder(self)
        return self._pipeline.encode(texts)

    def encode_query(self, query: str) -> np.ndarray:
        return self.encode([query])[0]
