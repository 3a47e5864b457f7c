"""`quarry train-reranker`: labelled pairs + hard negatives from the collection's own retriever -> a CrossEncoder.

Labels come from BEIR qrels (graded, scaled to [0, 1]) or a JSONL of {query, positive(s), negative(s)}.
Queries are split into folds (or one held-out share); every held-out query is scored before and after
training so the report says what the training bought on queries it never saw.
"""

from __future__ import annotations

import json
import random
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from indexer.beir import load_beir
from indexer.collection import Collection
from indexer.loaders import json_lines
from models import Reranker
from models.training import DEFAULT_BASE, Pair, TrainingConfig, train_cross_encoder
from service.search.fusion import FusionConfig, blend_rerank
from service.eval.ir_metrics import dedupe, ndcg_at_k
from service.search.searcher import Searcher

BLEND_WEIGHT = 0.5  # the blended row of the report: half reranker, half retrieval (min-max normalized)


@dataclass
class LabelledQuery:
    query: str
    positives: dict[str, float]  # passage text -> label in (0, 1]
    negatives: list[str] = field(default_factory=list)  # passage texts
    judged: dict[str, int] = field(default_factory=dict)  # doc id -> grade (qrels only: held-out nDCG)


def load_pairs_jsonl(path: str | Path) -> tuple[list[LabelledQuery], list[str]]:
    """Lines {"query", "positive"|"positives", "negative"|"negatives"?}; bad lines reported by number."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"pairs file not found: {path}")
    queries: dict[str, LabelledQuery] = {}
    warnings = []
    for number, record in json_lines(path.read_text(encoding="utf-8"), path, warnings):
        as_list = lambda value: [value] if isinstance(value, str) else value if isinstance(value, list) else []  # noqa: E731
        query = record.get("query") if isinstance(record, dict) else None
        positives = as_list(record.get("positives", record.get("positive"))) if isinstance(record, dict) else []
        negatives = as_list(record.get("negatives", record.get("negative"))) if isinstance(record, dict) else []
        if not isinstance(query, str) or not query.strip() or not positives or not all(isinstance(p, str) for p in positives + negatives):
            warnings.append(f'{path}:{number}: needs a string "query" and string "positive(s)", line skipped')
            continue
        item = queries.setdefault(query, LabelledQuery(query, {}))
        item.positives.update({p: 1.0 for p in positives})
        item.negatives += negatives
    if not queries:
        raise ValueError(f"{path}: no usable lines")
    return list(queries.values()), warnings


def from_qrels(dataset, max_positives: int) -> list[LabelledQuery]:
    texts = {doc.doc_id: doc.text for doc in dataset.corpus}
    top = max(g for judged in dataset.qrels.values() for g in judged.values())
    items = []
    for qid, text in dataset.queries.items():
        judged = dataset.qrels[qid]
        ranked = sorted((d for d, g in judged.items() if g > 0 and d in texts), key=lambda d: (-judged[d], d))
        positives = {texts[d]: judged[d] / top for d in ranked[:max_positives]}
        negatives = [texts[d] for d, g in judged.items() if g <= 0 and d in texts]
        items.append(LabelledQuery(text, positives, negatives, judged))
    return items


def retrieve(searcher: Searcher, collection: Collection, query: str, depth: int) -> list[tuple[str, str, float]]:
    """(doc id, text, retrieval score) of the pipeline's own un-reranked top `depth`, one per document."""
    result = searcher.search(collection, query, top_k=depth, candidates=depth, rerank=False)
    seen, out = set(), []
    for hit in result.hits:
        if hit.doc_id not in seen:
            seen.add(hit.doc_id)
            out.append((hit.doc_id, hit.text, hit.score))
    return out


def mine_negatives(items: list[LabelledQuery], searcher: Searcher, collection: Collection, per_positive: int, depth: int = 100, hits=None) -> None:
    """Hard negatives: the retriever's top hits that are not labelled relevant (judged ids, or positive texts).
    hits: item -> its (doc id, text, score) hits already searched, instead of searching again."""
    for item in items:
        wanted = per_positive * len(item.positives) - len(item.negatives)
        if wanted <= 0:
            continue
        relevant = {d for d, g in item.judged.items() if g > 0}
        for doc_id, text, _ in hits(item) if hits else retrieve(searcher, collection, item.query, depth):
            if wanted <= 0:
                break
            if doc_id in relevant or text in item.positives or text in item.negatives:
                continue
            item.negatives.append(text)
            wanted -= 1


def to_pairs(items: list[LabelledQuery]) -> list[Pair]:
    return [Pair(i.query, p, label) for i in items for p, label in i.positives.items()] + [
        Pair(i.query, n, 0.0) for i in items for n in i.negatives
    ]


def split_folds(n: int, folds: int, seed: int) -> list[list[int]]:
    order = list(range(n))
    random.Random(seed).shuffle(order)
    return [sorted(order[f::folds]) for f in range(folds)]


def held_out_scores(items: list[LabelledQuery], model_dir: str, searcher: Searcher, collection, depth: int, device: str) -> dict[str, float]:
    """Mean nDCG@10 over held-out qrels queries reranking the pipeline's top `depth` (retrieval order,
    reranker alone, and a 50/50 blend); for JSONL pairs, the share of (positive, negative) pairs ordered right."""
    reranker = Reranker(model_dir, device=device).load() if model_dir else None
    if items and items[0].judged and collection is not None:
        rows = {"retrieval": [], "reranked": [], "blended": []}
        for item in items:
            hits = retrieve(searcher, collection, item.query, depth)
            ranked = [(i, score) for i, (_, _, score) in enumerate(hits)]
            ids = [doc_id for doc_id, _, _ in hits]
            rows["retrieval"].append(ndcg_at_k(ids, item.judged))
            if reranker is not None:
                scores = reranker.score(item.query, [text for _, text, _ in hits])
                for key, weight in (("reranked", 1.0), ("blended", BLEND_WEIGHT)):
                    order = blend_rerank(ranked, scores, FusionConfig(rerank_weight=weight))
                    rows[key].append(ndcg_at_k(dedupe([ids[i] for i, _ in order]), item.judged))
        return {f"ndcg@10_{k}": sum(v) / len(v) for k, v in rows.items() if v}
    right = total = 0
    for item in items:
        if not item.negatives or reranker is None:
            continue
        positives = list(item.positives)
        scores = reranker.score(item.query, positives + item.negatives)
        pos, neg = scores[: len(positives)], scores[len(positives) :]
        right += sum(int(p > n) for p in pos for n in neg)
        total += len(pos) * len(neg)
    return {"pair_accuracy": right / total} if total else {}


def train_from_args(runtime, args) -> dict:
    settings = runtime.settings
    device = settings.device
    config = TrainingConfig(args.epochs, args.batch_size, args.learning_rate, args.max_length, seed=args.seed)
    warnings: list[str] = []
    collection = None
    searcher = runtime.searcher(rerank=False)  # the collection's own retriever, as configured, un-reranked
    if args.dataset:
        from service.eval.evaluation import ensure_collection

        dataset = load_beir(args.dataset, args.split)
        warnings += dataset.warnings
        collection, _ = ensure_collection(runtime, dataset, progress=False)
        items = from_qrels(dataset, args.max_positives)
    else:
        items, warnings = load_pairs_jsonl(args.pairs)
        if args.collection:
            collection = runtime.open_collection(args.collection)
    if collection is not None:
        mine_negatives(items, searcher, collection, args.negatives)
    if not any(item.negatives for item in items):
        raise ValueError("no negatives: give negatives in the pairs file or --collection to mine them from")

    base = args.base or DEFAULT_BASE
    depth = settings.candidates
    folds = split_folds(len(items), args.folds, args.seed) if args.folds >= 2 else None
    if folds is None and args.held_out > 0:
        held = split_folds(len(items), max(2, round(1 / args.held_out)), args.seed)[0]
        folds = [held]
    report: dict = {"base": base, "queries": len(items), "pairs": len(to_pairs(items)), "folds": [], "warnings": warnings}
    started = time.perf_counter()
    scratch = Path(tempfile.mkdtemp(prefix="quarry-train-"))
    base_dir = base if is_cross_encoder_dir(base) else ""  # a bare backbone has no trained head to score "before"
    try:
        for number, held in enumerate(folds or []):
            train = [items[i] for i in range(len(items)) if i not in set(held)]
            test = [items[i] for i in held]
            fold_dir = scratch / f"fold-{number}"
            _say(f"fold {number + 1}/{len(folds)}: training on {len(train)} queries, scoring {len(test)} held out")
            train_cross_encoder(to_pairs(train), fold_dir, base, config, device, settings.allow_downloads)
            before = held_out_scores(test, base_dir, searcher, collection, depth, device)
            after = held_out_scores(test, str(fold_dir), searcher, collection, depth, device)
            report["folds"].append({"held_out_queries": len(test), "train_pairs": len(to_pairs(train)), "before": before, "after": after})
            shutil.rmtree(fold_dir, ignore_errors=True)
        _say(f"training the saved model on all {len(items)} queries")
        final = train_cross_encoder(to_pairs(items), args.output, base, config, device, settings.allow_downloads)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    report["output"] = str(final)
    report["seconds"] = round(time.perf_counter() - started, 1)
    report["held_out_mean"] = mean_folds(report["folds"])
    report["text"] = _format(report)
    return report


def is_cross_encoder_dir(reference: str) -> bool:
    try:
        config = json.loads((Path(reference) / "config.json").read_text())
    except (OSError, ValueError):
        return False
    return any(arch.endswith("ForSequenceClassification") for arch in config.get("architectures") or [])


def _say(message: str) -> None:
    print(f"train-reranker: {message}", file=sys.stderr, flush=True)


def mean_folds(folds: list[dict]) -> dict:
    out = {}
    for phase in ("before", "after"):
        keys = {k for f in folds for k in f[phase]}
        out[phase] = {k: round(sum(f[phase][k] for f in folds if k in f[phase]) / sum(1 for f in folds if k in f[phase]), 4) for k in sorted(keys)}
    return out


def _format(report: dict) -> str:
    lines = [f"trained on {report['queries']} queries, {report['pairs']} pairs from {report['base']} in {report['seconds']}s"]
    for number, fold in enumerate(report["folds"], start=1):
        before = ", ".join(f"{k} {v:.4f}" for k, v in fold["before"].items()) or "base model has no head to score with"
        after = ", ".join(f"{k} {v:.4f}" for k, v in fold["after"].items())
        lines.append(f"  held-out fold {number} ({fold['held_out_queries']} queries): before: {before}; after: {after}")
    if report["folds"]:
        mean = report["held_out_mean"]
        lines.append(f"  held-out mean: before {mean['before']}; after {mean['after']}")
    lines.append(f"saved CrossEncoder to {report['output']} (set QUARRY_RERANKER={report['output']} to use it)")
    lines += [f"warning: {w}" for w in report["warnings"]]
    return "\n".join(lines)
