"""Bulk embedding that keeps the GPU busy: what plain `SentenceTransformer.encode` leaves on the table.

- Tokenization runs in worker threads ahead of the model (the Rust tokenizer releases the GIL), so the
  next batches are ready while the current one computes.
- Texts are sorted by token count within large windows and cut into batches by a token budget, so
  batches of short texts are wide and batches of long ones narrow, with little padding either way.
- On CUDA: the model runs in the precision models.device chose (fp16/bf16), inputs are built in pinned
  memory and copied with non_blocking=True, and results are copied back without a sync per batch.

The same code runs on the CPU (no pinning, no streams), which is how the tests check it matches plain
encode(); the speed-up is a GPU one.
"""

from __future__ import annotations

import queue
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

WINDOW = 8192  # texts sorted together: larger = less padding, later first batch
_DONE = object()


def _fast_tokenizer(hf_tokenizer, max_length: int):
    """A copy of the Rust tokenizer that truncates like sentence-transformers and does not pad."""
    from tokenizers import Tokenizer

    backend = getattr(hf_tokenizer, "backend_tokenizer", None)
    if backend is None:
        raise ValueError("pipelined encoding needs a fast (Rust) tokenizer")
    tok = Tokenizer.from_str(backend.to_str())
    tok.enable_truncation(max_length)
    tok.no_padding()
    return tok


def plan_batches(lengths: np.ndarray, tokens_per_batch: int, max_batch: int) -> list[np.ndarray]:
    """Indices sorted by length (longest first), cut so rows * longest row stays within the token budget."""
    order = np.argsort(-lengths, kind="stable")
    batches, start = [], 0
    while start < len(order):
        width = max(1, int(lengths[order[start]]))
        rows = max(1, min(max_batch, tokens_per_batch // width))
        batches.append(order[start : start + rows])
        start += rows
    return batches


class PipelinedEncoder:
    def __init__(self, embedder, tokens_per_batch: int | None = None, max_batch: int = 1024, workers: int = 2):
        self.embedder = embedder.load()
        self.model = embedder.model
        if not hasattr(self.model, "forward") or getattr(embedder, "backend_in_use", "torch") != "torch":
            raise ValueError("pipelined encoding drives the torch model; use backend 'torch'")
        # a GPU wants wide batches (~64k tokens keep an H100 busy); a CPU core's caches want small ones
        self.tokens_per_batch = tokens_per_batch or (65_536 if embedder.choice.is_cuda else 8_192)
        self.max_batch = max_batch
        self.workers = workers
        self.device = embedder.choice.device
        self.is_cuda = embedder.choice.is_cuda
        self.tokenizer = _fast_tokenizer(self.model.tokenizer, int(self.model.max_seq_length))
        self.input_names = list(self.model.tokenizer("a").keys())

    def _window_batches(self, texts: list[str], offset: int) -> list[tuple[np.ndarray, dict]]:
        """Tokenize one window and pad each batch to its own longest row (runs in a worker thread)."""
        import torch

        encodings = self.tokenizer.encode_batch(texts)
        lengths = np.fromiter((len(e.ids) for e in encodings), np.int64, len(encodings))
        out = []
        for idx in plan_batches(lengths, self.tokens_per_batch, self.max_batch):
            width = int(lengths[idx].max())
            arrays = {name: np.zeros((len(idx), width), np.int64) for name in ("input_ids", "attention_mask", "token_type_ids")}
            for row, i in enumerate(idx):
                e, n = encodings[i], lengths[i]
                arrays["input_ids"][row, :n] = e.ids
                arrays["attention_mask"][row, :n] = 1
                arrays["token_type_ids"][row, :n] = e.type_ids
            tensors = {name: torch.from_numpy(arrays[name]) for name in self.input_names if name in arrays}
            if self.is_cuda:
                tensors = {name: t.pin_memory() for name, t in tensors.items()}
            out.append((idx + offset, tensors))
        return out

    def _produce(self, texts: list[str], ready: queue.Queue) -> None:
        try:
            with ThreadPoolExecutor(self.workers) as pool:
                windows = [
                    pool.submit(self._window_batches, texts[s : s + WINDOW], s) for s in range(0, len(texts), WINDOW)
                ]
                for future in windows:  # in order, so the queue stays bounded by the pool's look-ahead
                    for item in future.result():
                        ready.put(item)
        except BaseException as exc:  # hand the failure to the consumer instead of hanging it
            ready.put(exc)
        finally:
            ready.put(_DONE)

    def encode(self, texts: list[str]) -> np.ndarray:
        import torch

        texts = list(texts)
        dimension = self.embedder.dimension
        if not texts:
            return np.zeros((0, dimension), np.float32)
        ready: queue.Queue = queue.Queue(maxsize=64)
        producer = threading.Thread(target=self._produce, args=(texts, ready), daemon=True)
        producer.start()
        results: list[tuple[np.ndarray, torch.Tensor]] = []
        with torch.inference_mode():
            while (item := ready.get()) is not _DONE:
                if isinstance(item, BaseException):
                    raise item
                idx, tensors = item
                features = {name: t.to(self.device, non_blocking=True) for name, t in tensors.items()}
                vectors = self.model(features)["sentence_embedding"].float()
                vectors = torch.nn.functional.normalize(vectors, dim=1)
                # device->host copy queued behind the compute; no sync until all batches are launched
                results.append((idx, vectors.to("cpu", non_blocking=True) if self.is_cuda else vectors))
            if self.is_cuda:
                torch.cuda.synchronize()
        producer.join()
        out = np.empty((len(texts), dimension), np.float32)
        for idx, vectors in results:
            out[idx] = vectors.numpy()
        return out
