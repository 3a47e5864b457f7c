"""Query latency and throughput: service.search.pipeline.search (embed + dense + lexical + fuse + rerank 50) from
1, 8 and 32 client threads, with and without micro-batching of the query embeddings.

The collection is built once from msmarco-subset passages (kept in --work-dir when given, so later runs
skip it). Unless --reranker names a CrossEncoder directory, reranking uses a stand-in with the cost of
ms-marco-MiniLM-L6-v2 (see bench_backends); --reranker none measures retrieval alone.

    python -m benchmarks.bench_query --seconds 10 --backend onnx-int8
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import threading
import time
from pathlib import Path


from benchmarks.common import DEFAULT_DATA, Timer, load_beir, percentile, table


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--model", default="sentence-transformers/all-MiniLM-L6-v2")
    parser.add_argument("--backend", default="torch", help="torch, onnx or onnx-int8 (embedder and reranker)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--reranker", default=None, help="CrossEncoder directory, 'none', or default: a MiniLM-sized stand-in")
    parser.add_argument("--limit", type=int, default=5000, help="passages in the collection")
    parser.add_argument("--index-type", default="auto", help="flat, hnsw or auto")
    parser.add_argument("--clients", default="1,8,32")
    parser.add_argument("--seconds", type=float, default=8.0, help="per client level and batching setting")
    parser.add_argument("--batch-ms", type=float, default=2.0, help="micro-batching wait; rows with it off are measured too")
    parser.add_argument("--work-dir", type=Path, default=None, help="keep the built collection here between runs")
    parser.add_argument("--faiss-threads", type=int, default=1, help="OpenMP threads per faiss call (0: faiss default)")
    return parser.parse_args(argv)


def build(args, root: Path):
    from indexer.catalog import Catalog
    from indexer.layout import Manifest
    from indexer.documents import Document
    from indexer.pipeline import Indexer
    from models import Embedder, Reranker

    cache = root / "onnx-cache"
    embedder = Embedder(args.model, device=args.device, backend=args.backend, cache_dir=cache).load()
    catalog = Catalog(root / "data")
    name = f"msmarco{args.limit}-{args.index_type}"
    if catalog.exists(name):
        collection = catalog.open(name, args.model)
    else:
        corpus, _, _ = load_beir(args.data)
        manifest = Manifest(name, args.model, embedder.dimension, 200, 32, args.index_type)
        collection = catalog.create(manifest)
        docs = [Document(doc_id, text) for doc_id, text in list(corpus.items())[: args.limit]]
        with Timer() as t:
            for start in range(0, len(docs), 1024):
                Indexer(collection, embedder).upsert(docs[start : start + 1024])
            collection.save_index()
        print(f"indexed {len(docs)} passages with backend {args.backend} in {t.seconds:.1f}s", flush=True)
    reranker = None
    if (args.reranker or "").lower() != "none":
        from benchmarks.bench_backends import standin_reranker

        reference = args.reranker or (str(root / "standin-reranker") if (root / "standin-reranker").exists() else standin_reranker(root, args.model))
        reranker = Reranker(reference, device=args.device, backend=args.backend, cache_dir=cache).load()
    return catalog, collection, embedder, reranker


def run_level(collection, embedder, reranker, queries: list[str], clients: int, seconds: float):
    from service.search.pipeline import search

    latencies: list[float] = []
    stages: list[dict] = []
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def client(offset: int) -> None:
        i = offset
        while time.perf_counter() < deadline:
            t = time.perf_counter()
            result = search(collection, embedder, queries[i % len(queries)], top_k=10, reranker=reranker, candidates=50)
            elapsed = (time.perf_counter() - t) * 1000
            with lock:
                latencies.append(elapsed)
                stages.append(result.timings_ms)
            i += 1

    started = time.perf_counter()
    threads = [threading.Thread(target=client, args=(k * 7,)) for k in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    stage_p50 = {k: percentile([s.get(k, 0.0) for s in stages], 50) for k in ("embed", "dense", "lexical", "rerank")}
    return latencies, wall, stage_p50


def main(argv=None) -> None:
    logging.basicConfig(level=logging.ERROR)
    args = parse_args(argv)
    from indexer.vectors.base import set_faiss_threads

    set_faiss_threads(args.faiss_threads)
    from service.inference import GuardedEmbedder  # what the API serves queries with

    tmp = None
    root = args.work_dir
    if root is None:
        tmp = tempfile.TemporaryDirectory()
        root = Path(tmp.name)
    root.mkdir(parents=True, exist_ok=True)
    catalog, collection, embedder, reranker = build(args, root)
    _, queries, _ = load_beir(args.data)
    queries = list(queries.values())
    run_level(collection, embedder, reranker, queries, 1, min(2.0, args.seconds))  # warm-up

    unbatched = GuardedEmbedder(embedder)
    batcher = GuardedEmbedder(embedder)
    batcher.enable_batching(max_batch=64, max_wait_ms=args.batch_ms)
    rows = []
    for clients in [int(c) for c in args.clients.split(",")]:
        for batching in (False, True):
            latencies, wall, stages = run_level(collection, batcher if batching else unbatched, reranker, queries, clients, args.seconds)
            rows.append([
                clients, f"{args.batch_ms:g} ms" if batching else "off", len(latencies), percentile(latencies, 50),
                percentile(latencies, 95), len(latencies) / wall, stages["embed"], stages["dense"], stages["lexical"], stages["rerank"],
            ])
            print(f"  {clients} clients, batching {'on' if batching else 'off'}: p50 {rows[-1][3]:.1f} ms", flush=True)
    index = collection.index
    kind = type(getattr(index, "inner", index)).__name__
    if reranker is None:
        what = "hybrid retrieval of 50 + fusion, no rerank"
    else:
        what = f"hybrid + rerank {'(stand-in) ' if not args.reranker else ''}of 50"
    title = (
        f"Query latency, {what}, "
        f"{collection.counts()['chunks']:,} chunks ({kind}), backend {args.backend} on {embedder.choice.device}"
    )
    header = ["clients", "query batching", "requests", "p50 ms", "p95 ms", "req/s", "embed p50", "dense p50", "lexical p50", "rerank p50"]
    print()
    print(table(title, header, rows))
    catalog.close()
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
