"""`quarry index --engine ray` on a 2-node local Ray cluster: the same collection as the local engine, and
retried worker tasks that write nothing twice. The tiny embedder; marked `ray` (needs the ray extra)."""

from __future__ import annotations

import json
import os
import sys

import pytest

from benchmarks.ray_check import collection_snapshot, differences
from service.runtime import Runtime
from service.settings import Settings
from tests.cli_runner import run
from tests.tiny_models import TEST_SETTINGS

pytestmark = pytest.mark.ray

QUERIES = ["bread flour water", "bike chain tire", "green tea coffee", "planet moon star", "git commit"]
TOPICS = ["bread flour water", "bike chain tire", "green tea coffee", "planet moon star", "git commit file", "cat dog house"]


def write_corpus(folder):
    """Markdown files (several chunks each) and a corpus.jsonl, so both kinds of read unit travel."""
    (folder / "notes").mkdir(parents=True)
    for i in range(18):
        topic = TOPICS[i % len(TOPICS)]
        body = "\n\n".join(f"Part {p} of note {i}: the {topic} and the {TOPICS[(i + p) % len(TOPICS)]} {p}." * (1 + p % 3) for p in range(1 + i % 4))
        (folder / "notes" / f"note{i:02d}.md").write_text(f"# Note {i} on {topic}\n\n{body}\n")
    with open(folder / "corpus.jsonl", "w") as handle:
        for i in range(40):
            record = {"_id": f"p{i}", "title": f"passage {i}", "text": f"passage {i} is about the {TOPICS[i % len(TOPICS)]} number {i}"}
            handle.write(json.dumps(record) + "\n")
    return folder


def snapshot(data_dir, tiny_embedder_path, name):
    runtime = Runtime(Settings(data_dir=data_dir, embedder=tiny_embedder_path, **TEST_SETTINGS))
    try:
        return collection_snapshot(runtime, name, QUERIES)
    finally:
        runtime.close()


def test_ray_engine_builds_the_same_collection_as_the_local_engine(tmp_path, settings_env, tiny_embedder_path, ray_cluster, capsys):
    corpus = write_corpus(tmp_path / "corpus")
    assert run(capsys, "index", str(corpus), "-c", "local", "--no-progress")[0] == 0
    code, out, err = run(capsys, "index", str(corpus), "-c", "viaray", "--engine", "ray", "--ray-address", ray_cluster, "--no-progress", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert (report["added"], report["updated"], report["unchanged"]) == (58, 0, 0)

    local = snapshot(settings_env, tiny_embedder_path, "local")
    ray = snapshot(settings_env, tiny_embedder_path, "viaray")
    assert ray["counts"] == local["counts"] == {"documents": 58, "chunks": len(local["chunks"])}
    assert differences(local, ray) == []  # documents and hashes, chunk texts, vectors, top 10 dense/lexical/hybrid
    assert len(local["hits"]) == len(QUERIES) * 3 and all(local["hits"].values())

    # a second run reads every file again (none recorded as changed) and writes nothing twice
    code, out, err = run(capsys, "index", str(corpus), "-c", "viaray", "--engine", "ray", "--ray-address", ray_cluster, "--no-progress", "--json")
    assert code == 0, err
    again = json.loads(out)
    assert (again["added"], again["updated"], again["unchanged"], again["total_documents"]) == (0, 0, 58, 58)
    (corpus / "notes" / "note03.md").write_text("# Note 3 rewritten\n\nnow about the cat and the dog house.\n")
    (corpus / "notes" / "note99.md").write_text("# Note 99\n\nthe planet and the moon.\n")
    code, out, err = run(capsys, "index", str(corpus), "-c", "viaray", "--engine", "ray", "--ray-address", ray_cluster, "--no-progress", "--json")
    changed = json.loads(out)
    assert (changed["added"], changed["updated"], changed["total_documents"]) == (1, 1, 59), err
    assert snapshot(settings_env, tiny_embedder_path, "viaray")["counts"]["documents"] == 59


def crash_once(marker):
    """A write step that writes its block, then kills its worker process the first time it runs:
    Ray runs the task again, which writes the same block under the same name."""
    from indexer.engines.ray_stages import write_block

    def write(collection_dir, name, prepared):
        info = write_block(collection_dir, name, prepared)
        if not os.path.exists(marker):
            with open(marker, "w") as handle:
                handle.write(name)
            os._exit(1)  # the worker dies after its segment is on disk, before Ray hears back
        return info

    return write


def test_a_killed_worker_task_is_retried_without_duplicating_documents(tmp_path, settings_env, tiny_embedder_path, ray_cluster):
    import cloudpickle

    from indexer.engines.ray_engine import RayIndexJob

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the workers need not import this test module
    corpus = write_corpus(tmp_path / "corpus")
    runtime = Runtime(Settings(data_dir=settings_env, embedder=tiny_embedder_path, **TEST_SETTINGS))
    collection = runtime.open_or_create("retried")
    marker = tmp_path / "crashed-once"
    job = RayIndexJob(collection, runtime.embedder.spec(), runtime.ray_options(ray_cluster), write=crash_once(str(marker)))
    report = job.index_paths([corpus], progress=False)
    assert marker.exists(), "the write step never crashed, so nothing was retried"
    assert (report.added, report.updated) == (58, 0)
    counts = collection.counts()
    runtime.close()
    assert counts["documents"] == 58
    chunks = snapshot(settings_env, tiny_embedder_path, "retried")["chunks"]  # keyed by (doc id, ordinal): no repeats
    assert len(chunks) == report.chunks == counts["chunks"]


def test_an_address_where_no_cluster_answers_is_one_error_line(tmp_path, settings_env, capsys):
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    (tmp_path / "a.txt").write_text("the bread and the flour")
    code, out, err = run(capsys, "index", str(tmp_path / "a.txt"), "-c", "kb", "--engine", "ray", "--ray-address", f"127.0.0.1:{port}")
    assert code == 1
    assert err.strip().splitlines() == [err.strip()]
    assert f"cannot reach a Ray cluster at 127.0.0.1:{port}" in err and "ray start --head" in err


def test_a_worker_that_cannot_write_into_the_collection_is_one_error_line(tmp_path, settings_env, ray_cluster, capsys):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.txt").write_text("the bread and the flour")
    assert run(capsys, "index", str(tmp_path / "docs"), "-c", "kb", "--no-progress")[0] == 0
    (settings_env / "collections" / "kb" / "segments").write_text("a file where the segments folder should be")
    (tmp_path / "docs" / "b.txt").write_text("the bike and the chain")
    code, out, err = run(capsys, "index", str(tmp_path / "docs"), "-c", "kb", "--engine", "ray", "--ray-address", ray_cluster, "--no-progress")
    assert code == 1
    assert err.strip().splitlines() == [err.strip()]
    assert err.startswith("error: a Ray worker cannot write segments into") and "same path, writable" in err
    assert run(capsys, "collections", "--json")[1].count('"documents": 1') == 1  # nothing of the failed job committed
