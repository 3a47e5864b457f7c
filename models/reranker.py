"""Cross-encoder: (query, passage) pairs -> relevance scores."""

from __future__ import annotations

import numpy as np

from models.loading import RERANKER
from models.shared_model import SharedModel


class Reranker(SharedModel):
    kind = RERANKER

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
