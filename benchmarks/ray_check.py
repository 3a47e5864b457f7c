"""`--engine ray` against the local engine on real passages, and a driver killed with SIGKILL mid-job.

    python -m benchmarks.ray_check compare DATASET --limit 2000 --work DIR   # same docs, chunks, vectors, top 10?
    python -m benchmarks.ray_check kill DATASET --limit 2000 --work DIR      # kill -9 the driver, run again, compare

DATASET is a BEIR folder (corpus.jsonl, queries.jsonl), e.g. msmarco-subset; the first --limit passages are
indexed with the configured embedder (the bundled MiniLM by default) into collections under DIR/data. With
no --ray-address a local Ray of --cpus CPUs is started (127.0.0.1 only) and stopped. Prints what differs
(nothing, when all is well) and the wall time of each run; exits 1 when anything differs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

MODES = ("dense", "lexical", "hybrid")


def collection_snapshot(runtime, name: str, queries: list[str]) -> dict:
    """What a reader sees: documents with content hashes, chunks with text and vector, top-10 hits per mode."""
    collection = runtime.open_collection(name)
    documents = {d.doc_id: d.content_hash for d in collection.list_documents(limit=1_000_000)}
    collection.refresh()
    chunk_ids = np.sort(np.asarray(collection.index.ids(), dtype=np.int64))  # every live chunk, base and segments
    stored = collection.chunks(chunk_ids.tolist())
    vectors = collection.vectors(chunk_ids) if len(chunk_ids) else np.zeros((0, 0))
    chunks = {(c.doc_id, c.ordinal): (c.text, vectors[i]) for i, c in enumerate(stored[int(cid)] for cid in chunk_ids)}
    searcher = runtime.searcher(rerank=False)
    hits = {(q, mode): [(h.doc_id, h.start, h.end) for h in searcher.search(collection, q, mode=mode, top_k=10, rerank=False).hits]
            for q in queries for mode in MODES}  # fmt: skip
    return {"documents": documents, "chunks": chunks, "hits": hits, "counts": collection.counts()}


def differences(a: dict, b: dict, atol: float = 1e-5) -> list[str]:
    """What differs between two snapshots, in words; [] when they are the same collection."""
    out = []
    if a["counts"] != b["counts"]:
        out.append(f"counts {a['counts']} != {b['counts']}")
    if a["documents"] != b["documents"]:
        out.append(f"documents differ: {len(set(a['documents']) ^ set(b['documents']))} ids on one side only, "
                   f"{sum(1 for k in a['documents'] if k in b['documents'] and a['documents'][k] != b['documents'][k])} hashes")  # fmt: skip
    if a["chunks"].keys() != b["chunks"].keys():
        out.append(f"chunk keys differ ({len(a['chunks'].keys() ^ b['chunks'].keys())})")
    common = a["chunks"].keys() & b["chunks"].keys()
    text = sum(1 for k in common if a["chunks"][k][0] != b["chunks"][k][0])
    if text:
        out.append(f"{text} chunk texts differ")
    worst = max((float(np.max(np.abs(a["chunks"][k][1] - b["chunks"][k][1]))) for k in common), default=0.0)
    if worst > atol:
        out.append(f"vectors differ by up to {worst:.2e}")
    for mode in MODES:
        moved = sum(1 for (q, m), hits in a["hits"].items() if m == mode and hits != b["hits"].get((q, m)))
        if moved:
            out.append(f"{mode}: top 10 differs for {moved} of {sum(1 for (_, m) in a['hits'] if m == mode)} queries")
    return out


def prepare(dataset: Path, limit: int, work: Path) -> tuple[Path, list[str]]:
    corpus = work / "corpus"
    shutil.rmtree(corpus, ignore_errors=True)
    corpus.mkdir(parents=True)
    with open(dataset / "corpus.jsonl") as source, open(corpus / "corpus.jsonl", "w") as out:
        for n, line in enumerate(source):
            if n >= limit:
                break
            out.write(line)
    shutil.rmtree(work / "data", ignore_errors=True)
    return corpus, _queries(dataset)


def _queries(dataset: Path) -> list[str]:
    with open(dataset / "queries.jsonl") as handle:
        return [json.loads(line)["text"] for line in handle if line.strip()]


def runtime_for(work: Path):
    from service.runtime import Runtime
    from service.settings import load_settings

    return Runtime(load_settings(data_dir=work / "data", reranker="none", device="cpu"))


def index_local(work: Path, corpus: Path, name: str) -> float:
    runtime = runtime_for(work)
    started = time.perf_counter()
    runtime.indexer(runtime.open_or_create(name)).index_paths([corpus], progress=False)
    seconds = time.perf_counter() - started
    runtime.close()
    return seconds


def cli(work: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "service.cli", "--data-dir", str(work / "data"), *args]


def compare(args) -> int:
    corpus, queries = prepare(args.dataset, args.limit, args.work)
    local_s = index_local(args.work, corpus, "local")
    address = ["--ray-address", args.ray_address] if args.ray_address else []
    env = {**os.environ, "QUARRY_RAY_CPUS": str(args.cpus), "QUARRY_RERANKER": "none", "QUARRY_DEVICE": "cpu"}
    started = time.perf_counter()
    done = subprocess.run(cli(args.work, "index", str(corpus), "-c", "viaray", "--engine", "ray", "--no-progress", *address), env=env)
    ray_s = time.perf_counter() - started
    if done.returncode:
        return 1
    runtime = runtime_for(args.work)
    diff = differences(collection_snapshot(runtime, "local", queries), collection_snapshot(runtime, "viaray", queries))
    print(f"{args.limit} passages, {len(queries)} queries x {len(MODES)} modes: local {local_s:.1f}s, "
          f"ray {ray_s:.1f}s (with Ray start-up, {args.cpus} CPUs)")  # fmt: skip
    print("same documents, chunks, vectors and top 10" if not diff else "DIFFERENT: " + "; ".join(diff))
    return 1 if diff else 0


def written_blocks(collection_dir: Path) -> list[Path]:
    """Block files a ray job has written so far (committed or not)."""
    return [p for p in collection_dir.rglob("ray-*")] if collection_dir.exists() else []


def kill(args) -> int:
    if args.reuse and (args.work / "data" / "collections" / "local").is_dir():  # the collections a `compare` run left (same --limit)
        corpus, queries = args.work / "corpus", _queries(args.dataset)
        shutil.rmtree(args.work / "data" / "collections" / "killed", ignore_errors=True)
    else:
        corpus, queries = prepare(args.dataset, args.limit, args.work)
        index_local(args.work, corpus, "local")
    env = {**os.environ, "QUARRY_RAY_CPUS": str(args.cpus), "QUARRY_RERANKER": "none", "QUARRY_DEVICE": "cpu"}
    command = cli(args.work, "index", str(corpus), "-c", "killed", "--engine", "ray", "--no-progress")
    driver = subprocess.Popen(command, env=env, start_new_session=True)  # its own group: Ray's leftovers are ours to end
    target = args.work / "data" / "collections" / "killed"
    deadline = time.monotonic() + args.timeout
    while len(written_blocks(target)) < args.after_blocks and driver.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    if driver.poll() is not None:
        print(f"the job ended (exit {driver.returncode}) before {args.after_blocks} block(s) were written; use a larger --limit")
        return 1
    os.kill(driver.pid, signal.SIGKILL)
    driver.wait()
    blocks = len(written_blocks(target))
    time.sleep(5)
    survivors = _group(driver.pid)
    print(f"killed the driver (kill -9) after {blocks} block(s) were written; {len(survivors)} Ray process(es) of its "
          f"group still alive 5 s later" + (", ended now" if survivors else ""))  # fmt: skip
    for pid in survivors:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    runtime = runtime_for(args.work)
    print(f"after the kill: {runtime.open_collection('killed').counts()} committed")
    runtime.close()
    started = time.perf_counter()
    if subprocess.run(command, env=env).returncode:
        return 1
    print(f"re-run: {time.perf_counter() - started:.1f}s")
    if args.repair:
        subprocess.run(cli(args.work, "check", "--repair", "-c", "killed"), env=env)
    runtime = runtime_for(args.work)
    killed = collection_snapshot(runtime, "killed", queries)
    failed = False
    for reference in ("local", "viaray"):  # the uninterrupted local run (and ray run, when compare left one)
        if runtime.catalog.exists(reference):
            diff = differences(collection_snapshot(runtime, reference, queries), killed)
            print(f"vs uninterrupted {reference!r}: " + ("same documents, chunks, vectors and top 10" if not diff else "; ".join(diff)))
            failed |= bool(diff)
    live = {name for name, _ in runtime.open_collection("killed").segments.live}
    print(f"segments: {len(live)} live, {len(written_blocks(target)) - len(live)} left by the killed job (committed by nothing)")
    return 1 if failed else 0


def _group(pgid: int) -> list[int]:
    """Live processes of a process group (Linux /proc)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                pids.append(int(entry.name))
    return pids


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("check", choices=("compare", "kill"))
    parser.add_argument("dataset", type=Path, help="a BEIR folder with corpus.jsonl and queries.jsonl")
    parser.add_argument("--limit", type=int, default=2000, help="passages to index")
    parser.add_argument("--work", type=Path, required=True, help="a folder for the corpus copy and the collections")
    parser.add_argument("--cpus", type=int, default=2, help="CPUs of the local Ray")
    parser.add_argument("--ray-address", help="join this cluster instead of starting a local Ray")
    parser.add_argument("--after-blocks", type=int, default=1, help="kill: kill the driver once this many blocks are written")
    parser.add_argument("--timeout", type=float, default=1800, help="kill: give up waiting for blocks after this long")
    parser.add_argument("--repair", action="store_true", help="kill: run `quarry check --repair` after the re-run")
    parser.add_argument("--reuse", action="store_true", help="kill: compare with the collections a compare run left in --work")
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    return compare(args) if args.check == "compare" else kill(args)


if __name__ == "__main__":
    sys.exit(main())
