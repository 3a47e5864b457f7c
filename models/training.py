"""Fine-tune a cross-encoder on labelled (query, passage, label) pairs.

A plain PyTorch loop over a Hugging Face sequence-classification model with one logit, trained with
binary cross-entropy (labels in [0, 1], graded judgments scaled). The saved directory is what
sentence-transformers' CrossEncoder (and so QUARRY_RERANKER) loads. A hand loop rather than
CrossEncoderTrainer: the trainer needs `datasets` and `accelerate` and changes between
sentence-transformers majors; these forty lines do not.

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
from models.resolve import DEFAULT_EMBEDDER, hub_kwargs, resolve_model_reference

log = logging.getLogger(__name__)

DEFAULT_BASE = DEFAULT_EMBEDDER  # the bundled MiniLM backbone; a new one-logit head is added


@dataclass(frozen=True)
class Pair:
    query: str
    passage: str
    label: float  # 1 relevant, 0 not; values between for graded judgments


@dataclass
class TrainingConfig:
    epochs: int = 1
    batch_size: int = 16
    learning_rate: float = 2e-5
    max_length: int = 128
    warmup_ratio: float = 0.1
    seed: int = 13


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
    random.seed(config.seed)
    torch.manual_seed(config.seed)
    tokenizer, model = _load(base, choice.device, allow_downloads)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=0.01)
    per_epoch = math.ceil(len(pairs) / config.batch_size)
    total = per_epoch * config.epochs
    warmup = int(total * config.warmup_ratio)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min((step + 1) / max(warmup, 1), max(0.0, (total - step) / max(total - warmup, 1)))
    )
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
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
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


__all__ = ["DEFAULT_BASE", "Pair", "TrainingConfig", "train_cross_encoder"]
