"""Retrieval quality on a BEIR dataset, one table: dense, lexical, hybrid (plain RRF and the default
fusion) and hybrid + rerank (replacing and blending) with whatever QUARRY_RERANKER names.

    python -m benchmarks.quality [DATASET_DIR]        # default: ../shared/datasets/msmarco-subset

Every run goes through `service.search.pipeline.search`, as `quarry eval` does; the collection is built once
under QUARRY_DATA_DIR and reused.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from indexer.beir import load_beir
from service.search import fusion
from service.eval.evaluation import ensure_collection, format_table, run_eval
from service.runtime import Runtime
from service.settings import load_settings

DEFAULT_DATASET = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "msmarco-subset"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", nargs="?", default=str(DEFAULT_DATASET))
    parser.add_argument("--split", default="test")
    args = parser.parse_args()
    dataset = load_beir(args.dataset, args.split)
    runtime = Runtime(load_settings())
    collection, reused = ensure_collection(runtime, dataset)
    default = runtime.fusion
    searcher = runtime.searcher()

    def run(label, mode, config=default, rerank=False):
        return run_eval(searcher.replace(fusion=config), collection, dataset, mode=mode, rerank=rerank, label=label)

    results = [
        run("dense", "dense"),
        run("lexical (BM25)", "lexical"),
        run("hybrid, plain RRF", "hybrid", fusion.FusionConfig("rrf", 0.5, lexical_depth=0)),
        run(f"hybrid (default: {default.method} w={default.dense_weight})", "hybrid"),
    ]
    reranker = searcher.reranker
    if reranker is None:
        print(f"hybrid + rerank: skipped, {runtime.reranker_status.reason}", file=sys.stderr)
    else:
        results.append(run("hybrid + rerank", "hybrid", replace(default, rerank_weight=1.0), rerank=True))
        results.append(run("hybrid + rerank 50/50 blend", "hybrid", replace(default, rerank_weight=0.5), rerank=True))
    print(f"{dataset.summary()}\nreranker: {runtime.reranker_status.name} ({'loaded' if reranker else 'not loaded'})")
    print(format_table(results))
    runtime.close()


if __name__ == "__main__":
    main()
