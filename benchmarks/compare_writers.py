"""Do `--writers N` collections equal the one-writer collection? Documents, chunks, vectors and top-10 hits.

Indexes the first --limit msmarco-subset passages once per --writers value (the real embedder by default;
--free uses seeded random vectors per text, for the write path alone), then compares every collection with
the first: document ids and content hashes, chunks (document, ordinal, text, offsets), vectors, and the
top 10 of --queries queries in dense, lexical and hybrid mode (no reranker): equal scores and the same
hits above the cut (which of a tie at the cut make it is arbitrary). Prints one table; exits 1 when anything differs.

    python -m benchmarks.compare_writers --limit 2000 --writers 1,4
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import DEFAULT_DATA, load_beir, table, write_corpus_jsonl


class SeededEmbedder:
    """The real embedder's tokenizer and dimension; each text's vector is seeded by the text (deterministic)."""

    def __init__(self, embedder):
        self._real = embedder

    def __getattr__(self, name):
        return getattr(self._real, name)

    def encode(self, texts, **_):
        out = np.zeros((len(texts), self._real.dimension), np.float32)
        for i, text in enumerate(texts):
            seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
            v = np.random.default_rng(seed).standard_normal(self._real.dimension).astype(np.float32)
            out[i] = v / np.linalg.norm(v)
        return out


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="BEIR folder (default: ../shared/datasets/msmarco-subset)")
    parser.add_argument("--model", default="sentence-transformers/all-MiniLM-L6-v2")
    parser.add_argument("--limit", type=int, default=2000, help="passages")
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--writers", default="1,4", help="comma-separated; the first is the reference")
    parser.add_argument("--batch-documents", type=int, default=64)
    parser.add_argument("--free", action="store_true", help="seeded random vectors instead of the model")
    return parser.parse_args(argv)


def same_hits(got: list[tuple], want: list[tuple], tol: float = 1e-4) -> bool:
    """Two top-k lists of (name..., score) agree: scores equal within tol, and the same hits above the cut.
    Hits within tol of the last score may differ: which of a tie make the cut is arbitrary."""
    if len(got) != len(want):
        return False
    if any(abs(a - b) > tol for a, b in zip(sorted(r[-1] for r in got), sorted(r[-1] for r in want))):
        return False
    cut = min((r[-1] for r in want), default=0.0) + tol
    return sorted(r[:-1] for r in got if r[-1] > cut) == sorted(r[:-1] for r in want if r[-1] > cut)


def _hits(collection, hits: list[tuple[int, float]]) -> list[tuple]:
    chunks = collection.chunks([cid for cid, _ in hits])
    return [(chunks[cid].doc_id, chunks[cid].ordinal, score) for cid, score in hits]


def observe(collection, embedder, queries: list[str]) -> dict:
    from service.search.pipeline import search

    docs = [(d.doc_id, d.content_hash, d.n_chunks) for d in collection.list_documents(10**9)]
    ids = np.array(sorted(collection.index.ids().tolist()), np.int64)
    chunks = collection.chunks(ids)
    vectors = dict(zip(ids.tolist(), collection.vectors(ids)))
    order = sorted(chunks, key=lambda c: (chunks[c].doc_id, chunks[c].ordinal))
    hits = {}
    for q in queries:
        vector = embedder.encode([q])[0]
        hits[q, "dense"] = _hits(collection, collection.dense_search(vector, 10))
        hits[q, "lexical"] = _hits(collection, collection.lexical_search(q, 10))
        found = search(collection, embedder, q, top_k=10, mode="hybrid", rerank=False).hits
        hits[q, "hybrid"] = [(h.doc_id, h.text, h.score) for h in found]
    return {
        "documents": docs,
        "chunks": [(chunks[c].doc_id, chunks[c].ordinal, chunks[c].text, chunks[c].start, chunks[c].end) for c in order],
        "vectors": np.stack([vectors[c] for c in order]) if order else np.zeros((0, 0)),
        "hits": hits,
    }


def main(argv=None) -> int:
    logging.basicConfig(level=logging.WARNING)
    args = parse_args(argv)
    from indexer.collection import Collection
    from indexer.layout import Manifest
    from indexer.pipeline import Indexer
    from models import Embedder

    real = Embedder(args.model, device="cpu").load()
    embedder = SeededEmbedder(real) if args.free else real
    corpus, queries, _ = load_beir(args.data)
    texts = list(corpus.values())[: args.limit]
    questions = list(queries.values())[: args.queries]
    writers = [int(w) for w in args.writers.split(",")]
    seen, rows = [], []
    with tempfile.TemporaryDirectory() as tmp:
        source = write_corpus_jsonl(texts, Path(tmp) / "corpus.jsonl")
        for n in writers:
            manifest = Manifest(f"w{n}", real.reference, real.dimension, 256, 32, "flat")
            with Collection.create(Path(tmp) / f"w{n}", manifest) as collection:
                start = time.perf_counter()
                report = Indexer(collection, embedder, batch_documents=args.batch_documents, writers=n).index_paths([source], progress=False)
                seconds = time.perf_counter() - start
                seen.append((n, observe(collection, embedder, questions), len(collection.segments.live), report, seconds))
    _, want, *_ = seen[0]
    failed = False
    for n, got, segments, report, seconds in seen:
        same = {key: got[key] == want[key] for key in ("documents", "chunks")}
        same["vectors"] = got["vectors"].shape == want["vectors"].shape and bool(np.allclose(got["vectors"], want["vectors"], atol=1e-6))
        differing = [k for k in want["hits"] if not same_hits(got["hits"][k], want["hits"][k])]
        failed |= not all(same.values()) or bool(differing)
        rows.append([n, segments, len(got["documents"]), len(got["chunks"]), same["documents"], same["chunks"], same["vectors"],
                     f"{len(want['hits']) - len(differing)}/{len(want['hits'])}", seconds])  # fmt: skip
    print(table(
        f"--writers N vs --writers {writers[0]}: {args.limit:,} msmarco-subset passages, {len(questions)} queries x dense/lexical/hybrid top 10"
        + (" (seeded random vectors)" if args.free else f" ({args.model})"),
        ["writers", "segments", "documents", "chunks", "same documents", "same chunks", "same vectors", "same top-10 lists", "index s"], rows,
    ))  # fmt: skip
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
