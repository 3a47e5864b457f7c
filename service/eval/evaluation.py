"""`quarry eval`: index a BEIR dataset once, run every judged query through `search`, score and diagnose.

The collection is named after the dataset and the settings that shape its vectors (embedder, chunk
size, overlap), and stamped with the corpus fingerprint, so a second run reuses it and a changed
corpus is caught up by content hash instead of rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
import time
from dataclasses import dataclass, field

from indexer.beir import BeirDataset
from indexer.collection import Collection
from indexer.layout import atomic_write_text
from service.eval.ir_metrics import dedupe, mean_metrics, percentile, query_metrics
from service.search.searcher import Searcher

STAMP = "beir.json"
EVAL_DEPTH = 100  # recall@100 needs 100 documents per query


def collection_name(dataset: BeirDataset, settings) -> str:
    key = json.dumps([settings.embedder, settings.chunk_size, settings.chunk_overlap])
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", dataset.name).strip("-.")[:40] or "dataset"
    return f"eval-{slug}-{hashlib.sha256(key.encode()).hexdigest()[:8]}"


def _read_stamp(collection: Collection) -> dict:
    try:
        return json.loads((collection.directory / STAMP).read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def ensure_collection(runtime, dataset: BeirDataset, progress: bool | None = None) -> tuple[Collection, bool]:
    """The dataset's collection, built or caught up as needed. Returns (collection, reused as is)."""
    from tqdm import tqdm

    name = collection_name(dataset, runtime.settings)
    collection = runtime.open_or_create(name)
    stamp = _read_stamp(collection)
    if stamp.get("fingerprint") == dataset.fingerprint and collection.counts()["documents"] == stamp.get("documents"):
        return collection, True
    indexer = runtime.indexer(collection)
    show = sys.stderr.isatty() if progress is None else progress
    batch = 128
    with tqdm(total=len(dataset.corpus), unit="doc", desc=f"indexing {dataset.name}", disable=not show) as bar:
        for start in range(0, len(dataset.corpus), batch):
            part = dataset.corpus[start : start + batch]
            indexer.upsert(part)
            bar.update(len(part))
    wanted = {doc.doc_id for doc in dataset.corpus}
    stored, offset = [], 0
    while page := collection.list_documents(limit=1000, offset=offset):
        stored += [d.doc_id for d in page]
        offset += len(page)
    collection.delete([d for d in stored if d not in wanted])
    collection.save_index()
    documents = collection.counts()["documents"]
    atomic_write_text(collection.directory / STAMP, json.dumps({"fingerprint": dataset.fingerprint, "documents": documents}))
    return collection, False


@dataclass
class QueryOutcome:
    query_id: str
    metrics: dict[str, float]
    relevant: int  # judged relevant documents
    in_top10: int
    ranked_low: int  # retrieved, but below rank 10
    missed: int  # not retrieved at all (within the evaluation depth)
    first_relevant: int | None  # rank of the first relevant document, None when none was retrieved

    @property
    def problem(self) -> str:
        """Which stage to fix for this query's top 10.

        ok: the top 10 holds as many relevant documents as it can; ranking: enough relevant documents
        were retrieved below rank 10 to fill the gaps (a better reranker could fix it); recall: the
        missing ones were never retrieved (only better retrieval can).
        """
        gaps = min(10, self.relevant) - self.in_top10
        if gaps <= 0:
            return "ok"
        return "ranking" if self.ranked_low >= gaps else "recall"


def diagnose(query_id: str, ranking: list[str], judged: dict[str, int]) -> QueryOutcome:
    relevant = {d for d, g in judged.items() if g > 0}
    positions = {d: i for i, d in enumerate(ranking, start=1)}
    found = sorted(positions[d] for d in relevant if d in positions)
    top10 = sum(1 for p in found if p <= 10)
    return QueryOutcome(
        query_id,
        query_metrics(ranking, judged),
        len(relevant),
        top10,
        len(found) - top10,
        len(relevant) - len(found),
        found[0] if found else None,
    )


@dataclass
class EvalResult:
    label: str
    metrics: dict[str, float]
    outcomes: list[QueryOutcome] = field(default_factory=list)
    reranked: bool = False
    note: str = ""

    def summary(self) -> dict:
        return {**{k: round(v, 4) for k, v in self.metrics.items()}, "queries": len(self.outcomes), "reranked": self.reranked}

    def error_analysis(self) -> dict:
        problems = {p: sum(1 for o in self.outcomes if o.problem == p) for p in ("ok", "ranking", "recall")}
        relevant = sum(o.relevant for o in self.outcomes) or 1
        return {
            "queries": problems,
            "relevant_documents": {
                "in_top10": round(sum(o.in_top10 for o in self.outcomes) / relevant, 4),
                "ranked_low": round(sum(o.ranked_low for o in self.outcomes) / relevant, 4),
                "not_retrieved": round(sum(o.missed for o in self.outcomes) / relevant, 4),
            },
        }


def evaluate_rankings(label: str, rankings: dict[str, list[str]], dataset: BeirDataset, latencies_ms: list[float] | None = None) -> EvalResult:
    """Score document rankings already computed (the offline path the fusion study uses too)."""
    outcomes = [diagnose(q, rankings.get(q, []), dataset.qrels[q]) for q in dataset.queries]
    metrics = mean_metrics([o.metrics for o in outcomes])
    if latencies_ms is not None:
        metrics["latency_p50_ms"] = percentile(latencies_ms, 50)
        metrics["latency_p95_ms"] = percentile(latencies_ms, 95)
    return EvalResult(label, metrics, outcomes)


def run_eval(searcher: Searcher, collection: Collection, dataset: BeirDataset, *, mode: str | None = None, rerank: bool = False, candidates: int | None = None, label: str = "") -> EvalResult:
    """Every judged query through the Searcher the API uses (its limits, fusion and metrics); chunk hits are
    folded into documents."""
    rankings: dict[str, list[str]] = {}
    latencies: list[float] = []
    reranked = False
    options = dict(top_k=EVAL_DEPTH, mode=mode, rerank=rerank)
    first = next(iter(dataset.queries.values()))
    searcher.search(collection, first, **options)  # warm-up, untimed
    for query_id, text in dataset.queries.items():
        started = time.perf_counter()
        result = searcher.search(collection, text, candidates=max(candidates or searcher.defaults.candidates, EVAL_DEPTH), **options)
        latencies.append((time.perf_counter() - started) * 1000)
        reranked = reranked or result.reranked
        rankings[query_id] = dedupe([hit.doc_id for hit in result.hits])
    evaluated = evaluate_rankings(label or str(mode or searcher.defaults.mode), rankings, dataset, latencies)
    evaluated.reranked = reranked
    return evaluated


def format_table(results: list[EvalResult]) -> str:
    columns = ["ndcg@10", "recall@10", "recall@100", "mrr@10", "latency_p50_ms", "latency_p95_ms"]
    width = max(12, *(len(r.label) for r in results))
    lines = [f"{'run':<{width}}  " + "  ".join(f"{c:>14}" for c in columns)]
    for r in results:
        cells = [f"{r.metrics.get(c, float('nan')):>14.{1 if 'latency' in c else 4}f}" for c in columns]
        lines.append(f"{r.label:<{width}}  " + "  ".join(cells))
    return "\n".join(lines)


def format_error_analysis(result: EvalResult, dataset: BeirDataset, worst: int = 5) -> str:
    analysis = result.error_analysis()
    q, docs = analysis["queries"], analysis["relevant_documents"]
    lines = [
        f"{result.label}: {q['ok']} queries with a full top 10, {q['ranking']} ranking problems (relevant documents "
        f"retrieved below rank 10 could fill its gaps), {q['recall']} recall problems (they were not retrieved)",
        f"  relevant documents: {docs['in_top10']:.1%} in the top 10, {docs['ranked_low']:.1%} retrieved but ranked "
        f"11-{EVAL_DEPTH} (ranking), {docs['not_retrieved']:.1%} not retrieved (recall)",
        f"  weakest queries by nDCG@10:",
    ]
    for o in sorted(result.outcomes, key=lambda o: o.metrics["ndcg@10"])[:worst]:
        first = o.first_relevant or "-"
        lines.append(
            f"    {o.metrics['ndcg@10']:.3f}  {o.query_id}  {dataset.queries[o.query_id][:60]!r}  first relevant at {first}; "
            f"{o.relevant} relevant: {o.in_top10} top-10, {o.ranked_low} ranked low, {o.missed} not retrieved"
        )
    return "\n".join(lines)
