"""Fine-tune a cross-encoder on labelled (query, passage, label) pairs, or a bi-encoder on (query, positive,
hard negatives) examples.

Cross-encoder: a plain PyTorch loop over a Hugging Face sequence-classification model with one logit, trained
with binary cross-entropy (labels in [0, 1], graded judgments scaled). The saved directory is what
sentence-transformers' CrossEncoder (and so QUARRY_RERANKER) loads.

Bi-encoder: the sentence-transformers model itself, trained with the multiple-negatives ranking loss (InfoNCE:
each query against its positive, every other positive in the batch and every hard negative in the batch, cosine
scaled by 20), saved with `SentenceTransformer.save` so QUARRY_EMBEDDER loads it.

Hand loops rather than the sentence-transformers trainers: those need `datasets` and `accelerate` and change
between sentence-transformers majors; these loops do not.

This module knows nothing about collections or qrels: callers pass plain pairs in.
"""

from __future__ import annotations

import json
import logging
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from models.device import select_device
from models.errors import ModelLoadError
from models.loading import EMBEDDER
from models.resolve import DEFAULT_EMBEDDER, hub_kwargs, resolve_model_reference

log = logging.getLogger(__name__)

DEFAULT_BASE = DEFAULT_EMBEDDER  # the bundled MiniLM backbone; a new one-logit head is added


@dataclass(frozen=True)
class Pair:
    query: str
    passage: str
    label: float  # 1 relevant, 0 not; values between for graded judgments


@dataclass(frozen=True)
class Contrast:
    """One bi-encoder example: a query, one passage that answers it, passages that look close but do not."""

    query: str
    positive: str
    negatives: tuple[str, ...] = ()


@dataclass
class TrainingConfig:
    epochs: int = 1
    batch_size: int = 16
    learning_rate: float = 2e-5
    max_length: int = 128
    warmup_ratio: float = 0.1
    seed: int = 13
    train_layers: int = 0  # bi-encoder: 0 trains every weight; N only the top N transformer layers (cheaper, steadier)


def _load(base: str, device: str, allow_downloads: bool):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    resolved = resolve_model_reference(base or DEFAULT_BASE, allow_downloads)
    extra = hub_kwargs(resolved, allow_downloads)
    try:
        tokenizer = AutoTokenizer.from_pretrained(resolved.location, **extra)
        model = AutoModelForSequenceClassification.from_pretrained(resolved.location, num_labels=1, **extra)
    except Exception as exc:  # noqa: BLE001 - one clear line for the user
        raise ModelLoadError(f"could not load base model {base!r} for training: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}") from exc
    return tokenizer, model.to(device)


def train_cross_encoder(
    pairs: Sequence[Pair],
    output: str | Path,
    base: str = "",
    config: TrainingConfig | None = None,
    device: str = "auto",
    allow_downloads: bool = False,
    on_step: Callable[[int, int, float], None] | None = None,
) -> Path:
    """Train on `pairs`, save a CrossEncoder directory at `output`, return its path."""
    import torch

    if not pairs:
        raise ValueError("no training pairs")
    config = config or TrainingConfig()
    choice = select_device(device, "float32")  # train in fp32; mixed precision is not worth the risk here
    _seed(config.seed)
    tokenizer, model = _load(base, choice.device, allow_downloads)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=0.01)
    per_epoch = math.ceil(len(pairs) / config.batch_size)
    total = per_epoch * config.epochs
    warmup = int(total * config.warmup_ratio)
    scheduler = _warmup_then_linear(optimizer, total, warmup)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    order = list(range(len(pairs)))
    step = 0
    for _ in range(config.epochs):
        random.shuffle(order)
        for start in range(0, len(order), config.batch_size):
            batch = [pairs[i] for i in order[start : start + config.batch_size]]
            features = tokenizer(
                [p.query for p in batch], [p.passage for p in batch],
                truncation=True, max_length=config.max_length, padding=True, return_tensors="pt",
            ).to(choice.device)  # fmt: skip
            labels = torch.tensor([p.label for p in batch], dtype=torch.float32, device=choice.device)
            loss = loss_fn(model(**features).logits.view(-1), labels)
            _update(loss, model, optimizer, scheduler)
            step += 1
            if on_step:
                on_step(step, total, float(loss))
    model.eval()
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(output)
    tokenizer.save_pretrained(output)
    meta = {"base": base or DEFAULT_BASE, "pairs": len(pairs), "steps": total, **asdict(config)}
    (output / "quarry-training.json").write_text(json.dumps(meta, indent=2) + "\n")
    log.info("saved cross-encoder to %s (%d steps on %s)", output, total, choice.device)
    return output


def _warmup_then_linear(optimizer, total: int, warmup: int):
    import torch

    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min((step + 1) / max(warmup, 1), max(0.0, (total - step) / max(total - warmup, 1)))
    )


def _update(loss, model, optimizer, scheduler) -> None:
    import torch

    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad()


def _seed(seed: int) -> None:
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _top_layers(model, layers: int) -> list:
    """The parameters to train: all, or those of the last `layers` blocks of the transformer's layer stack (the
    longest ModuleList); the rest is frozen, so backward stops there."""
    import torch

    params = list(model.parameters())
    if layers <= 0:
        return params
    stacks = [m for m in model.modules() if isinstance(m, torch.nn.ModuleList)]
    if not stacks:
        log.warning("no transformer layer stack found: training every weight")
        return params
    stack = max(stacks, key=len)
    keep = [p for block in list(stack)[-layers:] for p in block.parameters()]
    for p in params:
        p.requires_grad_(False)
    for p in keep:
        p.requires_grad_(True)
    return keep


def contrast_batches(examples: Sequence[Contrast], batch_size: int, rng: random.Random) -> list[list[Contrast]]:
    """Shuffled batches in which no query appears twice: a second positive of the same query in a batch would be
    scored as one of its negatives."""
    pending = list(examples)
    rng.shuffle(pending)
    batches: list[list[Contrast]] = []
    while pending:
        batch, queries, rest = [], set(), []
        for example in pending:
            if len(batch) < batch_size and example.query not in queries:
                batch.append(example)
                queries.add(example.query)
            else:
                rest.append(example)
        batches.append(batch)
        pending = rest
    return batches


def train_bi_encoder(
    examples: Sequence[Contrast],
    output: str | Path,
    base: str,
    config: TrainingConfig | None = None,
    device: str = "auto",
    allow_downloads: bool = False,
    prefixes: tuple[str, str] = ("", ""),
    scale: float = 20.0,
    on_step: Callable[[int, int, float], None] | None = None,
) -> Path:
    """Fine-tune the sentence-transformers model `base` on `examples`; save it at `output`, return the path.

    prefixes: (query, document) prefixes the collection embeds with, so training sees the texts search will.
    config.max_length caps the tokens per text while training only; the saved model keeps its own limit, so
    collections chunked for it still fit."""
    import torch

    if not examples:
        raise ValueError("no training examples")
    config = config or TrainingConfig()
    choice = select_device(device, "float32")
    _seed(config.seed)
    resolved = resolve_model_reference(base, allow_downloads)
    try:
        model = EMBEDDER.torch_class()(resolved.location, device=choice.device, **hub_kwargs(resolved, allow_downloads))
    except Exception as exc:  # noqa: BLE001 - one clear line for the user
        raise ModelLoadError(f"could not load base embedder {base!r} for training: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}") from exc
    saved_length = model.max_seq_length
    model.max_seq_length = min(config.max_length, saved_length or config.max_length)
    features_of = getattr(model, "preprocess", None) or model.tokenize  # sentence-transformers 6 renamed tokenize
    query_prefix, document_prefix = prefixes

    def embed(texts: list[str]):
        features = {k: v.to(choice.device) if hasattr(v, "to") else v for k, v in features_of(texts).items()}
        return torch.nn.functional.normalize(model(features)["sentence_embedding"], dim=-1)

    model.train()
    trainable = _top_layers(model, config.train_layers)
    optimizer = torch.optim.AdamW(trainable, lr=config.learning_rate, weight_decay=0.01)
    rng = random.Random(config.seed)
    plan = [contrast_batches(examples, config.batch_size, rng) for _ in range(config.epochs)]
    total = sum(len(batches) for batches in plan)
    scheduler = _warmup_then_linear(optimizer, total, int(total * config.warmup_ratio))
    step = 0
    for batches in plan:
        for batch in batches:
            queries = embed([query_prefix + e.query for e in batch])
            passages = [document_prefix + e.positive for e in batch] + [document_prefix + n for e in batch for n in e.negatives]
            scores = scale * queries @ embed(passages).T  # row i: its own positive is column i
            loss = torch.nn.functional.cross_entropy(scores, torch.arange(len(batch), device=scores.device))
            _update(loss, model, optimizer, scheduler)
            step += 1
            if on_step:
                on_step(step, total, float(loss))
    model.eval()
    model.max_seq_length = saved_length
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    model.save(str(output))
    meta = {"base": base, "examples": len(examples), "steps": total, "loss": "multiple negatives ranking (in-batch + hard negatives)", **asdict(config)}
    (output / "quarry-training.json").write_text(json.dumps(meta, indent=2) + "\n")
    log.info("saved embedder to %s (%d steps on %s)", output, total, choice.device)
    return output


__all__ = ["DEFAULT_BASE", "Contrast", "Pair", "TrainingConfig", "contrast_batches", "train_bi_encoder", "train_cross_encoder"]
