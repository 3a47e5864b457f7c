"""Shared pieces of the speed benchmarks: the msmarco-subset data, synthetic scale-up, nDCG, tables."""

from __future__ import annotations

import json
import math
import os
import platform
import random
import statistics
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _default_data() -> Path:
    """../shared/datasets/msmarco-subset from the repo root (or from a parent, for git worktrees)."""
    for parent in REPO.parents:
        candidate = parent / "shared" / "datasets" / "msmarco-subset"
        if candidate.exists():
            return candidate
    return REPO.parent / "shared" / "datasets" / "msmarco-subset"


DEFAULT_DATA = _default_data()


def load_beir(directory: Path) -> tuple[dict[str, str], dict[str, str], dict[str, dict[str, int]]]:
    """(corpus id -> text, query id -> text, qrels query -> {doc: grade}) from a BEIR-style folder."""
    directory = Path(directory)
    if not (directory / "corpus.jsonl").exists():
        raise SystemExit(f"no corpus.jsonl in {directory}: pass --data DIR (a BEIR folder)")
    corpus, queries, qrels = {}, {}, {}
    with open(directory / "corpus.jsonl") as handle:
        for line in handle:
            row = json.loads(line)
            corpus[row["_id"]] = ((row.get("title") or "") + " " + row["text"]).strip()
    with open(directory / "queries.jsonl") as handle:
        for line in handle:
            row = json.loads(line)
            queries[row["_id"]] = row["text"]
    with open(directory / "qrels" / "test.tsv") as handle:
        for line in handle:
            parts = line.split()
            if len(parts) == 3 and parts[2].lstrip("-").isdigit():
                qrels.setdefault(parts[0], {})[parts[1]] = int(parts[2])
    return corpus, queries, qrels


def scale_passages(passages: list[str], count: int, seed: int = 0) -> list[str]:
    """`count` passages: the real ones, then copies with a few words shuffled (same length distribution)."""
    rng = random.Random(seed)
    out = list(passages[:count])
    while len(out) < count:
        words = rng.choice(passages).split()
        for _ in range(max(1, len(words) // 10)):
            i, j = rng.randrange(len(words)), rng.randrange(len(words))
            words[i], words[j] = words[j], words[i]
        out.append(" ".join(words))
    return out


def write_corpus_jsonl(texts: list[str], path: Path) -> Path:
    """The texts as a BEIR-style corpus.jsonl (ids p0, p1, ...): what `quarry index` reads in bulk."""
    with open(path, "w") as handle:
        for i, text in enumerate(texts):
            handle.write(json.dumps({"_id": f"p{i}", "text": text}) + "\n")
    return path


def ndcg_at_10(ranked: dict[str, list[str]], qrels: dict[str, dict[str, int]]) -> float:
    """Mean nDCG@10 (linear gains, as pytrec_eval/BEIR) over the judged queries."""
    scores = []
    for qid, judged in qrels.items():
        if not any(g > 0 for g in judged.values()):
            continue
        dcg = sum(judged.get(doc, 0) / math.log2(rank + 2) for rank, doc in enumerate(ranked.get(qid, [])[:10]))
        ideal = sorted((g for g in judged.values() if g > 0), reverse=True)[:10]
        scores.append(dcg / sum(g / math.log2(rank + 2) for rank, g in enumerate(ideal)))
    return sum(scores) / len(scores)


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    if not values:
        return float("nan")
    return values[min(len(values) - 1, max(0, math.ceil(q / 100 * len(values)) - 1))]


def machine() -> str:
    try:
        import torch

        gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    except Exception:  # a benchmark header must not fail
        gpu = "no GPU"
    cpu = platform.processor() or platform.machine()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, {gpu}, python {platform.python_version()}"


def table(title: str, header: list[str], rows: list[list]) -> str:
    cells = [[str(c) for c in header]] + [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = [f"## {title}", f"machine: {machine()}", ""]
    lines.append("| " + " | ".join(c.ljust(w) for c, w in zip(cells[0], widths)) + " |")
    lines.append("| " + " | ".join("-" * w for w in widths) + " |")
    for row in cells[1:]:
        lines.append("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths)) + " |")
    return "\n".join(lines)


def _fmt(value) -> str:
    if isinstance(value, float):
        if value >= 100:
            return f"{value:,.0f}"
        if value >= 1:
            return f"{value:.2f}"
        return f"{value:.4f}"
    return str(value)


class Timer:
    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def sync_cuda() -> None:
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.synchronize()
    except ImportError:
        pass
