"""Where `quarry index` spends its time outside the model, stage by stage.

A corpus.jsonl of msmarco-subset passages (synthesized past 5,000) goes through `Indexer.index_paths`,
the path `quarry index` takes, with the embedder's forward pass replaced by a free one: the real
tokenizer and dimension, the texts tokenized for the model, random unit vectors out. On a GPU the
model embeds tens of thousands of passages a second, so what is left here (reading, chunking,
tokenizing, SQLite, FAISS) decides the end-to-end rate there; this measures that ceiling on any machine.

    python -m benchmarks.profile_indexing --limit 20000
    python -m benchmarks.profile_indexing --limit 20000 --profile     # plus the top functions (cProfile)
    python -m benchmarks.profile_indexing --limit 20000 --writers 1,2,4   # the ceiling per number of writers

With several --writers values every run indexes the same corpus into a fresh collection in this one
process, one after the other, so the ratios compare like with like on a shared machine.
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import io
import logging
import pstats
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from benchmarks.common import DEFAULT_DATA, load_beir, scale_passages, table, write_corpus_jsonl


class FreeEmbedder:
    """The real embedder's tokenizer, reference and dimension; encode() tokenizes as the GPU path does
    (models.pipeline_encode: the Rust tokenizer, truncated to the model's length) and skips the model."""

    def __init__(self, embedder):
        from models.pipeline_encode import _fast_tokenizer

        self._real = embedder
        self._rng = np.random.default_rng(0)
        self._tokenizer = _fast_tokenizer(embedder.tokenizer, embedder.max_seq_length)

    def __getattr__(self, name):
        return getattr(self._real, name)

    def encode(self, texts, **_):
        self._tokenizer.encode_batch(list(texts))
        vectors = self._rng.standard_normal((len(texts), self._real.dimension), dtype=np.float32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


class StageClock:
    """Wall time per stage, taken by wrapping the functions that do each stage (undone by restore())."""

    def __init__(self):
        self.seconds: dict[str, float] = defaultdict(float)
        self._undo: list[tuple[object, str, object]] = []

    def wrap(self, owner, name: str, stage: str) -> None:
        original = getattr(owner, name)

        @functools.wraps(original)
        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds[stage] += time.perf_counter() - start

        self._undo.append((owner, name, original))
        setattr(owner, name, timed)

    def restore(self) -> None:
        for owner, name, original in reversed(self._undo):
            setattr(owner, name, original)
        self._undo.clear()


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="BEIR folder (default: ../shared/datasets/msmarco-subset)")
    parser.add_argument("--model", default="sentence-transformers/all-MiniLM-L6-v2", help="embedder reference (its tokenizer is used)")
    parser.add_argument("--limit", type=int, default=20_000, help="passages")
    parser.add_argument("--batch-documents", type=int, default=None, help="documents per transaction (default: the Indexer's)")
    parser.add_argument("--writers", default="1", help="comma-separated numbers of parallel segment writers to compare (default: 1)")
    parser.add_argument("--write-only", action="store_true",
                        help="with --writers: time only the writes of documents chunked and embedded beforehand "
                        "(the part writers parallelize; SQLite must release the GIL for threads to help)")
    parser.add_argument("--profile", action="store_true", help="also print the top functions by own time (cProfile; slows Python parts)")
    return parser.parse_args(argv)


def main(argv=None) -> None:
    logging.basicConfig(level=logging.WARNING)
    args = parse_args(argv)
    from models import Embedder

    embedder = FreeEmbedder(Embedder(args.model, device="cpu").load())
    corpus, _, _ = load_beir(args.data)
    texts = scale_passages(list(corpus.values()), args.limit)
    writers = [int(w) for w in str(args.writers).split(",") if w.strip()]
    runs = []
    if args.write_only:
        write_only(args, embedder, texts, writers)
        return
    with tempfile.TemporaryDirectory() as tmp:
        source = write_corpus_jsonl(texts, Path(tmp) / "corpus.jsonl")
        for n in writers:
            runs.append((n, *run_once(args, embedder, source, Path(tmp) / f"profile-{n}", n)))
    if len(runs) > 1:
        base = runs[0][2]
        rows = [[n, total, args.limit / total, base / total, report.chunks] for n, _, total, report, *_ in runs]
        print(table(f"`quarry index` without the model, by writers: {args.limit:,} passages",
                    ["writers", "seconds", "passages/s", f"speed-up vs {runs[0][0]}", "chunks"], rows))  # fmt: skip
        print()
    for n, clock, total, report, batch, profiler in runs:
        print_stages(args, n, clock, total, report, batch, profiler)


def write_only(args, embedder, texts: list[str], writers: list[int]) -> None:
    """The write path alone: the same prepared batches written with each number of writers, in this process."""
    from indexer.collection import Collection
    from indexer.documents import Document
    from indexer.layout import Manifest
    from indexer.pipeline import Indexer
    from indexer.writers import ParallelWriters

    batch = args.batch_documents or 64
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        manifest = Manifest("profile", embedder.reference, embedder.dimension, 200, 32, "flat")
        with Collection.create(Path(tmp) / "prepare", manifest) as collection:
            indexer = Indexer(collection, embedder)
            docs = [Document(f"p{i}", text) for i, text in enumerate(texts)]
            batches = [indexer.embed(indexer.diff(docs[i : i + batch])).prepared for i in range(0, len(docs), batch)]
        for run, n in enumerate(writers):
            with Collection.create(Path(tmp) / f"run{run}-w{n}", manifest) as collection:
                start = time.perf_counter()
                if n == 1:
                    for prepared in batches:
                        collection.write(prepared)
                else:
                    parallel = ParallelWriters(collection, n)
                    for prepared in batches:
                        parallel.submit(prepared)
                    parallel.commit()
                    parallel.close()
                seconds = time.perf_counter() - start
                rows.append([n, seconds, len(texts) / seconds, collection.counts()["chunks"]])
    base = rows[0][1]
    for row in rows:
        row.insert(3, base / row[1])
    print(table(f"SQLite writes alone (rows + FTS5 + vectors; commit included), by writers: {len(texts):,} passages, "
                f"{batch} documents per batch", ["writers", "seconds", "passages/s", f"speed-up vs {writers[0]}", "chunks"], rows))  # fmt: skip


def run_once(args, embedder, source, directory, writers):
    import indexer.pipeline as pipeline_module
    from indexer.collection import Collection
    from indexer.layout import Manifest
    from indexer.pipeline import Indexer
    from indexer.store import Store

    clock = StageClock()
    manifest = Manifest("profile", embedder.reference, embedder.dimension, 200, 32, "flat")
    with Collection.create(directory, manifest) as collection:
        indexer = Indexer(collection, embedder, writers=writers)
        if args.batch_documents:
            indexer.batch_documents = args.batch_documents
        clock.wrap(pipeline_module, "load_file", "read + parse JSONL")
        clock.wrap(indexer.chunker, "chunk_many", "chunk (tokenize with offsets)")
        clock.wrap(embedder, "encode", "embed: tokenize only, no model")
        clock.wrap(Store, "write_documents", "SQLite write (rows + FTS5)")
        clock.wrap(Collection, "_apply", "vector index add")
        clock.wrap(Collection, "save_index", "save vectors.faiss")
        clock.wrap(Collection, "commit_segments", "commit segments")
        profiler = cProfile.Profile() if args.profile else None
        start = time.perf_counter()
        if profiler:
            profiler.enable()
        report = indexer.index_paths([source], progress=False)
        if profiler:
            profiler.disable()
        total = time.perf_counter() - start
        clock.restore()
    return clock, total, report, indexer.batch_documents, profiler


def print_stages(args, writers, clock, total, report, batch_documents, profiler) -> None:
    rows = [[stage, seconds, 100 * seconds / total, args.limit / seconds if seconds else float("inf")] for stage, seconds in clock.seconds.items()]
    rows.append(["total (wall)", total, 100.0, args.limit / total])
    print(table(
        f"`quarry index` without the model: {args.limit:,} passages, {report.chunks:,} chunks, "
        f"{batch_documents} documents per batch, {writers} writer(s)",
        ["stage", "seconds", "% of total", "passages/s if only this stage"], rows,
    ))
    print("chunking and embedding run in a worker thread beside the SQLite writes (and N writers beside each other), "
          "so stages can add up to more than the total")
    if profiler:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(15)
        print(out.getvalue())


if __name__ == "__main__":
    main()
