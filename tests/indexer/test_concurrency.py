"""Many readers, one writer: searches during upserts and deletes never fail and never see half a document;
a second writer waits for the write lock or gets CollectionBusy, never corrupts."""

from __future__ import annotations

import re
import threading
import time

import pytest

from indexer.catalog import Catalog
from indexer.collection import Collection
from indexer.layout import Manifest
from indexer.documents import Document
from indexer.errors import CollectionBusy
from indexer.integrity import check_collection
from indexer.pipeline import Indexer
from service.search.pipeline import search

_TAG = re.compile(r"version (\d+)")


@pytest.fixture
def collection(tmp_path, tiny_embedder, tiny_embedder_path):
    catalog = Catalog(tmp_path / "data", lock_timeout=5)
    manifest = Manifest("busy", tiny_embedder_path, tiny_embedder.dimension, chunk_size=24, chunk_overlap=4)
    collection = catalog.create(manifest)
    yield collection
    catalog.close()


def _doc(i: int, version: int) -> Document:
    # every chunk of one version carries the same tag, so a reader can tell versions apart in its hits
    body = " ".join(f"version {version} the bread flour water planet {i}." for _ in range(1 + (version + i) % 4))
    return Document(f"doc-{i}", body, title=f"doc {i}")


def test_searches_during_upserts_and_deletes_never_fail_or_mix_versions(collection, tiny_embedder):
    indexer = Indexer(collection, tiny_embedder)
    indexer.upsert([_doc(i, 0) for i in range(12)])
    errors: list[BaseException] = []
    searches = {"n": 0}
    writes = {"n": 0}
    stop = time.monotonic() + 2.5

    def reader(mode: str) -> None:
        try:
            while time.monotonic() < stop:
                for hit_doc, versions in _versions_per_doc(search(collection, tiny_embedder, "bread planet", top_k=30, mode=mode, candidates=60, rerank=False)).items():
                    assert len(versions) == 1, f"{hit_doc} mixed versions {versions}"
                searches["n"] += 1
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    def writer() -> None:
        version = 1
        try:
            while time.monotonic() < stop:
                indexer.upsert([_doc(i, version) for i in range(version % 3, 12, 3)])
                collection.delete([f"doc-{version % 12}"])
                version += 1
                writes["n"] += 2
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=reader, args=(mode,)) for mode in ("hybrid", "dense", "lexical")]
    threads.append(threading.Thread(target=writer))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors, errors
    assert searches["n"] >= 10 and writes["n"] >= 4, (searches, writes)
    print(f"{searches['n']} searches and {writes['n']} writes ran concurrently, 0 errors")
    counts = collection.counts()
    assert sorted(collection.index.ids().tolist()) == collection.store.chunk_ids().tolist()
    assert counts["chunks"] == sum(d.n_chunks for d in collection.store.list_documents(limit=100))
    collection.save_index()
    report = check_collection(collection.directory)
    assert report.healthy and not report.warnings, [str(f) for f in report.findings]


def _versions_per_doc(result) -> dict[str, set[str]]:
    seen: dict[str, set[str]] = {}
    for hit in result.hits:
        match = _TAG.search(hit.text)
        assert match, hit.text
        seen.setdefault(hit.doc_id, set()).add(match.group(1))
    return seen


def test_second_writer_waits_then_gets_a_clear_error(collection, tiny_embedder):
    other = Collection.open(collection.directory, lock_timeout=0.3)  # another handle: its own flock, as another process
    try:
        with collection.writing("a test job"):
            started = time.monotonic()
            with pytest.raises(CollectionBusy, match=r"is busy: pid \d+ \(a test job\) is writing.*waited 0.3s"):
                Indexer(other, tiny_embedder).upsert([Document("x", "the bread")])
            assert time.monotonic() - started >= 0.25
        Indexer(other, tiny_embedder).upsert([Document("x", "the bread")])  # free again
        assert other.counts()["documents"] == 1
    finally:
        other.close()


def test_second_writer_that_waits_long_enough_gets_through(collection, tiny_embedder):
    other = Collection.open(collection.directory, lock_timeout=5)
    done = threading.Event()

    def hold() -> None:
        with collection.writing("a short job"):
            done.wait(0.3)

    holder = threading.Thread(target=hold)
    holder.start()
    time.sleep(0.05)
    Indexer(other, tiny_embedder).upsert([Document("y", "the planet")])  # blocks until the holder lets go
    holder.join()
    assert collection.counts()["documents"] == 1
    other.close()


def test_lock_is_reentrant_for_a_job_and_per_thread(collection, tiny_embedder):
    indexer = Indexer(collection, tiny_embedder)
    with collection.writing("job"):
        indexer.upsert([Document("a", "the bread")])  # takes the same lock again, inside the job
        errors: list[BaseException] = []

        def other_thread() -> None:
            try:
                with collection.writing("other", timeout=0.1):
                    pass
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)

        thread = threading.Thread(target=other_thread)
        thread.start()
        thread.join()
        assert len(errors) == 1 and isinstance(errors[0], CollectionBusy)
    assert collection.counts()["documents"] == 1
