"""Fusion sensitivity on a BEIR dataset: dense and lexical lists are fetched once, every variant is scored offline.

    python -m benchmarks.fusion_sweep [DATASET_DIR] [--depth 100]

Prints nDCG@10 / recall@100 for dense and lexical alone, plain and weighted RRF, and min-max convex
fusion over a grid of dense weights and BM25 depths. The judged queries are the only labelled set,
so this is tuning on the test queries: read it as sensitivity, not as a held-out score.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from indexer.beir import load_beir
from service.eval.evaluation import ensure_collection, evaluate_rankings
from service.search.fusion import FusionConfig, fuse
from service.eval.ir_metrics import dedupe
from service.runtime import Runtime
from service.settings import load_settings

DEFAULT_DATASET = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "msmarco-subset"
WEIGHTS = (0.5, 0.6, 0.65, 0.7, 0.75, 0.8, 0.9)
LEXICAL_DEPTHS = (20, 30, 50, 0)


def retrieve_lists(collection, embedder, dataset, depth: int):
    vectors = embedder.encode(list(dataset.queries.values()))
    return {
        qid: (collection.dense_search(vector, depth), collection.lexical_search(text, depth))
        for (qid, text), vector in zip(dataset.queries.items(), vectors)
    }


def to_docs(collection, ranked, limit: int = 100) -> list[str]:
    chunks = collection.chunks([cid for cid, _ in ranked])
    return dedupe([chunks[cid].doc_id for cid, _ in ranked if cid in chunks])[:limit]


def score(collection, dataset, lists, make) -> dict:
    rankings = {qid: to_docs(collection, make(dense, lexical)) for qid, (dense, lexical) in lists.items()}
    return evaluate_rankings("", rankings, dataset).metrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", nargs="?", default=str(DEFAULT_DATASET))
    parser.add_argument("--depth", type=int, default=100, help="hits per retriever (quarry eval uses 100, the API 50)")
    args = parser.parse_args()
    dataset = load_beir(args.dataset)
    runtime = Runtime(load_settings(reranker="none"))
    collection, _ = ensure_collection(runtime, dataset)
    d = args.depth
    lists = {q: (a[:d], b[:d]) for q, (a, b) in retrieve_lists(collection, runtime.embedder, dataset, d).items()}
    rows = {
        "dense": score(collection, dataset, lists, lambda a, b: a),
        "lexical": score(collection, dataset, lists, lambda a, b: b),
        "RRF k=60 (plain)": score(collection, dataset, lists, lambda a, b: fuse(a, b, FusionConfig("rrf", 0.5, lexical_depth=0))),
    }
    for w in (0.7, 0.8):
        rows[f"RRF k=60 dense w={w}"] = score(collection, dataset, lists, lambda a, b, w=w: fuse(a, b, FusionConfig("rrf", w, lexical_depth=0)))
    print(f"depth {d}: {len(dataset.queries)} judged queries (tuning on the test set: sensitivity only)")
    print(f"{'run':<24} {'ndcg@10':>8} {'recall@100':>10}")
    for label, m in rows.items():
        print(f"{label:<24} {m['ndcg@10']:>8.4f} {m['recall@100']:>10.4f}")
    print("\nconvex min-max fusion, nDCG@10 (recall@100); rows: BM25 depth fused (0 = all), columns: dense weight")
    print(f"{'BM25 depth':<12}" + "".join(f"{w:>17}" for w in WEIGHTS))
    for depth in LEXICAL_DEPTHS:
        cells = []
        for w in WEIGHTS:
            m = score(collection, dataset, lists, lambda a, b, w=w, depth=depth: fuse(a, b, FusionConfig("convex", w, lexical_depth=depth)))
            cells.append(f"{m['ndcg@10']:.4f} ({m['recall@100']:.3f})")
        print(f"{depth or 'all':<12}" + "".join(f"{c:>17}" for c in cells))
    runtime.close()


if __name__ == "__main__":
    main()
