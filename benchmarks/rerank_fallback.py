"""How well POST /v1/rerank orders passages without a cross-encoder: embedder cosine, BM25 over the given
passages, and blends of the two, on a BEIR dataset with graded judgments.

    python -m benchmarks.rerank_fallback [DATASET_DIR] [--depth 20]

Each query's candidates are what a hybrid retriever hands a reranker: the dense top `depth` and the BM25
top `depth` from the whole collection, merged and put in a fixed shuffled order (so no scorer inherits a
retriever's order). Each scorer sees only the candidates' texts, as the route does. Prints nDCG@10 and MRR@10.
"""

from __future__ import annotations

import argparse
import random

from indexer.beir import load_beir
from service.eval.evaluation import ensure_collection
from service.eval.ir_metrics import mrr_at_k, ndcg_at_k
from service.search.pair_scoring import EmbeddingPairScorer, blend, bm25_scores
from service.runtime import Runtime
from service.settings import load_settings
from benchmarks.quality import DEFAULT_DATASET

WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.5, 1.0)  # BM25's share; 1.0 is BM25 over the given passages alone


def candidates(collection, searcher, query: str, depth: int) -> list[tuple[str, str]]:
    seen: dict[str, str] = {}
    for mode in ("dense", "lexical"):
        for hit in searcher.search(collection, query, top_k=depth, mode=mode, candidates=depth, rerank=False).hits:
            seen.setdefault(hit.doc_id, hit.text)
    pool = list(seen.items())
    random.Random(query).shuffle(pool)
    return pool


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", nargs="?", default=str(DEFAULT_DATASET))
    parser.add_argument("--split", default="test")
    parser.add_argument("--depth", type=int, default=20, help="hits per retriever in each query's candidate set")
    args = parser.parse_args()
    dataset = load_beir(args.dataset, args.split)
    runtime = Runtime(load_settings())
    collection, _ = ensure_collection(runtime, dataset)
    embedder = runtime.embedder
    scorer = EmbeddingPairScorer(embedder)
    searcher = runtime.searcher(rerank=False)
    totals = {w: [0.0, 0.0] for w in WEIGHTS}
    sizes = []
    for query_id, query in dataset.queries.items():
        pool = candidates(collection, searcher, query, args.depth)
        sizes.append(len(pool))
        ids, texts = [p[0] for p in pool], [p[1] for p in pool]
        judged = dataset.qrels[query_id]
        cosine, bm25 = scorer.cosine(query, texts), bm25_scores(query, texts)  # once; the weights only blend them
        for weight in WEIGHTS:
            scores = blend(cosine, bm25, weight)
            ranking = [ids[i] for i in sorted(range(len(ids)), key=lambda i: -scores[i])]
            totals[weight][0] += ndcg_at_k(ranking, judged, 10)
            totals[weight][1] += mrr_at_k(ranking, judged, 10)
    n = len(dataset.queries)
    print(f"{dataset.summary()}\n{n} queries, {sum(sizes) / n:.1f} candidates each (dense + BM25 top {args.depth})")
    print("bm25 share  nDCG@10  MRR@10")
    for weight, (ndcg, mrr) in totals.items():
        print(f"{weight:>10.1f}  {ndcg / n:.4f}   {mrr / n:.4f}")
    runtime.close()


if __name__ == "__main__":
    main()
