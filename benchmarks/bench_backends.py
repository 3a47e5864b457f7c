"""CPU backend comparison: torch vs ONNX Runtime fp32 vs ONNX Runtime int8, same machine, same data.

Per backend: indexing passages/s, one-query embedding latency, reranking 50 candidates, and dense-only
nDCG@10 on msmarco-subset (the whole corpus is embedded once per backend for that; --no-quality skips it).

No pretrained cross-encoder can be downloaded here, so unless --reranker names one, the reranker rows use
a stand-in with the cost of ms-marco-MiniLM-L6-v2 (the MiniLM backbone with an untrained one-logit head):
its latency is real, its scores are not.

    python -m benchmarks.bench_backends --limit 500 --repeat 2
"""

from __future__ import annotations

import argparse
import logging
import tempfile
from pathlib import Path

import numpy as np

from benchmarks.common import DEFAULT_DATA, Timer, load_beir, ndcg_at_10, percentile, table

BACKENDS = ("torch", "onnx", "onnx-int8")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--model", default="sentence-transformers/all-MiniLM-L6-v2")
    parser.add_argument("--reranker", default=None, help="a local CrossEncoder directory (default: a MiniLM-sized stand-in)")
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--limit", type=int, default=500, help="passages per throughput run")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--queries", type=int, default=30, help="queries timed for latency")
    parser.add_argument("--no-quality", action="store_true", help="skip nDCG@10 (embeds the whole corpus per backend)")
    parser.add_argument(
        "--quality-queries", type=int, default=0,
        help="nDCG on the first N judged queries over their judged passages plus --distractors others (0: all, whole corpus)",
    )
    parser.add_argument("--distractors", type=int, default=1000)
    parser.add_argument("--cache-dir", type=Path, default=None, help="ONNX export cache (default: a temporary folder)")
    return parser.parse_args(argv)


def standin_reranker(directory: Path, embedder_reference: str) -> str:
    """A cross-encoder with MiniLM-L6's shape: the same per-pair cost as ms-marco-MiniLM-L6-v2."""
    from transformers import AutoTokenizer, BertForSequenceClassification

    from models.resolve import resolve_model_reference

    source = resolve_model_reference(embedder_reference).location
    out = directory / "standin-reranker"
    BertForSequenceClassification.from_pretrained(source, num_labels=1).save_pretrained(out)
    AutoTokenizer.from_pretrained(source).save_pretrained(out)
    return str(out)


def main(argv=None) -> None:
    logging.basicConfig(level=logging.ERROR)
    args = parse_args(argv)
    from models import Embedder, Reranker

    corpus, queries, qrels = load_beir(args.data)
    passages = list(corpus.values())
    query_ids = [q for q in queries if q in qrels]
    doc_ids = list(corpus)
    if args.quality_queries:
        query_ids = query_ids[: args.quality_queries]
        qrels = {q: qrels[q] for q in query_ids}
        judged = {d for q in query_ids for d in qrels[q] if d in corpus}
        others = [d for d in corpus if d not in judged]
        doc_ids = sorted(judged) + others[: args.distractors]
    quality_passages = [corpus[d] for d in doc_ids]
    tmp = tempfile.TemporaryDirectory()
    cache_dir = args.cache_dir or Path(tmp.name) / "onnx"
    reranker_ref = args.reranker or standin_reranker(Path(tmp.name), args.model)
    sample = passages[: args.limit]

    rows, quality = [], {}
    for backend in args.backends.split(","):
        with Timer() as load:
            embedder = Embedder(args.model, device="cpu", backend=backend, cache_dir=cache_dir).load()
            reranker = Reranker(reranker_ref, device="cpu", backend=backend, cache_dir=cache_dir).load()
        embedder.encode(sample[:32]), reranker.score("warm up", sample[:8])
        runs = []
        for _ in range(args.repeat):
            with Timer() as t:
                embedder.encode(sample)
            runs.append(len(sample) / t.seconds)
        query_ms, rerank_ms = [], []
        for qid in query_ids[: args.queries]:
            with Timer() as t:
                embedder.encode([queries[qid]])
            query_ms.append(t.seconds * 1000)
        for i, qid in enumerate(query_ids[: max(5, args.queries // 3)]):
            candidates = passages[i * 50 : (i + 1) * 50]
            with Timer() as t:
                reranker.score(queries[qid], candidates)
            rerank_ms.append(t.seconds * 1000)
        row = [backend, " / ".join(f"{r:.0f}" for r in runs), max(runs), percentile(query_ms, 50), percentile(query_ms, 95), percentile(rerank_ms, 50)]
        if not args.no_quality:
            with Timer() as t:
                vectors = embedder.encode(quality_passages)
            qv = embedder.encode([queries[q] for q in query_ids])
            top = np.argsort(-(qv @ vectors.T), axis=1)[:, :10]
            quality[backend] = ndcg_at_10({q: [doc_ids[j] for j in top[i]] for i, q in enumerate(query_ids)}, qrels)
            row += [quality[backend], len(quality_passages) / t.seconds]
        rows.append(row)
        print(f"{backend}: loaded (export included, first time only) in {load.seconds:.1f}s", flush=True)

    header = ["backend", "passages/s (each run)", "passages/s (best)", "query embed p50 ms", "p95 ms", "rerank 50 p50 ms"]
    if not args.no_quality:
        header += ["nDCG@10 dense", f"passages/s ({len(quality_passages)})"]
    base = rows[0]
    for row in rows:
        row.insert(3, row[2] / base[2])
    header.insert(3, f"vs {base[0]}")
    print()
    title = f"CPU backends, {args.limit} passages x {args.repeat} runs"
    if not args.no_quality:
        title += f"; nDCG@10 over {len(query_ids)} judged queries and {len(quality_passages):,} passages"
    print(table(title, header, rows))
    if "torch" in quality:
        for backend, value in quality.items():
            if backend != "torch":
                print(f"nDCG@10 change {backend} vs torch: {value - quality['torch']:+.4f}")
    if not args.reranker:
        print("rerank column: a MiniLM-L6-sized stand-in cross-encoder (latency only; no pretrained one offline)")
    tmp.cleanup()


if __name__ == "__main__":
    main()
