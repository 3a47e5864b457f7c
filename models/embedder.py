"""Bi-encoder: texts -> L2-normalized float32 vectors."""

from __future__ import annotations

import numpy as np

from models.loading import EMBEDDER
from models.shared_model import SharedModel

PIPELINE_MIN_TEXTS = 128  # on CUDA, lists this long go through the pipelined encoder (an indexing batch is 512 documents)


class Embedder(SharedModel):
    """Cheap to construct; `load()` (or the first use) loads the shared model."""

    kind = EMBEDDER

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._pipeline = None

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
        if self.choice.is_cuda and len(texts) >= PIPELINE_MIN_TEXTS and self.backend_in_use == "torch":
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
        if self.backend_in_use != "torch":
            return self.encode(texts)
        if self._pipeline is None:
            from models.pipeline_encode import PipelinedEncoder

            self._pipeline = PipelinedEncoder(self)
        return self._pipeline.encode(texts)
