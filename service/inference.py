"""Sharing models between the threads of a server.

Two problems, two small tools:
- Hugging Face fast tokenizers are not safe to use from several threads at once when calls differ in
  truncation settings (the chunker tokenizes without truncation, the embedder with it): the Rust side
  answers "Already borrowed". `GuardedEmbedder` and `GuardedReranker` serialize model calls behind one lock,
  and cut large encodes into lock-sized slices so a big upsert never stalls queries for long.
- On a GPU, many small forward passes waste it. `MicroBatcher` collects the texts that concurrent requests
  want embedded for a few milliseconds and embeds them in one call (dynamic batching).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future

import numpy as np

from models.protocols import PairScorer, TextEncoder

log = logging.getLogger(__name__)
_STOP = object()
GPU_SLICE_TEXTS = 1024


class _LockedTokenizer:
    """The tokenizer, with calls taken under the model lock; attributes pass through."""

    def __init__(self, tokenizer, lock: threading.RLock):
        self._tokenizer = tokenizer
        self._lock = lock

    def __call__(self, *args, **kwargs):
        with self._lock:
            return self._tokenizer(*args, **kwargs)

    def __getattr__(self, name):
        attr = getattr(self._tokenizer, name)
        if callable(attr):
            def locked(*args, **kwargs):
                with self._lock:
                    return attr(*args, **kwargs)

            return locked
        return attr


class _ThreadTokenizers:
    """One truncating copy of a fast tokenizer per thread: counting tokens needs no shared lock, so a big
    request's tokenizing never holds up the model for others."""

    def __init__(self, hf_tokenizer, max_length: int):
        self._source, self._max_length = hf_tokenizer, max_length
        self._local = threading.local()

    def count(self, texts: list[str]) -> int:
        tok = getattr(self._local, "tok", None)
        if tok is None:
            from models.pipeline_encode import _fast_tokenizer

            tok = self._local.tok = _fast_tokenizer(self._source, self._max_length)
        return int(sum(len(e.ids) for e in tok.encode_batch(list(texts), add_special_tokens=True)))


class GuardedEmbedder:
    """A TextEncoder safe to share between request threads (and, optionally, batching single queries)."""

    def __init__(self, embedder: TextEncoder, lock: threading.RLock | None = None):
        self.embedder = embedder
        self.lock = lock or threading.RLock()
        self.batcher: MicroBatcher | None = None
        self._counters: _ThreadTokenizers | None = None

    def count_tokens(self, texts: list[str]) -> int:
        """Tokens the model reads of each text (truncated at its window), counted outside the model lock."""
        if self._counters is None:
            self._counters = _ThreadTokenizers(self.embedder.tokenizer, self.embedder.max_seq_length)
        return self._counters.count(texts)

    # what the model says about itself: read as is (none of it touches the tokenizer or the model's weights)
    reference = property(lambda self: self.embedder.reference)
    choice = property(lambda self: self.embedder.choice)
    batch_size = property(lambda self: self.embedder.batch_size)
    dimension = property(lambda self: self.embedder.dimension)
    max_seq_length = property(lambda self: self.embedder.max_seq_length)

    def spec(self) -> dict:
        """How another process (a Ray worker) makes the same model."""
        return self.embedder.spec()

    @property
    def tokenizer(self):
        return _LockedTokenizer(self.embedder.tokenizer, self.lock)

    def enable_batching(self, max_batch: int, max_wait_ms: float) -> "MicroBatcher":
        self.batcher = MicroBatcher(self._encode_locked, max_batch=max_batch, max_wait_ms=max_wait_ms)
        return self.batcher

    @property
    def slice_size(self) -> int:
        """Texts encoded per hold of the lock. On CPU one forward pass (16 passages: ~0.3 s on 2 cores). On a
        GPU a slice that size would keep batch jobs off the pipelined encoder, and 1,024 passages take it
        tens of milliseconds."""
        size = max(1, self.embedder.batch_size)
        return max(size, GPU_SLICE_TEXTS) if self.embedder.choice.is_cuda else size

    def _encode_locked(self, texts: list[str]) -> np.ndarray:
        step = self.slice_size
        parts = []
        for i in range(0, len(texts), step):  # release between slices so queries interleave with big writes
            with self.lock:
                parts.append(self.embedder.encode(texts[i : i + step]))
        return np.concatenate(parts) if parts else self.embedder.encode([])

    def encode(self, texts: list[str], **kwargs) -> np.ndarray:
        """Small requests (queries) share batches; larger ones (document upserts) go by lock-sized slices,
        so a query never waits behind a whole upsert, only behind one slice of it."""
        texts = list(texts)
        if self.batcher is not None and 0 < len(texts) <= min(self.batcher.max_batch, self.embedder.batch_size):
            return self.batcher.encode(texts)
        return self._encode_locked(texts)

    def close(self) -> None:
        if self.batcher is not None:
            self.batcher.close()
            self.batcher = None


# A cross-encoder reads at most max_length tokens of a (query, passage) pair; a token is rarely more than
# this many characters, so longer text is cut before tokenizing (a 4,096-character query beside 1,000
# passages once held the model 119 s).
CHARS_PER_TOKEN = 8


class GuardedReranker:
    """A PairScorer safe to share between threads (the tokenizer is not): the lock is taken per forward pass (one
    batch of pairs), so one request with many candidates shares the model with others instead of holding it."""

    def __init__(self, reranker: PairScorer, lock: threading.RLock | None = None):
        self.reranker = reranker
        self.lock = lock or threading.RLock()

    reference = property(lambda self: self.reranker.reference)
    choice = property(lambda self: self.reranker.choice)

    @property
    def max_length(self) -> int:
        model = getattr(self.reranker, "model", None)
        return int(getattr(model, "max_length", None) or getattr(model, "max_seq_length", None) or 512)

    def score(self, query: str, passages: list[str]) -> np.ndarray:
        budget = self.max_length * CHARS_PER_TOKEN
        query = query[: budget // 2]  # the query never takes more than half the pair
        passages = [p[:budget] for p in passages]
        step = max(1, int(getattr(self.reranker, "batch_size", 16) or 16))
        parts = []
        for i in range(0, len(passages), step):
            with self.lock:
                parts.append(np.asarray(self.reranker.score(query, passages[i : i + step]), dtype=np.float32))
        return np.concatenate(parts) if parts else np.zeros((0,), np.float32)


class MicroBatcher:
    """Collects texts from concurrent callers and runs `fn` once per batch, from one worker thread.

    A caller blocks until its own rows are ready. The first text of a batch waits at most `max_wait_ms`
    for company; a batch holds at most `max_batch` texts (one caller's texts are never split). With
    `max_wait_ms=0` a caller that finds the model idle runs it in its own thread (a hand-off to the worker
    cost ~0.8-1.7 ms per query on CPU), and callers that come while it is busy queue for the next batch.
    """

    def __init__(self, fn: Callable[[list[str]], np.ndarray], max_batch: int = 64, max_wait_ms: float = 2.0):
        self.fn = fn
        self.max_batch = max_batch
        self.max_wait = max_wait_ms / 1000.0
        self.calls = 0  # batches run, for tests and metrics
        self._queue: queue.Queue = queue.Queue()
        self._idle = threading.Condition()  # guards _busy: model calls in progress, direct or by the worker
        self._busy = 0
        self._closed = False
        self._worker = threading.Thread(target=self._run, name="quarry-microbatcher", daemon=True)
        self._worker.start()

    def encode(self, texts: list[str]) -> np.ndarray:
        if self._closed:
            raise RuntimeError("the query batcher is closed (the server is shutting down)")
        texts = list(texts)
        if self.max_wait == 0:
            with self._idle:
                direct = self._busy == 0 and self._queue.empty()
                if direct:
                    self._busy += 1
            if direct:
                try:
                    vectors = self.fn(texts)
                    self.calls += 1
                    return vectors
                finally:
                    with self._idle:
                        self._busy -= 1
                        self._idle.notify_all()
        future: Future = Future()
        self._queue.put((texts, future))
        return future.result()

    def close(self) -> None:
        self._closed = True
        self._queue.put(_STOP)
        self._worker.join(timeout=10)

    def _run(self) -> None:
        pending = None
        while True:
            item = pending if pending is not None else self._queue.get()
            pending = None
            if item is _STOP:
                break
            with self._idle:  # a direct call in progress: let the queue grow behind it, then take it all
                while self._busy:
                    self._idle.wait()
                self._busy += 1
            batch, size = [item], len(item[0])
            deadline = time.monotonic() + self.max_wait
            while size < self.max_batch:
                remaining = deadline - time.monotonic()
                try:
                    nxt = self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is _STOP or size + len(nxt[0]) > self.max_batch:
                    pending = nxt  # starts the next batch (or stops after this one)
                    break
                batch.append(nxt)
                size += len(nxt[0])
            self._run_batch(batch)
        while True:  # callers that raced with close() get an error, never a hang
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if item is not _STOP:
                item[1].set_exception(RuntimeError("the query batcher is closed (the server is shutting down)"))

    def _run_batch(self, batch: list[tuple[list[str], Future]]) -> None:
        texts = [text for texts, _ in batch for text in texts]
        try:
            vectors = self.fn(texts)
            self.calls += 1
        except BaseException as exc:  # noqa: BLE001 - every waiting caller gets the error
            for _, future in batch:
                future.set_exception(exc)
            return
        finally:
            with self._idle:
                self._busy -= 1
                self._idle.notify_all()
        offset = 0
        for texts_, future in batch:
            future.set_result(vectors[offset : offset + len(texts_)])
            offset += len(texts_)
