"""ONNX Runtime backends for the embedder and the reranker (CPU here; the CUDA provider with the gpu extra).

The transformer is exported from the loaded sentence-transformers model with torch.onnx.export (dynamic batch
and sequence axes), optionally int8-quantized (dynamic quantization of the weights), and cached on disk keyed
by the model's files and the backend, so the export runs once per model. Pooling and normalization are done
here in numpy the way sentence-transformers does them, so vectors match the torch model (cosine > 0.999).

The wrappers duck-type the small part of the SentenceTransformer / CrossEncoder interface that
models.embedder and models.reranker use (encode, predict, tokenizer, max_seq_length, dimension).

Why not sentence-transformers' own `backend="onnx"` and its quantization helpers: both load and export through
Hugging Face Optimum (`optimum-onnx`'s ORTModel and ORTQuantizer). The current optimum-onnx (0.1.0) requires
transformers < 4.58, and `pip install --dry-run optimum-onnx` here would downgrade transformers 5.x, tokenizers
and huggingface_hub under the torch backend, and pull optimum's torch requirement into the CPU-only extra. This
module needs only onnx and onnxruntime (the `cpu` extra), works with the installed transformers, and keeps
the exported file keyed by the model's files. Revisit when optimum-onnx supports transformers 5.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import threading
import warnings
from pathlib import Path

import numpy as np

from models.device import DeviceChoice, onnx_providers
from models.errors import ModelLoadError

log = logging.getLogger(__name__)

BACKENDS = ("auto", "torch", "onnx", "onnx-int8")
ONNX_INSTALL = 'pip install "quarry[cpu]" (onnxruntime), or "quarry[gpu]" on a CUDA machine (onnxruntime-gpu)'
_export_lock = threading.Lock()
ENCODER_FILE = "encoder.json"  # beside an exported embedder: what a start without torch needs (from_cache)


class OnnxUnavailable(ModelLoadError):
    """ONNX Runtime cannot run this model here (missing package, failed export, unsupported layers); `fix` says
    what a user can do about it."""

    def __init__(self, message: str, fix: str = ""):
        super().__init__(message)
        self.fix = fix


def require_onnxruntime():
    try:
        import onnxruntime
    except ImportError as exc:  # optional dependency
        raise OnnxUnavailable(f"the onnx backends need onnxruntime and onnx: {ONNX_INSTALL}", fix=ONNX_INSTALL) from exc
    return onnxruntime


def validate_backend(backend: str) -> str:
    backend = (backend or "torch").lower()
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}: use one of {', '.join(BACKENDS)}")
    return backend


def resolve_backend(backend: str, choice: DeviceChoice) -> str:
    """`auto`: ONNX Runtime fp32 on a CPU (same vectors as torch, faster), torch on CUDA (fp16 and the
    pipelined encoder); any other value stands as given."""
    if backend != "auto":
        return backend
    return "torch" if choice.is_cuda else "onnx"


def cache_key(location: str, kind: str, backend: str) -> str:
    """Same model files + same backend -> same directory; a retrained model at the same path gets a new one."""
    digest = hashlib.sha256(f"{kind}\0{backend}\0{location}".encode())
    root = Path(location)
    if root.is_dir():
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            stat = path.stat()
            digest.update(f"{path.relative_to(root)}\0{stat.st_size}\0{int(stat.st_mtime)}".encode())
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", Path(location).name or location)[-48:]
    return f"{kind}-{slug}-{backend}-{digest.hexdigest()[:16]}"


def _wrap(hf_model, output: str, names: list[str]):
    """Give the transformer a fixed positional signature and one output, as the exporter wants."""
    import torch

    class Wrapped(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = hf_model

        def forward(self, *args):
            return getattr(self.model(**dict(zip(names, args))), output)

    return Wrapped().eval()


def export_transformer(hf_model, tokenizer, path: Path, output: str, pair: bool) -> list[str]:
    """Export a Hugging Face model to ONNX with dynamic (batch, sequence) axes; returns its input names."""
    import torch

    sample = tokenizer(["a short text", "another text"], ["with a pair"] * 2 if pair else None, padding=True, return_tensors="pt")
    names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in sample]
    axes = {name: {0: "batch", 1: "sequence"} for name in names}
    axes[output] = {0: "batch", 1: "sequence"} if output == "last_hidden_state" else {0: "batch"}
    hf_model = hf_model.to("cpu").float().eval()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer chatter about shape checks that hold for encoder models
        torch.onnx.export(
            _wrap(hf_model, output, names),
            tuple(sample[n] for n in names),
            str(path),
            input_names=names,
            output_names=[output],
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,  # the TorchScript exporter needs no onnxscript and handles BERT-family models
        )
    return names


def quantize_int8(source: Path, target: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # per-channel scales keep MiniLM's vectors at cosine ~0.99 of fp32 (per-tensor: ~0.93); the embedding
    # lookup (Gather) stays fp32, it costs no compute and quantizing it hurts the most
    quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8, per_channel=True, op_types_to_quantize=["MatMul"])


def ensure_exported(hf_model, tokenizer, directory: Path, backend: str, output: str, pair: bool) -> Path:
    """The cached .onnx file for this backend, exporting (and quantizing) it first when missing."""
    target = directory / ("model-int8.onnx" if backend == "onnx-int8" else "model.onnx")
    with _export_lock:
        if target.exists():
            return target
        directory.mkdir(parents=True, exist_ok=True)
        log.info("exporting %s to ONNX in %s (once per model)", type(hf_model).__name__, directory)
        tmp = directory / f"export-{os.getpid()}.onnx"
        export_transformer(hf_model, tokenizer, tmp, output, pair)
        if backend == "onnx-int8":
            quantized = directory / f"int8-{os.getpid()}.onnx"
            quantize_int8(tmp, quantized)
            tmp.unlink()
            tmp = quantized
        os.replace(tmp, target)  # atomic: a crash mid-export leaves no half file under the final name
    return target


def _session(path: Path, choice: DeviceChoice):
    ort = require_onnxruntime()
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # idle worker threads sleep instead of spinning, leaving the cores to the server's other threads
    # (SQLite, FAISS, HTTP); an A/B on the shared 2-core machine was within its noise either way
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    providers = onnx_providers(choice)
    if choice.is_cuda and "CUDAExecutionProvider" not in providers:
        log.warning("onnxruntime has no CUDA provider; running ONNX on the CPU (pip install onnxruntime-gpu)")
    return ort.InferenceSession(str(path), options, providers=providers)


def _length_order(lengths: list[int]) -> np.ndarray:
    """Longest first, like sentence-transformers: batches of similar length waste little on padding."""
    return np.argsort(-np.asarray(lengths), kind="stable")


class OnnxSentenceEncoder:
    """Transformer in ONNX Runtime + mean/CLS/max pooling + L2 normalization in numpy."""

    def __init__(self, st_model, cache_dir: Path, location: str, backend: str, choice: DeviceChoice):
        transformer = st_model[0]
        pooling = [m for m in st_model if type(m).__name__ == "Pooling"]
        others = [type(m).__name__ for m in list(st_model)[1:] if type(m).__name__ not in ("Pooling", "Normalize")]
        if not pooling or others:
            raise OnnxUnavailable(
                f"the {backend} backend supports Transformer + Pooling (+ Normalize) models; this one has "
                f"{[type(m).__name__ for m in st_model]}: use backend 'torch'",
                fix="none needed, this model runs with torch only",
            )
        self.pooling_mode = _pooling_mode(pooling[0])
        self.tokenizer = st_model.tokenizer
        self.max_seq_length = int(st_model.max_seq_length)
        getter = getattr(st_model, "get_embedding_dimension", None) or st_model.get_sentence_embedding_dimension
        self._dimension = int(getter())
        directory = Path(cache_dir) / cache_key(location, "embedder", backend)
        path = ensure_exported(transformer.auto_model, self.tokenizer, directory, backend, "last_hidden_state", pair=False)
        self._save_for_fast_start(directory)
        self.session = _session(path, choice)
        self.input_names = [i.name for i in self.session.get_inputs()]

    def _save_for_fast_start(self, directory: Path) -> None:
        """Keep what encode() needs besides the graph (tokenizer, pooling, sizes) beside it, so the next start
        can skip torch and sentence-transformers altogether (from_cache): seconds of imports on a small CPU."""
        if (directory / ENCODER_FILE).exists():
            return
        tmp = directory / f"tokenizer-{os.getpid()}"
        self.tokenizer.save_pretrained(str(tmp))
        if not (directory / "tokenizer").exists():
            os.replace(tmp, directory / "tokenizer")
        spec = {"pooling_mode": self.pooling_mode, "max_seq_length": self.max_seq_length, "dimension": self._dimension}
        (directory / f"{ENCODER_FILE}.{os.getpid()}").write_text(json.dumps(spec))
        os.replace(directory / f"{ENCODER_FILE}.{os.getpid()}", directory / ENCODER_FILE)  # written last: the commit point

    @classmethod
    def from_cache(cls, cache_dir: Path, location: str, backend: str, choice: DeviceChoice) -> "OnnxSentenceEncoder | None":
        """The encoder from an earlier export, without loading the torch model; None when there is none yet."""
        directory = Path(cache_dir) / cache_key(location, "embedder", backend)
        path = directory / ("model-int8.onnx" if backend == "onnx-int8" else "model.onnx")
        if not (path.exists() and (directory / ENCODER_FILE).exists()):
            return None
        # the generic fast tokenizer reads the saved tokenizer.json (normalizer, pieces, special tokens) as the
        # model's own class does; AutoTokenizer would import torch through transformers' configuration classes
        from transformers import PreTrainedTokenizerFast

        self = cls.__new__(cls)
        try:
            spec = json.loads((directory / ENCODER_FILE).read_text())
            self.pooling_mode, self.max_seq_length, self._dimension = spec["pooling_mode"], spec["max_seq_length"], spec["dimension"]
            self.tokenizer = PreTrainedTokenizerFast.from_pretrained(str(directory / "tokenizer"))
        except Exception as exc:  # noqa: BLE001 - damaged: drop it, so the start through torch writes it again
            log.info("fast start of %s not possible (%s: %s); loading through torch", location, type(exc).__name__, exc)
            (directory / ENCODER_FILE).unlink(missing_ok=True)
            return None
        self.session = _session(path, choice)
        self.input_names = [i.name for i in self.session.get_inputs()]
        return self

    def get_sentence_embedding_dimension(self) -> int:
        return self._dimension

    def _tokenize(self, texts: list[str]) -> dict:
        enc = self.tokenizer(
            texts, padding=True, truncation=True, max_length=self.max_seq_length, return_tensors="np",
            return_token_type_ids="token_type_ids" in self.input_names,
        )  # fmt: skip
        return {name: enc[name].astype(np.int64) for name in self.input_names}

    def _embed(self, texts: list[str]) -> np.ndarray:
        inputs = self._tokenize(texts)
        hidden = self.session.run(None, inputs)[0].astype(np.float32)
        mask = inputs["attention_mask"][..., None].astype(np.float32)
        if self.pooling_mode == "cls":
            vectors = hidden[:, 0]
        elif self.pooling_mode == "max":
            vectors = np.where(mask > 0, hidden, -1e9).max(axis=1)
        else:
            vectors = (hidden * mask).sum(axis=1) / np.clip(mask.sum(axis=1), 1e-9, None)
        return vectors

    def encode(self, sentences, batch_size: int = 32, normalize_embeddings: bool = True, **_ignored) -> np.ndarray:
        texts = [sentences] if isinstance(sentences, str) else list(sentences)
        order = _length_order([len(t) for t in texts])
        out = np.empty((len(texts), self._dimension), dtype=np.float32)
        for start in range(0, len(texts), batch_size):
            idx = order[start : start + batch_size]
            out[idx] = self._embed([texts[i] for i in idx])
        if normalize_embeddings:
            out /= np.clip(np.linalg.norm(out, axis=1, keepdims=True), 1e-12, None)
        return out[0] if isinstance(sentences, str) else out


def _pooling_mode(pooling) -> str:
    config = pooling.get_config_dict() if hasattr(pooling, "get_config_dict") else {}
    mode = config.get("pooling_mode")
    if isinstance(mode, str):
        mode = mode.lower()
    elif config.get("pooling_mode_cls_token"):
        mode = "cls"
    elif config.get("pooling_mode_max_tokens"):
        mode = "max"
    elif config.get("pooling_mode_mean_tokens", True):
        mode = "mean"
    if mode not in ("mean", "cls", "max"):
        raise OnnxUnavailable(
            f"the onnx backends support mean, cls and max pooling, not {mode!r}: use backend 'torch'",
            fix="none needed, this model runs with torch only",
        )
    return mode


class OnnxCrossEncoder:
    """Sequence-classification transformer in ONNX Runtime; the same activation as CrossEncoder.predict."""

    def __init__(self, ce_model, cache_dir: Path, location: str, backend: str, choice: DeviceChoice):
        self.tokenizer = ce_model.tokenizer
        self.max_seq_length = int(getattr(ce_model, "max_seq_length", None) or ce_model.max_length)
        self.activation_fn = ce_model.activation_fn
        directory = Path(cache_dir) / cache_key(location, "reranker", backend)
        path = ensure_exported(ce_model.model, self.tokenizer, directory, backend, "logits", pair=True)
        self.session = _session(path, choice)
        self.input_names = [i.name for i in self.session.get_inputs()]

    def _logits(self, pairs: list[tuple[str, str]]) -> np.ndarray:
        enc = self.tokenizer(
            [q for q, _ in pairs], [p for _, p in pairs], padding=True, truncation=True,
            max_length=self.max_seq_length, return_tensors="np",
        )
        return self.session.run(None, {name: enc[name].astype(np.int64) for name in self.input_names})[0]

    def predict(self, pairs, batch_size: int = 32, **_ignored) -> np.ndarray:
        import torch

        pairs = list(pairs)
        order = _length_order([len(q) + len(p) for q, p in pairs])
        logits = None
        for start in range(0, len(pairs), batch_size):
            idx = order[start : start + batch_size]
            part = self._logits([pairs[i] for i in idx])
            if logits is None:
                logits = np.empty((len(pairs),) + part.shape[1:], dtype=np.float32)
            logits[idx] = part
        with torch.no_grad():
            scores = self.activation_fn(torch.from_numpy(logits)).numpy()
        return scores[:, 0] if scores.ndim == 2 and scores.shape[1] == 1 else scores
