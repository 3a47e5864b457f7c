"""`quarry index --engine ray` on a 2-node local Ray cluster: the same collection as the local engine, and
retried worker tasks that write nothing twice. The tiny embedder; marked `ray` (needs the ray extra)."""

from __future__ import annotations

import json
import os
import sys

import numpy as np
import pytest

from service.runtime import Runtime
from service.settings import Settings
from tests.cli_runner import run
from tests.tiny_models import TEST_SETTINGS

pytestmark = pytest.mark.ray

QUERIES = ["bread flour water", "bike chain tire", "green tea coffee", "planet moon star", "git commit"]
MODES = ("dense", "lexical", "hybrid")
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
    """Everything a reader can see: documents with hashes, chunks with their text, vectors, and top-10 hits."""
    runtime = Runtime(Settings(data_dir=data_dir, embedder=tiny_embedder_path, **TEST_SETTINGS))
    collection = runtime.open_collection(name)
    documents = {d.doc_id: d.content_hash for d in collection.list_documents(limit=10_000)}
    chunk_ids = [int(i) for i in collection.store.chunk_ids()]
    chunks = {(c.doc_id, c.ordinal): (c.text, cid) for cid, c in collection.chunks(chunk_ids).items()}
    vectors = {key: collection.vectors(np.array([cid]))[0] for key, (_, cid) in chunks.items()}
    searcher = runtime.searcher(rerank=False)
    hits = {
        (q, mode): [(h.doc_id, h.start, h.end) for h in searcher.search(collection, q, mode=mode, top_k=10, rerank=False).hits]
        for q in QUERIES
        for mode in MODES
    }
    counts = collection.counts()
    runtime.close()
    return documents, {k: v[0] for k, v in chunks.items()}, vectors, hits, counts


def test_ray_engine_builds_the_same_collection_as_the_local_engine(tmp_path, settings_env, tiny_embedder_path, ray_cluster, capsys):
    corpus = write_corpus(tmp_path / "corpus")
    assert run(capsys, "index", str(corpus), "-c", "local", "--no-progress")[0] == 0
    code, out, err = run(capsys, "index", str(corpus), "-c", "viaray", "--engine", "ray", "--ray-address", ray_cluster, "--no-progress", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert (report["added"], report["updated"], report["unchanged"]) == (58, 0, 0)

    local = snapshot(settings_env, tiny_embedder_path, "local")
    ray = snapshot(settings_env, tiny_embedder_path, "viaray")
    assert ray[0] == local[0]  # the same documents, with the same content hashes
    assert ray[1] == local[1]  # the same chunks, text for text
    assert ray[4] == local[4]
    for key, vector in local[2].items():
        np.testing.assert_allclose(ray[2][key], vector, atol=1e-5)
    assert ray[3] == local[3]  # the same top 10, dense, lexical and hybrid

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
    assert snapshot(settings_env, tiny_embedder_path, "viaray")[4]["documents"] == 59


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
    assert collection.counts()["documents"] == 58
    stored_chunks = collection.chunks([int(i) for i in collection.store.chunk_ids()]).values()
    keys = [(c.doc_id, c.ordinal) for c in stored_chunks]
    assert len(keys) == len(set(keys)) == report.chunks == collection.counts()["chunks"]
    runtime.close()


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
