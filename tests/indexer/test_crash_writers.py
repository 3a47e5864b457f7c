"""kill -9 `quarry index --writers 4` at several points: the re-run ends where an uninterrupted run does.

The same harness as test_crash_safety (a warm fork server, kill points inside the child), with the job
committing its segments after every batch so that kills land between commits, inside a writer's
transaction, between a sealed segment and its commit, inside the commit, and after it.
"""

from __future__ import annotations

import signal
from pathlib import Path

import numpy as np
import pytest

from indexer.collection import Collection
from indexer.integrity import check_collection
from benchmarks import compare_writers
from tests.indexer.test_crash_safety import QUERIES, assert_healthy_after_kill, collection_dir, corpus, index_argv, job_env, server  # noqa: F401


def writers_argv(data_dir: Path, corpus: Path) -> list[str]:
    return index_argv(data_dir, corpus) + ["--writers", "4"]


def observe(data_dir: Path, embedder) -> dict:
    """What a user sees, read through the collection (segments included): the 2,000-passage check's comparison."""
    collection = Collection.open(collection_dir(data_dir))
    try:
        return compare_writers.observe(collection, embedder, QUERIES)
    finally:
        collection.close()


@pytest.fixture(scope="module")
def reference(server, corpus, tmp_path_factory, tiny_embedder):  # noqa: F811
    """An uninterrupted run with one writer: what `--writers 4` must equal, crash or not."""
    data_dir = tmp_path_factory.mktemp("reference-w1")
    assert server.run(index_argv(data_dir, corpus)) == 0
    return observe(data_dir, tiny_embedder)


SLOW = pytest.mark.slow  # ~30 s each here: two stay in the default suite, the rest run with -m slow
KILLS = [
    pytest.param({"die_at": "segment_write", "nth": 1}, id="first-segment-write", marks=SLOW),
    pytest.param({"die_at": "segment_write", "nth": 45}, id="a-later-segment-write"),
    pytest.param({"die_at": "segment_seal", "nth": 9}, id="segment-complete-not-renamed", marks=SLOW),
    pytest.param({"die_at": "segment_commit", "nth": 12}, id="segments-sealed-not-committed"),
    pytest.param({"die_at": "in_transaction", "nth": 20}, id="inside-the-commit", marks=SLOW),
    pytest.param({"die_at": "after_commit", "nth": 25}, id="after-commit-before-faiss", marks=SLOW),
]


@pytest.mark.parametrize("kill", KILLS)
def test_kill_writers_then_rerun_matches_uninterrupted(server, corpus, reference, tmp_path, tiny_embedder, kill):  # noqa: F811
    data_dir = tmp_path / "data"
    argv = writers_argv(data_dir, corpus)
    pid = server.start(argv, die_at=kill["die_at"], nth=kill["nth"], seal_every_batch=True)
    assert server.wait(pid) == -signal.SIGKILL, "the job finished before the kill point"
    assert_healthy_after_kill_with_orphans(data_dir)
    assert server.run(argv, seal_every_batch=True) == 0  # the same job again, to completion
    report = check_collection(collection_dir(data_dir))
    assert report.healthy, [str(f) for f in report.findings]
    assert all(f.area == "segments" for f in report.warnings), [str(f) for f in report.warnings]
    got = observe(data_dir, tiny_embedder)
    assert got["documents"] == reference["documents"] and got["chunks"] == reference["chunks"]
    np.testing.assert_allclose(got["vectors"], reference["vectors"], atol=1e-5)
    assert all(compare_writers.same_hits(got["hits"][k], reference["hits"][k], 2e-4) for k in reference["hits"])
    assert server.run(["--data-dir", str(data_dir), "check", "-c", "crash", "--repair"]) == 0  # orphans go
    assert check_collection(collection_dir(data_dir)).findings == []


def assert_healthy_after_kill_with_orphans(data_dir: Path) -> None:
    """As the single-writer check, except that unlisted segment folders are expected (ignored until --repair)."""
    directory = collection_dir(data_dir)
    report = check_collection(directory)
    assert report.healthy, [str(f) for f in report.problems]
    assert all(f.area in ("faiss", "files", "segments") for f in report.warnings), [str(f) for f in report.warnings]
    Collection.open(directory).close()
    assert check_collection(directory).healthy
