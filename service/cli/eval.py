"""`quarry eval` and `quarry train-reranker`: measure retrieval quality, and fine-tune a reranker."""

from __future__ import annotations

import argparse
import json
import sys
import time

from indexer.beir import load_beir
from service.cli.common import add_training_arguments, runtime_from_args
from service.search.options import MODES

RERANK_SUFFIX = "+rerank"


def _parse_runs(args) -> list[tuple[str, bool | None]]:
    """(mode, rerank) per run: --compare 'dense,hybrid,hybrid+rerank' or the single --mode."""
    if not args.compare:
        return [(args.mode, args.rerank)]
    runs = []
    for item in (part.strip() for part in args.compare.split(",") if part.strip()):
        mode, rerank = (item[: -len(RERANK_SUFFIX)], True) if item.endswith(RERANK_SUFFIX) else (item, False)
        if mode not in MODES:
            raise ValueError(f"--compare: unknown mode {mode!r}; use {', '.join(MODES)}, optionally with {RERANK_SUFFIX}")
        runs.append((mode, rerank))
    return runs


def cmd_eval(args) -> int:
    from service.eval.evaluation import ensure_collection, format_error_analysis, format_table, run_eval

    dataset = load_beir(args.dataset, args.split)
    for warning in dataset.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    runtime = runtime_from_args(args)
    settings = runtime.settings
    runs = _parse_runs(args)
    started = time.perf_counter()
    collection, reused = ensure_collection(runtime, dataset, progress=False if args.json else None)
    index_s = time.perf_counter() - started
    results = []
    searcher = runtime.searcher(rerank=any(rerank is not False for _, rerank in runs))  # loads the reranker only if a run wants it
    for mode, rerank in runs:
        mode = mode or settings.search_mode
        use_reranker = rerank is not False and searcher.reranker is not None
        note = searcher.reranker_note if rerank is not False else ""
        if rerank is True and searcher.reranker is None:
            raise ValueError(f"--rerank asked for, but no reranker could be loaded: {note}")
        label = mode + (RERANK_SUFFIX if use_reranker else "")
        result = run_eval(searcher, collection, dataset, mode=mode, rerank=use_reranker, candidates=args.candidates or None, label=label)
        result.note = note
        results.append(result)
    runtime.close()

    info = {"dataset": dataset.name, "split": dataset.split, "collection": collection.name, "reused_index": reused, "index_seconds": round(index_s, 1)}
    if args.json:
        def entry(r):
            return {**r.summary(), "mode": r.label, "error_analysis": r.error_analysis(), **({"rerank_note": r.note} if r.note and not r.reranked else {})}

        out = {**entry(results[0]), **info} if len(results) == 1 else {"runs": {r.label: entry(r) for r in results}, **info}
        print(json.dumps(out))
        return 0
    print(dataset.summary())
    print(f"collection {collection.name}: {'reused' if reused else 'built'} in {index_s:.1f}s")
    print(format_table(results))
    for r in results:
        if r.note and not r.reranked:
            print(f"({r.label}: not reranked: {r.note})")
    print()
    for r in results:
        print(format_error_analysis(r, dataset))
    return 0


def cmd_train_reranker(args) -> int:
    from service.eval.reranker_training import train_from_args

    report = train_from_args(runtime_from_args(args), args)
    print(json.dumps(report) if args.json else report["text"])
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("eval", help="measure retrieval quality on a BEIR-format dataset")
    p.add_argument("dataset", metavar="DATASET_DIR", help="folder with corpus.jsonl, queries.jsonl, qrels/<split>.tsv")
    p.add_argument("--mode", choices=MODES, help="search mode (default: QUARRY_SEARCH_MODE)")
    p.add_argument("--rerank", action=argparse.BooleanOptionalAction, default=None,
                   help="rerank with QUARRY_RERANKER (default: when one can be loaded; --rerank requires it)")
    p.add_argument("--candidates", type=int, default=0, help="hits per retriever (at least 100 are taken for recall@100)")
    p.add_argument("--split", default="test", help="qrels split: qrels/<split>.tsv (test, dev, ...)")
    p.add_argument("--compare", metavar="RUNS", help="comma-separated runs side by side, e.g. dense,lexical,hybrid,hybrid+rerank")
    p.add_argument("--json", action="store_true", help="print the metrics as one JSON object")
    p.set_defaults(func=cmd_eval)

    p = subparsers.add_parser("train-reranker", help="fine-tune a cross-encoder on labelled pairs")
    add_training_arguments(p, "directory for the trained CrossEncoder", negatives=4, epochs=1)
    p.add_argument("--base", default="", help="CrossEncoder directory or model to start from (default: bundled MiniLM + new head)")
    p.add_argument("--folds", type=int, default=0, help="k-fold by query: report every held-out fold, then train on all")
    p.add_argument("--held-out", type=float, default=0.2, help="share of queries held out when --folds is not given")
    p.set_defaults(func=cmd_train_reranker)
