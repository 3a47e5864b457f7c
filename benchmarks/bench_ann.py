"""Approximate vs exact search: recall@10 against flat, search latency, build time and bytes per vector.

Vectors: msmarco-subset passage embeddings (read from a quarry collection with --collection, or embedded
here), scaled up to --size with noisy copies (cosine ~0.9 to their source, renormalized) so the index sees
a realistic clustered distribution at sizes the corpus does not reach. Queries: the real query embeddings.

    python -m benchmarks.bench_ann --size 50000

ivfpq keeps only its codes; it re-scores its top candidates from the float32 vectors, which a collection reads
from SQLite and this benchmark reads from an array in RAM, so its search time leaves out that SQLite read.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
from pathlib import Path

import numpy as np

from benchmarks.common import DEFAULT_DATA, Timer, load_beir, percentile, table


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--model", default="sentence-transformers/all-MiniLM-L6-v2")
    parser.add_argument("--backend", default="onnx-int8", help="embedder backend used when vectors are embedded here")
    parser.add_argument("--collection", type=Path, default=None, help="a quarry collection directory to take vectors from")
    parser.add_argument("--base", type=int, default=1000, help="passages embedded here when no --collection is given")
    parser.add_argument("--size", type=int, default=50_000, help="vectors in the index (noisy copies past the base)")
    parser.add_argument("--kinds", default="flat,hnsw,ivf,ivfpq")
    parser.add_argument("--faiss-threads", type=int, default=1, help="OpenMP threads per faiss call (0: faiss default)")
    return parser.parse_args(argv)


def base_vectors(args, embedder) -> np.ndarray:
    if args.collection:
        from indexer.store import Store

        store = Store(str(args.collection / "quarry.sqlite"))
        vectors = np.concatenate([v for _, v in store.iter_vectors()])
        store.close()
        return vectors
    corpus, _, _ = load_beir(args.data)
    return embedder.encode(list(corpus.values())[: args.base])


def scale(vectors: np.ndarray, size: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(vectors), size - len(vectors)) if size > len(vectors) else np.zeros(0, int)
    sigma = np.sqrt((1 / 0.9**2 - 1) / vectors.shape[1])
    noisy = vectors[picks] + rng.standard_normal((len(picks), vectors.shape[1])).astype(np.float32) * sigma
    out = np.concatenate([vectors[:size], noisy]).astype(np.float32)
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def build(kind: str, vectors: np.ndarray):
    from indexer.vectors.ann import AutoIndex
    from indexer.vectors.factory import create_index

    ids = np.arange(len(vectors))
    if kind == "ivf":  # IVF is reached through the auto index, which trains it on the vectors it holds
        index = AutoIndex(vectors.shape[1], threshold=0, ann_type="ivf")
    else:
        index = create_index(kind, vectors.shape[1])
    index.attach(lambda wanted: (wanted, vectors[wanted]))  # ids are row numbers here; a collection reads SQLite
    for start in range(0, len(vectors), 50_000):
        index.add(ids[start : start + 50_000], vectors[start : start + 50_000])
    return index


def main(argv=None) -> None:
    logging.basicConfig(level=logging.ERROR)
    args = parse_args(argv)
    from indexer.vectors.base import set_faiss_threads

    set_faiss_threads(args.faiss_threads)
    from models import Embedder

    with tempfile.TemporaryDirectory() as tmp:
        embedder = Embedder(args.model, device="cpu", backend=args.backend, cache_dir=Path(tmp) / "onnx")
        vectors = scale(base_vectors(args, embedder), args.size)
        _, queries, _ = load_beir(args.data)
        query_vectors = embedder.encode(list(queries.values()))
        rows, exact_ids = [], None
        for kind in args.kinds.split(","):
            with Timer() as built:
                index = build(kind, vectors)
            latencies = []
            found = []
            for q in query_vectors:
                with Timer() as t:
                    found.append(index.search(q, 10)[1][0])
                latencies.append(t.seconds * 1000)
            found = np.stack(found)
            if kind == "flat":
                exact_ids = found
            recall = (
                float(np.mean([len(set(f) & set(e)) / 10 for f, e in zip(found, exact_ids)])) if exact_ids is not None else float("nan")
            )
            path = Path(tmp) / f"{kind}.faiss"
            index.save(path)
            rows.append([kind, len(vectors), built.seconds, recall, percentile(latencies, 50), percentile(latencies, 95), path.stat().st_size / len(vectors)])
    dim = vectors.shape[1]
    print(table(
        f"Vector index: recall@10 vs exact over {len(query_vectors)} queries, {len(vectors):,} x {dim}-dim vectors, "
        f"faiss threads {args.faiss_threads or 'default'}",
        ["index", "vectors", "build s", "recall@10", "search p50 ms", "p95 ms", "index bytes/vector"],
        rows,
    ))
    print(f"(exact float32 vectors alone are {4 * dim} bytes; SQLite keeps another copy of each as the source of truth)")
    print("RAM per chunk at 1M / 10M / 100M chunks, from index bytes/vector:")
    for row in rows:
        print(f"  {row[0]:6s} " + " / ".join(f"{row[-1] * n / 2**30:,.1f} GiB" for n in (1e6, 1e7, 1e8)))


if __name__ == "__main__":
    main()
