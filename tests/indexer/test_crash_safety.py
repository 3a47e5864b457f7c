"""kill -9 at many moments of a real `quarry index` (and of API-style upserts/deletes): the collection
opens, passes `check_collection`, and re-running the same job ends exactly where an uninterrupted run does.

Children are forked from one warm server (tests/indexer/forkserver.py) so each kill point costs a
fraction of a second instead of torch's import time; each child is a real process killed by SIGKILL.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from indexer.collection import Collection
from indexer.layout import DATABASE, MANIFEST
from indexer.integrity import check_collection
from service.search.pipeline import search

REPO = Path(__file__).resolve().parents[2]
NAME = "crash"
QUERIES = ["bread flour water", "planet moon star", "git commit python file", "red green blue cat"]
_WORDS = (
    "the a of bread flour water tire bike chain coffee tea planet sun moon star git commit python file "
    "plant burn doc search index text alpha beta gamma delta apple banana cherry red green blue fast slow cat dog house"
).split()


class ForkServer:
    def __init__(self, env: dict[str, str]):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.indexer.forkserver"],
            cwd=REPO, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert json.loads(self.proc.stdout.readline()) == {"ready": True}

    def _ask(self, message: dict) -> dict:
        self.proc.stdin.write(json.dumps(message) + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def start(self, argv: list[str], **options) -> int:
        return self._ask({"argv": argv, **options})["pid"]

    def wait(self, pid: int) -> int:
        return self._ask({"wait": pid})["rc"]

    def run(self, argv: list[str], **options) -> int:
        return self.wait(self.start(argv, **options))

    def close(self) -> None:
        self.proc.stdin.close()
        # waits for the exit that closing stdin asks for; the bound is only a guard against a hang (a
        # loaded machine took over 10 s to shut down an interpreter holding torch)
        self.proc.wait(timeout=120)


@pytest.fixture(scope="module")
def job_env(tiny_embedder_path) -> dict[str, str]:
    """The tiny-model settings, passed explicitly to every child (no monkeypatched env crosses a fork)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUARRY_")}
    env.update(
        QUARRY_EMBEDDER=tiny_embedder_path, QUARRY_RERANKER="none", QUARRY_DEVICE="cpu",
        QUARRY_CHUNK_SIZE="64", QUARRY_CHUNK_OVERLAP="8", QUARRY_WRITE_LOCK_TIMEOUT="10",
        HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false",
        OMP_NUM_THREADS="1", PYTHONPATH=str(REPO),
    )  # fmt: skip
    return env


@pytest.fixture(scope="module")
def server(job_env):
    server = ForkServer(job_env)
    yield server
    server.close()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """160 small text files, three chunks each: about 80 two-document batches."""
    root = tmp_path_factory.mktemp("crash-corpus") / "corpus"
    root.mkdir()
    rng = random.Random(7)
    for i in range(160):
        paragraphs = ["\n".join(" ".join(rng.choice(_WORDS) for _ in range(12)) + "." for _ in range(4)) for _ in range(3)]
        (root / f"doc{i:03d}.txt").write_text("\n\n".join(paragraphs))
    return root


def index_argv(data_dir: Path, corpus: Path) -> list[str]:
    return ["--data-dir", str(data_dir), "index", str(corpus), "-c", NAME, "--batch-documents", "2", "--no-progress"]


def collection_dir(data_dir: Path) -> Path:
    return data_dir / "collections" / NAME


def snapshot(data_dir: Path, embedder) -> dict:
    """Everything a user can observe: documents, chunks with their vectors, and search results."""
    conn = sqlite3.connect(collection_dir(data_dir) / DATABASE)
    documents = conn.execute("SELECT doc_id, title, source, content_hash, text, n_chunks FROM documents ORDER BY doc_id").fetchall()
    chunks = conn.execute(
        "SELECT doc_id, ordinal, text, start, end, heading_path, vector FROM chunks ORDER BY doc_id, ordinal"
    ).fetchall()
    conn.close()
    collection = Collection.open(collection_dir(data_dir))
    try:
        results = {}
        for query in QUERIES:
            for mode in ("dense", "lexical", "hybrid"):
                hits = search(collection, embedder, query, top_k=8, mode=mode, rerank=False).hits
                results[query, mode] = [(h.doc_id, h.text, round(h.score, 4)) for h in hits]
    finally:
        collection.close()
    return {
        "documents": documents,
        "chunks": [row[:-1] for row in chunks],
        "vectors": np.stack([np.frombuffer(row[-1], np.float32) for row in chunks]) if chunks else None,
        "search": results,
    }


def assert_same(got: dict, want: dict) -> None:
    assert got["documents"] == want["documents"]
    assert got["chunks"] == want["chunks"]
    # one batch may be embedded with different padding than in the reference run: last-bit differences
    np.testing.assert_allclose(got["vectors"], want["vectors"], atol=1e-5)
    for key, hits in want["search"].items():
        assert [h[:2] for h in got["search"][key]] == [h[:2] for h in hits], key
        assert [h[2] for h in got["search"][key]] == pytest.approx([h[2] for h in hits], abs=2e-4), key


def assert_healthy_after_kill(data_dir: Path) -> None:
    """What survives the kill is consistent: checkable as is, and clean once opened (which heals FAISS)."""
    directory = collection_dir(data_dir)
    if not (directory / MANIFEST).exists():  # killed before the create finished: the catalog ignores it
        return
    report = check_collection(directory)
    assert report.healthy, [str(f) for f in report.problems]
    assert all(f.area in ("faiss", "files") for f in report.warnings), [str(f) for f in report.warnings]
    Collection.open(directory).close()
    report = check_collection(directory)
    assert report.healthy and not report.warnings, [str(f) for f in report.findings]


@pytest.fixture(scope="module")
def reference(server, corpus, tmp_path_factory, tiny_embedder):
    data_dir = tmp_path_factory.mktemp("reference")
    assert server.run(index_argv(data_dir, corpus)) == 0
    report = check_collection(collection_dir(data_dir))
    assert report.healthy and not report.warnings, [str(f) for f in report.findings]
    return snapshot(data_dir, tiny_embedder)


def wait_for_generation(data_dir: Path, target: int, pid: int, timeout: float = 60.0) -> None:
    path = collection_dir(data_dir) / DATABASE
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            try:
                conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1)
                row = conn.execute("SELECT value FROM meta WHERE key='generation'").fetchone()
                conn.close()
                if row and int(row[0]) >= target:
                    return
            except sqlite3.Error:
                pass  # the child is still creating the schema
        time.sleep(0.003)
    os.kill(pid, signal.SIGKILL)
    raise AssertionError(f"job never reached generation {target}")


def crash_then_finish(server, corpus, data_dir: Path, embedder, reference: dict, kill: dict) -> None:
    argv = index_argv(data_dir, corpus)
    if "generation" in kill or "after_s" in kill:
        pid = server.start(argv)
        if "generation" in kill:
            wait_for_generation(data_dir, kill["generation"], pid)
        time.sleep(kill.get("after_s", 0.0))
        os.kill(pid, signal.SIGKILL)
    else:
        pid = server.start(argv, die_at=kill["die_at"], nth=kill.get("nth", 1))
    assert server.wait(pid) == -signal.SIGKILL, "the job finished before the kill point"
    assert_healthy_after_kill(data_dir)
    assert server.run(argv) == 0  # the same job again, to completion
    report = check_collection(collection_dir(data_dir))
    assert report.healthy and not report.warnings, [str(f) for f in report.findings]
    assert_same(snapshot(data_dir, embedder), reference)


KILL_POINTS = [
    pytest.param({"after_s": 0.05}, id="during-start-up"),
    pytest.param({"die_at": "create"}, id="creating-the-collection"),
    pytest.param({"die_at": "in_transaction", "nth": 1}, id="inside-the-first-transaction"),
    pytest.param({"die_at": "in_transaction", "nth": 37}, id="inside-a-later-transaction"),
    pytest.param({"die_at": "after_commit", "nth": 50}, id="after-commit-before-faiss"),
    pytest.param({"die_at": "mid_save", "nth": 1}, id="between-index-file-and-stamp"),
    pytest.param({"generation": 60}, id="timed-after-60-commits"),
]


@pytest.mark.parametrize("kill", KILL_POINTS)
def test_kill_during_index_then_rerun_matches_uninterrupted(server, corpus, reference, tmp_path, tiny_embedder, kill):
    crash_then_finish(server, corpus, tmp_path / "data", tiny_embedder, reference, kill)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(24))
def test_kill_at_random_moments(server, corpus, reference, tmp_path, tiny_embedder, seed):
    rng = random.Random(seed)
    kill = {"generation": rng.randint(0, 78), "after_s": rng.random() * 0.01}
    crash_then_finish(server, corpus, tmp_path / "data", tiny_embedder, reference, kill)


@pytest.mark.slow
def test_killed_again_and_again_still_converges(server, corpus, reference, tmp_path, tiny_embedder):
    data_dir = tmp_path / "data"
    argv = index_argv(data_dir, corpus)
    for nth in (3, 9, 2, 14, 5):  # each run gets a little further before dying
        assert server.run(argv, die_at="in_transaction", nth=nth) == -signal.SIGKILL
        assert_healthy_after_kill(data_dir)
    assert server.run(argv) == 0
    assert_same(snapshot(data_dir, tiny_embedder), reference)


@pytest.mark.parametrize("kill", [{"die_at": "in_transaction", "nth": 9}, {"die_at": "after_commit", "nth": 14}], ids=["upsert", "delete"])
def test_kill_during_api_style_upserts_and_deletes(server, tmp_path, tiny_embedder, kill):
    """Upserts (3 documents per call) then deletes (4 per call), killed inside an upsert or after a delete commits."""
    argv = [str(tmp_path / "ref"), NAME, "30"]
    assert server.run(argv, script="upsert_delete") == 0
    want = snapshot(tmp_path / "ref", tiny_embedder)
    argv = [str(tmp_path / "data"), NAME, "30"]
    assert server.run(argv, script="upsert_delete", **kill) == -signal.SIGKILL
    assert_healthy_after_kill(tmp_path / "data")
    assert server.run(argv, script="upsert_delete") == 0
    got = snapshot(tmp_path / "data", tiny_embedder)
    assert len(got["documents"]) == 15
    assert_same(got, want)
