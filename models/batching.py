"""Micro-batching of concurrent query embeddings: one forward pass for the queries that arrive together.

A model call has a fixed cost (kernel launches on a GPU, framework overhead on a CPU) that a batch of 16
short queries pays once. Under concurrent load each request waits at most `max_wait_ms` for company; a
lone request goes through at once, since the worker is idle when it arrives.
"""

from __future__ import annotations

import queue
import threading
from concurrent.futures import Future

import numpy as np


class BatchingEmbedder:
    """Wraps an Embedder; single-text encode() calls from many threads are batched, the rest pass through."""

    def __init__(self, embedder, max_wait_ms: float = 2.0, max_batch: int = 64):
        self.embedder = embedder
        self.max_wait = max_wait_ms / 1000
        self.max_batch = max_batch
        self._queue: queue.Queue = queue.Queue()
        self._worker = threading.Thread(target=self._run, name="query-batcher", daemon=True)
        self._worker.start()
        self.batches = 0  # forward passes made, for tests and benchmarks
        self.requests = 0

    def __getattr__(self, name):  # dimension, tokenizer, load(), ... come from the wrapped embedder
        return getattr(self.embedder, name)

    def encode(self, texts: list[str], **kwargs) -> np.ndarray:
        if len(texts) != 1 or kwargs:
            return self.embedder.encode(texts, **kwargs)
        future: Future = Future()
        self._queue.put((texts[0], future))
        return future.result()[None, :]

    def encode_query(self, query: str) -> np.ndarray:
        return self.encode([query])[0]

    def _run(self) -> None:
        while True:
            pending = [self._queue.get()]
            # take whatever else is already waiting, then linger briefly for more only if there was company
            while len(pending) < self.max_batch:
                try:
                    pending.append(self._queue.get(timeout=self.max_wait if len(pending) > 1 else 0))
                except queue.Empty:
                    break
            try:
                vectors = self.embedder.encode([text for text, _ in pending])
            except BaseException as exc:  # every waiting caller gets the error, the worker lives on
                for _, future in pending:
                    future.set_exception(exc)
                continue
            self.batches += 1
            self.requests += len(pending)
            for (_, future), vector in zip(pending, vectors):
                future.set_result(vector)
