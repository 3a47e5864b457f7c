"""`quarry index` against plain `SentenceTransformer.encode()` on a CPU, start-up included, per backend.

Both sides run as fresh processes, timed from outside, interleaved (plain, then each backend, repeated), and
the best of each is kept, so a busy shared machine hurts them alike; the figures that count are the ratios
within one run (plain seconds / quarry seconds: above 1.0 quarry is faster than plain encode).

  plain:  python -c "SentenceTransformer(model).encode(texts)" on the passages' text (defaults: fp32, batch 32)
  quarry: `quarry index corpus.jsonl` into a new collection (read, chunk, detect languages, embed, write
          SQLite + FTS5, build and save the vector index), with QUARRY_BACKEND set per row

The ONNX exports are made once before timing (a cache folder shared by the runs), as a user's second run
would find them. Then, in this process, one more indexing run per backend with a clock on each stage shows
where the time goes (stages overlap: chunking and embedding run in a worker thread beside the writes).

    python -m benchmarks.bench_cpu_index DATA_DIR --limit 2000 --repeat 2
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from benchmarks.common import REPO, table

BACKENDS = ("torch", "onnx", "onnx-int8")
PLAIN = """  # the texts as plain encode() sees them: no chunking, no storage
import json, sys
from sentence_transformers import SentenceTransformer
from models.resolve import resolve_model_reference
texts = [json.loads(line)["text"] for line in open(sys.argv[2])]
SentenceTransformer(resolve_model_reference(sys.argv[1]).location, device="cpu").encode(texts)
"""


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="a BEIR folder with corpus.jsonl (or the corpus.jsonl itself)")
    parser.add_argument("--limit", type=int, default=2000, help="first N passages of the corpus")
    parser.add_argument("--repeat", type=int, default=2, help="interleaved rounds; the best of each method counts")
    parser.add_argument(
        "--backends", default=",".join(BACKENDS),
        help="QUARRY_BACKEND values; `default` leaves it unset; `onnx:QUARRY_BATCH_SIZE=32` adds settings to a row",
    )
    parser.add_argument("--baseline", type=Path, default=None, help="another checkout (e.g. before a change): one more row, its default backend")
    parser.add_argument("--model", default="sentence-transformers/all-MiniLM-L6-v2")
    parser.add_argument("--no-stages", action="store_true", help="skip the per-stage run")
    parser.add_argument("--stage-backends", default="", help="backends of the per-stage run (default: those of --backends)")
    parser.add_argument("--json", type=Path, default=None, help="also write the timings here")
    return parser.parse_args(argv)


def first_passages(data: Path, limit: int, target: Path) -> Path:
    """The first `limit` records of corpus.jsonl, as they are (ids, titles), for both sides to read."""
    source = data / "corpus.jsonl" if data.is_dir() else data
    if not source.exists():
        raise SystemExit(f"no corpus.jsonl at {data}")
    with open(source) as inp, open(target, "w") as out:
        for n, line in enumerate(inp):
            if n >= limit:
                break
            row = json.loads(line)
            row["text"] = ((row.get("title") or "") + " " + row["text"]).strip()  # what plain encode embeds too
            row["title"] = ""
            out.write(json.dumps(row) + "\n")
    return target


def environment(backend: str | None, work: Path, code: Path = REPO) -> dict[str, str]:
    """The child's environment: this checkout (or `code`, a baseline checkout) first on the path."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(code)
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false", HF_HUB_DISABLE_PROGRESS_BARS="1")
    env["QUARRY_ONNX_CACHE_DIR"] = str(work / "onnx-cache")
    env["QUARRY_RERANKER"] = "none"
    env["QUARRY_DEVICE"] = "cpu"
    if backend is not None:
        env["QUARRY_BACKEND"] = backend
    return env


def timed(command: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    # run in the checkout itself: `python -m` puts the working directory first on sys.path, before PYTHONPATH
    done = subprocess.run(command, env=env, cwd=env["PYTHONPATH"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return seconds


def quarry_index(corpus: Path, run: int, work: Path, label: str) -> list[str]:
    data_dir = work / f"data-{label}-{run}"
    return [sys.executable, "-m", "service.cli.main", "--data-dir", str(data_dir), "index", str(corpus), "-c", "bench", "--no-progress"]


def stage_times(corpus: Path, work: Path, backend: str, model: str) -> dict[str, float]:
    """One indexing run in this process with a clock on each stage (start-up = settings + model load)."""
    os.environ.update({k: v for k, v in environment(backend, work).items() if k.startswith(("QUARRY_", "HF_", "TRANS", "TOKEN"))})
    import indexer.pipeline as pipeline_module
    from indexer.collection import Collection
    from indexer.store import Store
    from models.loading import clear_cache
    from service.runtime import Runtime
    from service.settings import load_settings

    clear_cache()
    seconds: dict[str, float] = defaultdict(float)
    undo = []

    def wrap(owner, name, stage, generator=False):
        original = getattr(owner, name)

        @functools.wraps(original)
        def clocked(*args, **kwargs):
            start = time.perf_counter()
            try:
                result = original(*args, **kwargs)
            finally:
                seconds[stage] += time.perf_counter() - start
            if not generator:
                return result
            return _clocked_iter(result, seconds, stage)

        undo.append((owner, name, original))
        setattr(owner, name, clocked)

    start = time.perf_counter()
    runtime = Runtime(load_settings(data_dir=work / f"stages-{backend}", embedder=model))
    runtime.embedder.load()
    seconds["start-up (model load)"] = time.perf_counter() - start
    collection = runtime.open_or_create("bench")
    indexer = runtime.indexer(collection)
    wrap(pipeline_module, "stream_jsonl", "read + parse JSONL", generator=True)
    wrap(indexer.chunker, "chunk_many", "chunk (tokenize with offsets)")
    wrap(pipeline_module, "detect_language", "language detection")
    wrap(runtime.embedder, "encode", "embed (tokenize + model)")
    wrap(Store, "write_documents", "SQLite write (rows + FTS5)")
    wrap(Collection, "_apply", "vector index add")
    wrap(Collection, "save_index", "save vector index")
    start = time.perf_counter()
    try:
        indexer.index_paths([corpus], progress=False)
    finally:
        for owner, name, original in reversed(undo):
            setattr(owner, name, original)
    seconds["index_paths (wall)"] = time.perf_counter() - start
    runtime.close()
    clear_cache()
    return dict(seconds)


def _clocked_iter(iterator, seconds, stage):
    while True:
        start = time.perf_counter()
        try:
            item = next(iterator)
        except StopIteration:
            seconds[stage] += time.perf_counter() - start
            return
        seconds[stage] += time.perf_counter() - start
        yield item


def main(argv=None) -> None:
    logging.basicConfig(level=logging.WARNING)
    args = parse_args(argv)
    backends = args.backends.split(",")
    with tempfile.TemporaryDirectory(prefix="bench-cpu-index-") as tmp:
        work = Path(tmp)
        corpus = first_passages(args.data, args.limit, work / "corpus.jsonl")
        warm = first_passages(args.data, 8, work / "warm.jsonl")
        # label -> (command on a corpus, environment); "default" leaves QUARRY_BACKEND unset
        methods = {"plain": (lambda c, run: [sys.executable, "-c", PLAIN, args.model, str(c)], environment(None, work))}
        for spec in backends:  # "onnx" or "onnx:QUARRY_BATCH_SIZE=32;QUARRY_X=y" (a variant with more settings)
            backend, _, extra = spec.partition(":")
            env = environment(None if backend == "default" else backend, work)
            env.update(item.split("=", 1) for item in extra.split(";") if item)
            methods[spec] = (functools.partial(quarry_index, work=work, label=str(len(methods))), env)
        if args.baseline:
            methods["baseline"] = (functools.partial(quarry_index, work=work, label="baseline"), environment(None, work, args.baseline))
        for label, (command, env) in methods.items():  # exports the ONNX models once, warms the page cache
            timed(command(warm, -1), env)

        runs: dict[str, list[float]] = {label: [] for label in methods}
        for run in range(args.repeat):
            for label, (command, env) in methods.items():
                runs[label].append(timed(command(corpus, run), env))
            print(f"round {run + 1}: " + ", ".join(f"{k} {v[-1]:.1f}s" for k, v in runs.items()), flush=True)

        best_plain = min(runs["plain"])
        names = {"plain": "plain SentenceTransformer.encode()", "default": "quarry index, default backend",
                 "baseline": f"quarry index, default backend, baseline checkout {args.baseline.name if args.baseline else ''}"}
        rows = [
            [names.get(label, f"quarry index, backend {label}"), " / ".join(f"{s:.1f}" for s in runs[label]), best_plain / min(runs[label])]
            for label in methods
        ]
        print()
        print(table(
            f"{args.limit:,} passages, start-up included, best of {args.repeat} interleaved rounds (ratios are what count)",
            ["method", "seconds (each round)", "plain / this (best)"], rows,
        ))  # fmt: skip

        stages = {}
        if not args.no_stages:
            chosen = args.stage_backends.split(",") if args.stage_backends else [b for b in backends if b != "default" and ":" not in b]
            for backend in chosen:
                stages[backend] = stage_times(corpus, work, backend, args.model)
            names = list(dict.fromkeys(name for s in stages.values() for name in s))
            print()
            print(table(
                "Stages of one `quarry index` run per backend, in this process (seconds; stages overlap)",
                ["stage", *stages], [[name, *(stages[b].get(name, 0.0) for b in stages)] for name in names],
            ))  # fmt: skip
        if args.json:
            args.json.write_text(json.dumps({"limit": args.limit, "runs": runs, "stages": stages}, indent=1))


if __name__ == "__main__":
    main()
