"""Indexing throughput: quarry's pipelined encoder (and full indexing) against plain SentenceTransformer.encode().

Same run, same data. Past the corpus size the passages are synthesized (real passages with a few words
shuffled) so the 200,000-chunk GPU goal can be measured from the 5,000-passage msmarco-subset.

    python -m benchmarks.bench_indexing                      # CUDA when present: 200,000 chunks; CPU: 1,000
    python -m benchmarks.bench_indexing --limit 2000 --repeat 2
"""

from __future__ import annotations

import argparse
import logging
import tempfile
from pathlib import Path

import numpy as np

from benchmarks.common import DEFAULT_DATA, Timer, load_beir, scale_passages, sync_cuda, table, write_corpus_jsonl


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="BEIR folder (default: ../shared/datasets/msmarco-subset)")
    parser.add_argument("--model", default="sentence-transformers/all-MiniLM-L6-v2", help="embedder reference")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda")
    parser.add_argument("--limit", type=int, default=None, help="passages (default: 200000 on CUDA, 1000 on CPU)")
    parser.add_argument("--repeat", type=int, default=2, help="timed runs of each method")
    parser.add_argument("--tokens-per-batch", type=int, default=None, help="default: 65536 on CUDA, 8192 on CPU")
    parser.add_argument("--no-end-to-end", action="store_true", help="skip the full indexing row (chunk + embed + SQLite + FAISS)")
    return parser.parse_args(argv)


def main(argv=None) -> None:
    logging.basicConfig(level=logging.WARNING)
    args = parse_args(argv)
    from sentence_transformers import SentenceTransformer

    from models import Embedder
    from models.pipeline_encode import PipelinedEncoder
    from models.resolve import resolve_model_reference

    embedder = Embedder(args.model, device=args.device).load()  # fp16 on CUDA, fp32 on CPU
    device = embedder.choice.device
    limit = args.limit or (200_000 if embedder.choice.is_cuda else 1_000)
    corpus, _, _ = load_beir(args.data)
    texts = scale_passages(list(corpus.values()), limit)

    plain = SentenceTransformer(resolve_model_reference(args.model).location, device=device)  # encode() defaults: fp32, batch 32
    pipeline = PipelinedEncoder(embedder, tokens_per_batch=args.tokens_per_batch)
    plain.encode(texts[:256]), pipeline.encode(texts[:256])  # warm-up: kernels, allocator, thread pools

    rows, plain_vectors, fast_vectors = [], None, None
    timings: dict[str, list[float]] = {"plain": [], "pipeline": [], "end-to-end": []}
    for _ in range(args.repeat):
        with Timer() as t:
            plain_vectors = plain.encode(texts)
            sync_cuda()
        timings["plain"].append(t.seconds)
        with Timer() as t:
            fast_vectors = pipeline.encode(texts)
            sync_cuda()
        timings["pipeline"].append(t.seconds)
        if not args.no_end_to_end:
            timings["end-to-end"].append(index_end_to_end(embedder, texts))

    plain_vectors = plain_vectors / np.linalg.norm(plain_vectors, axis=1, keepdims=True)
    cosines = (plain_vectors * fast_vectors).sum(axis=1)
    base = min(timings["plain"])
    labels = {
        "plain": f"SentenceTransformer.encode() defaults (fp32, batch 32) on {device}",
        "pipeline": f"quarry PipelinedEncoder ({embedder.choice.dtype}, {pipeline.tokens_per_batch} tokens/batch)",
        "end-to-end": "quarry index corpus.jsonl: read + chunk + embed + SQLite + FAISS",
    }
    for key, seconds in timings.items():
        if seconds:
            rows.append([labels[key], limit, " / ".join(f"{s:.1f}" for s in seconds), limit / min(seconds), base / min(seconds)])
    print(table(f"Indexing throughput, {limit:,} passages from {args.data.name}", ["method", "passages", "seconds (each run)", "passages/s (best)", "vs plain"], rows))
    print(f"\nembeddings vs plain encode(): cosine min {cosines.min():.5f}, mean {cosines.mean():.6f} over {len(cosines):,} vectors")
    if limit > len(corpus):
        print(f"({limit - len(corpus):,} passages synthesized from the {len(corpus):,} real ones)")


def index_end_to_end(embedder, texts: list[str]) -> float:
    """Seconds for `quarry index corpus.jsonl` on `texts`: read, chunk, embed, write SQLite + FAISS, save."""
    from indexer.collection import Collection
    from indexer.layout import Manifest
    from indexer.pipeline import Indexer

    with tempfile.TemporaryDirectory() as tmp:
        source = write_corpus_jsonl(texts, Path(tmp) / "corpus.jsonl")
        manifest = Manifest("bench", embedder.reference, embedder.dimension, 200, 32, "auto")
        with Collection.create(Path(tmp) / "bench", manifest) as collection:
            with Timer() as t:
                Indexer(collection, embedder).index_paths([source], progress=False)  # saves vectors.faiss at the end
    return t.seconds


if __name__ == "__main__":
    main()
