"""The seam between the models and the code that uses them: what an embedder and a reranker must offer.

indexer/ and service/ type against these, never against Embedder or Reranker, so a wrapper (the API's
thread-safe GuardedEmbedder, a test double) is checked against one short list instead of forwarding
every attribute it might be asked for.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from models.device import DeviceChoice


@runtime_checkable
class TextEncoder(Protocol):
    """Texts -> L2-normalized float32 vectors (an Embedder, or anything that wraps one)."""

    @property
    def reference(self) -> str: ...  # the model it was configured with (hub id, directory, or the default's name)

    @property
    def choice(self) -> DeviceChoice: ...  # where it runs; the indexer sizes batches by it

    @property
    def batch_size(self) -> int: ...

    @property
    def dimension(self) -> int: ...

    @property
    def max_seq_length(self) -> int: ...  # tokens the model reads; the chunker keeps chunks within it

    @property
    def tokenizer(self) -> Any: ...  # a Hugging Face tokenizer: the chunker and token counts use the model's own

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


@runtime_checkable
class PairScorer(Protocol):
    """(query, passages) -> one relevance score per passage, higher is better (a cross-encoder Reranker)."""

    @property
    def reference(self) -> str: ...

    @property
    def choice(self) -> DeviceChoice: ...

    def score(self, query: str, passages: list[str]) -> np.ndarray: ...
