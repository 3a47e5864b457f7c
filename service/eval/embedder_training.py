"""`quarry train-embedder`: fine-tune the collection's own bi-encoder on a few hundred labels.

Labels are the ones `quarry train-reranker` takes (BEIR qrels, or a JSONL of queries with positive and negative
passages); hard negatives are mined with the collection's own retriever, never from a query's judged positives.
The estimate is k-fold by query: each fold's model is trained without the fold's queries, the whole collection
is re-embedded with it (a new embedder changes every vector, so nothing less measures it), and only the held-out
queries are scored, before and after, in dense mode and the default mode. The saved model is trained on all
labels after that, so no number printed here comes from a query it saw.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from indexer.collection import Collection
from indexer.pipeline import Indexer
from indexer.reindex import copy_documents
from models import Embedder
from models.training import Contrast, TrainingConfig, train_bi_encoder
from service.eval.evaluation import EVAL_DEPTH
from service.eval.ir_metrics import dedupe, ndcg_at_k
from service.eval.reranker_training import LabelledQuery, from_qrels, load_pairs_jsonl, mean_folds, mine_negatives, split_folds
from service.search.searcher import Searcher


def contrasts(items: list[LabelledQuery], negatives: int) -> list[Contrast]:
    """One example per (query, positive); each takes the next `negatives` of the query's hard negatives in turn,
    so several positives of one query spread over its negatives."""
    out = []
    for item in items:
        pool = item.negatives
        for n, positive in enumerate(item.positives):
            chosen = tuple(pool[(n * negatives + j) % len(pool)] for j in range(min(negatives, len(pool)))) if pool else ()
            out.append(Contrast(item.query, positive, chosen))
    return out


def search_ndcg(searcher: Searcher, collection: Collection, items: list[LabelledQuery], modes: list[str], keep: dict | None = None) -> dict[str, list[float]]:
    """nDCG@10 per query and mode, searched as `quarry eval` does (top 100 chunks folded into documents).
    keep: filled with query -> its dense (doc id, text, score) hits, one per document, for mining negatives."""
    candidates = max(searcher.defaults.candidates, EVAL_DEPTH)
    scores: dict[str, list[float]] = {mode: [] for mode in modes}
    for item in items:
        for mode in modes:
            result = searcher.search(collection, item.query, top_k=EVAL_DEPTH, candidates=candidates, mode=mode, rerank=False)
            scores[mode].append(ndcg_at_k(dedupe([hit.doc_id for hit in result.hits]), item.judged))
            if keep is not None and mode == "dense":
                first = {}
                for hit in result.hits:
                    first.setdefault(hit.doc_id, (hit.doc_id, hit.text, hit.score))
                keep[item.query] = list(first.values())
    return scores


def pool_ndcg(embedder: Embedder, items: list[LabelledQuery], pool: list[str], prefixes: tuple[str, str]) -> list[float]:
    """Without judged documents (JSONL pairs): each query ranks every passage of the file (all positives and
    negatives); its own positives are the relevant ones."""
    index = {text: str(i) for i, text in enumerate(pool)}
    passages = embedder.encode([prefixes[1] + text for text in pool])
    queries = embedder.encode([prefixes[0] + item.query for item in items])
    out = []
    for item, vector in zip(items, queries):
        ranking = [str(i) for i in np.argsort(-(passages @ vector), kind="stable")[:10]]
        out.append(ndcg_at_k(ranking, {index[p]: 1 for p in item.positives}))
    return out


class FoldScorer:
    """Held-out scores of one model: re-embeds the collection with it (qrels), or ranks the passage pool (pairs)."""

    def __init__(self, runtime, collection: Collection | None, items: list[LabelledQuery], scratch: Path):
        self.runtime, self.collection, self.items, self.scratch = runtime, collection, items, scratch
        self.judged = bool(items and items[0].judged and collection is not None)
        modes = ["dense", runtime.settings.search_mode]
        self.modes = list(dict.fromkeys(modes))
        self.pool = list(dict.fromkeys(t for i in items for t in [*i.positives, *i.negatives]))
        manifest = collection.manifest if collection is not None else None
        self.prefixes = (manifest.query_prefix, manifest.document_prefix) if manifest else runtime.prefixes()
        self.dense_hits: dict[str, list] = {}  # the current embedder's, kept from scoring it: the negatives to mine

    def narrow(self, documents: int) -> None:
        """Score on a sub-collection instead: `documents` taken rank by rank from every query's judged documents
        (best grade first) and its current top hits in each mode, re-embedded with the current embedder too, so
        before and after are measured on the same documents. Cheaper on a large collection; it leaves out documents
        only the new model would rank high, so it flatters the new model a little."""
        searcher = self.runtime.searcher(rerank=False)
        candidates = max(searcher.defaults.candidates, EVAL_DEPTH)
        rankings = [
            dedupe([h.doc_id for h in searcher.search(self.collection, i.query, top_k=EVAL_DEPTH, candidates=candidates, mode=m, rerank=False).hits])
            for i in self.items for m in self.modes
        ]  # fmt: skip
        judged = [sorted((d for d, g in i.judged.items() if g > 0), key=lambda d, i=i: (-i.judged[d], d)) for i in self.items]
        chosen: dict[str, None] = {}
        for rank in range(max(map(len, rankings + judged), default=0)):
            for ranking in judged + rankings:
                if len(chosen) < documents and rank < len(ranking):
                    chosen.setdefault(ranking[rank])
        sub = Collection.create(self.scratch / "sub-collection", replace(self.collection.manifest, languages={}, created_at=0.0))
        copy_documents(self.collection, Indexer(sub, self.runtime.embedder), only=set(chosen))
        self.collection = self.narrowed = sub

    def close(self) -> None:
        if getattr(self, "narrowed", None) is not None:
            self.narrowed.close()

    def embedder(self, reference: str) -> Embedder:
        s = self.runtime.settings
        return Embedder(reference, s.device, s.dtype, s.batch_size, s.allow_downloads).load()

    def score(self, reference: str | None, held: list[int]) -> dict[str, list[float]]:
        """Per held-out query; reference None: the collection as it is (the embedder it was built with)."""
        test = [self.items[i] for i in held]
        if not self.judged:
            embedder = self.runtime.embedder.load() if reference is None else self.embedder(reference)
            return {"pool_ndcg@10": pool_ndcg(embedder, test, self.pool, self.prefixes)}
        if reference is None:
            scores = search_ndcg(self.runtime.searcher(rerank=False), self.collection, test, self.modes, self.dense_hits)
        else:
            embedder = self.embedder(reference)
            directory = self.scratch / f"{Path(reference).name}-collection"
            manifest = replace(self.collection.manifest, embedder=reference, dimension=embedder.dimension, languages={}, created_at=0.0)
            copy = Collection.create(directory, manifest)
            try:
                copy_documents(self.collection, Indexer(copy, embedder))
                scores = search_ndcg(self.runtime.searcher(rerank=False, embedder=embedder), copy, test, self.modes)
            finally:
                copy.close()
                shutil.rmtree(directory, ignore_errors=True)
        return {f"ndcg@10_{mode}": values for mode, values in scores.items()}


def _mean(values: dict[str, list[float]]) -> dict[str, float]:
    return {k: sum(v) / len(v) for k, v in values.items() if v}


def load_items(runtime, args) -> tuple[list[LabelledQuery], Collection | None, list[str]]:
    if args.dataset:
        from indexer.beir import load_beir
        from service.eval.evaluation import ensure_collection

        dataset = load_beir(args.dataset, args.split)
        collection, _ = ensure_collection(runtime, dataset, progress=False)
        return from_qrels(dataset, args.max_positives), collection, list(dataset.warnings)
    items, warnings = load_pairs_jsonl(args.pairs)
    return items, runtime.open_collection(args.collection) if args.collection else None, warnings


def train_from_args(runtime, args) -> dict:
    settings = runtime.settings
    output = Path(args.output)
    if output.exists() and any(output.iterdir()) and not args.overwrite:
        raise ValueError(
            f"--output {output} is not empty; give a new folder (collections built with a model are matched by its "
            "name, so replacing a model in place would mix vectors), or --overwrite"
        )
    items, collection, warnings = load_items(runtime, args)
    if len(items) < args.folds:
        raise ValueError(f"{len(items)} labelled queries cannot make {args.folds} folds; label more queries or lower --folds")
    if args.folds < 2:
        raise ValueError("--folds must be at least 2: the held-out estimate is what says whether training helped")
    report: dict = {"eval_documents": None}
    base = settings.embedder  # the collection's own embedder (opening it checked): "before" is today's search
    config = TrainingConfig(args.epochs, args.batch_size, args.learning_rate, args.max_length, seed=args.seed, train_layers=args.train_layers)
    started = time.perf_counter()
    scratch = Path(tempfile.mkdtemp(prefix="quarry-train-embedder-"))
    scorer = FoldScorer(runtime, collection, items, scratch)
    train_kwargs = dict(config=config, device=settings.device, allow_downloads=settings.allow_downloads, prefixes=scorer.prefixes)
    folds = split_folds(len(items), args.folds, args.seed)
    try:
        if args.eval_documents and scorer.judged and args.eval_documents < collection.counts()["documents"]:
            _say(f"scoring on a sub-collection of {args.eval_documents} documents: the judged ones and the top hits")
            scorer.narrow(args.eval_documents)
            report["eval_documents"] = scorer.collection.counts()["documents"]
        _say(f"scoring the current embedder on all {len(items)} queries")
        before_all = scorer.score(None, list(range(len(items))))
        if collection is not None:  # the current embedder's own near misses (judged mode: from the scoring above)
            hits = (lambda item: scorer.dense_hits[item.query]) if scorer.dense_hits else None
            mine_negatives(items, runtime.searcher(rerank=False), collection, args.negatives, hits=hits)
        report |= {"base": base, "queries": len(items), "examples": len(contrasts(items, args.negatives)), "folds": [],
                        "collection": collection.name if collection is not None else None, "warnings": warnings}  # fmt: skip
        for number, held in enumerate(folds):
            held_set = set(held)
            train = [items[i] for i in range(len(items)) if i not in held_set]
            _say(f"fold {number + 1}/{len(folds)}: training on {len(train)} queries, re-embedding the collection, scoring {len(held)} held out")
            fold_dir = train_bi_encoder(contrasts(train, args.negatives), scratch / f"fold-{number}", base, **train_kwargs)
            before = {k: [v[i] for i in held] for k, v in before_all.items()}
            after = scorer.score(str(fold_dir), held)
            report["folds"].append({"held_out_queries": len(held), "train_examples": len(contrasts(train, args.negatives)),
                                    "before": _mean(before), "after": _mean(after)})  # fmt: skip
            _say(format_fold(number + 1, report["folds"][-1]))
            shutil.rmtree(fold_dir, ignore_errors=True)
        report["held_out_mean"] = mean_folds(report["folds"])
        _say("held-out mean: " + "; ".join(format_change(k, b, report["held_out_mean"]["after"].get(k, float("nan"))) for k, b in report["held_out_mean"]["before"].items()))
        if args.estimate_only:
            report["output"] = None
        else:
            _say(f"training the saved model on all {len(items)} queries")
            train_bi_encoder(contrasts(items, args.negatives), output, base, **train_kwargs)
            report["output"] = str(output)
    finally:
        scorer.close()
        shutil.rmtree(scratch, ignore_errors=True)
    report["seconds"] = round(time.perf_counter() - started, 1)
    report["text"] = format_report(report)
    return report


def _say(message: str) -> None:
    print(f"train-embedder: {message}", file=sys.stderr, flush=True)


def format_fold(number: int, fold: dict) -> str:
    before = ", ".join(f"{k} {v:.4f}" for k, v in fold["before"].items())
    after = ", ".join(f"{k} {v:.4f}" for k, v in fold["after"].items())
    return f"held-out fold {number} ({fold['held_out_queries']} queries): before: {before}; after: {after}"


def format_change(key: str, before: float, after: float) -> str:
    return f"{key}: before {before:.4f}, after {after:.4f} ({after - before:+.4f})"


def format_report(report: dict) -> str:
    lines = [f"trained {report['base']} on {report['queries']} queries ({report['examples']} examples) in {report['seconds']}s"]
    lines += [f"  {format_fold(n, fold)}" for n, fold in enumerate(report["folds"], start=1)]
    mean = report["held_out_mean"]
    where = f"a sub-collection of {report['eval_documents']} documents" if report["eval_documents"] else "the whole collection"
    lines.append(f"held-out mean over {len(report['folds'])} folds on {where} (every query scored by a model that never saw it):")
    lines += [f"  {format_change(k, b, mean['after'].get(k, float('nan')))}" for k, b in mean["before"].items()]
    worse = [k for k, b in mean["before"].items() if mean["after"].get(k, b) < b]
    if worse:
        lines.append(f"warning: it scored lower on held-out queries ({', '.join(worse)}); keep the current embedder unless you have reasons this estimate misses")
    if report["output"] is None:
        lines.append("--estimate-only: no model saved")
        return "\n".join(lines + [f"warning: {w}" for w in report["warnings"]])
    lines.append(f"saved the embedder trained on all {report['queries']} queries (after the estimate above) to {report['output']}")
    name = report["collection"] or "NAME"
    lines += [
        "a new embedder means a re-index: every vector changes, and collections refuse an embedder they were not built with. One command:",
        f"  quarry reindex -c {name} --embedder {report['output']}",
        f"then search and serve with QUARRY_EMBEDDER={report['output']} (one embedder per process: reindex the other collections it serves too)",
    ]
    lines += [f"warning: {w}" for w in report["warnings"]]
    return "\n".join(lines)
