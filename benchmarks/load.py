"""Bounded load test: searches from N client threads while one thread upserts, against a real server.

The server is `quarry serve` on 127.0.0.1 (a free port) in a subprocess, with an API key configured, a
throwaway data dir and the default (bundled) embedder unless --embedder says otherwise. Bounded by
--requests (searches in total) and --seconds, whichever comes first. Prints throughput, p50/p99 and errors.

    python -m benchmarks.load --threads 4 --requests 2000 --seconds 60
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

KEY = "load-admin-key-0123456789"
TOPICS = ["bicycle tyre repair", "sourdough bread baking", "planets and moons", "python packaging",
          "sqlite write ahead log", "garden tomatoes", "marathon training", "coffee brewing"]  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def document(i: int) -> dict:
    topic = TOPICS[i % len(TOPICS)]
    return {"doc_id": f"doc-{i}", "title": topic, "text": f"# {topic}\n\nNote {i} about {topic}. " * 8, "metadata": {"n": i}}


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def start_server(data_dir: Path, port: int, embedder: str | None) -> subprocess.Popen:
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "QUARRY_DATA_DIR": str(data_dir), "QUARRY_RERANKER": "none", "QUARRY_DEVICE": "cpu",
           "QUARRY_API_KEYS": f'[{{"key": "{KEY}", "scope": "admin"}}]', "HF_HUB_OFFLINE": "1",
           "TRANSFORMERS_OFFLINE": "1", "PYTHONPATH": str(root)}  # fmt: skip
    if embedder:
        env["QUARRY_EMBEDDER"] = embedder
    cmd = [sys.executable, "-m", "service.cli", "serve", "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    return subprocess.Popen(cmd, cwd=root, env=env)


def wait_ready(base: str, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode} before it was ready")
        try:
            if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"server not ready after {timeout} s")


def run(args) -> dict:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {KEY}"}
    with tempfile.TemporaryDirectory(prefix="quarry-load-") as tmp:
        proc = start_server(Path(tmp) / "data", port, args.embedder)
        try:
            wait_ready(base, proc)
            with httpx.Client(base_url=base, headers=headers, timeout=60) as c:
                assert c.post("/v1/collections", json={"name": "load"}).status_code == 201
                for start in range(0, args.seed_docs, 50):
                    batch = [document(i) for i in range(start, min(args.seed_docs, start + 50))]
                    c.post("/v1/collections/load/documents", json={"documents": batch}).raise_for_status()
            return drive(base, headers, args)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


def drive(base: str, headers: dict, args) -> dict:
    latencies: list[float] = []
    errors: list[str] = []
    issued = 0
    writes = {"ok": 0, "errors": 0}
    lock = threading.Lock()
    stop = threading.Event()
    deadline = time.monotonic() + args.seconds

    def searcher(n: int) -> None:
        nonlocal issued
        with httpx.Client(base_url=base, headers=headers, timeout=60) as c:
            i = 0
            while not stop.is_set() and time.monotonic() < deadline:
                with lock:
                    if issued >= args.requests:
                        return
                    issued += 1
                query = f"{TOPICS[(n + i) % len(TOPICS)]} note {i}"
                i += 1
                t = time.perf_counter()
                try:
                    r = c.post("/v1/collections/load/search", json={"query": query, "top_k": 10})
                    ok = r.status_code == 200
                    problem = f"{r.status_code}: {r.text[:200]}"
                except httpx.HTTPError as exc:
                    ok, problem = False, f"{type(exc).__name__}: {exc}"
                elapsed = (time.perf_counter() - t) * 1000
                with lock:
                    (latencies.append(elapsed) if ok else errors.append(problem))

    def writer() -> None:
        with httpx.Client(base_url=base, headers=headers, timeout=60) as c:
            i = args.seed_docs
            while not stop.is_set() and time.monotonic() < deadline:
                batch = [document(j) for j in range(i, i + args.write_batch)]
                i += args.write_batch
                try:
                    r = c.post("/v1/collections/load/documents", json={"documents": batch})
                    writes["ok" if r.status_code == 200 else "errors"] += 1
                except httpx.HTTPError:
                    writes["errors"] += 1

    threads = [threading.Thread(target=searcher, args=(n,)) for n in range(args.threads)]
    write_thread = threading.Thread(target=writer)
    started = time.perf_counter()
    write_thread.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - started
    stop.set()
    write_thread.join()
    return {
        "searches": len(latencies) + len(errors), "errors": len(errors), "seconds": round(seconds, 2),
        "throughput_rps": round((len(latencies) + len(errors)) / seconds, 1),
        "p50_ms": round(statistics.median(latencies), 1) if latencies else None,
        "p99_ms": round(percentile(latencies, 0.99), 1) if latencies else None,
        "upsert_batches": writes["ok"], "upsert_errors": writes["errors"], "first_errors": errors[:3],
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=4, help="search client threads")
    parser.add_argument("--requests", type=int, default=1000, help="searches in total (upper bound)")
    parser.add_argument("--seconds", type=float, default=60, help="time limit for the load phase")
    parser.add_argument("--seed-docs", type=int, default=200, help="documents indexed before the load starts")
    parser.add_argument("--write-batch", type=int, default=8, help="documents per upsert request during the load")
    parser.add_argument("--embedder", help="embedder reference (default: the bundled all-MiniLM-L6-v2)")
    args = parser.parse_args(argv)
    result = run(args)
    for key, value in result.items():
        print(f"{key}: {value}")
    return 1 if result["errors"] or result["upsert_errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
