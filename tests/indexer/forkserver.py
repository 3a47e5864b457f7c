"""Runs quarry jobs as real child processes that tests can SIGKILL, without paying torch's import each time.

Started once per test module (`python -m tests.indexer.forkserver`): it imports the heavy libraries,
then for each JSON line on stdin forks a child that runs `service.cli.main(argv)` (exactly what
`python -m service.cli` runs) and answers {"pid": N}; {"wait": N} answers {"rc": status}, negative
for a signal. A child can be told to SIGKILL itself at a precise point (`die_at`), to hit the narrow
windows (inside a transaction, between COMMIT and the FAISS update, mid index save) that timed kills
would reach only by luck. Nothing of the child is cleaned up: that is the point.
"""

from __future__ import annotations

import json
import os
import signal
import sys


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _install_kill_point(point: str, nth: int) -> None:
    """Wrap one function so that its nth call kills the process at the named moment."""
    import indexer.layout as layout_module
    from indexer.collection import Collection
    from indexer.layout import INDEX_STAMP, Manifest
    from indexer.store import Store

    calls = {"n": 0}

    def hit() -> bool:
        calls["n"] += 1
        return calls["n"] == nth

    if point == "create":  # SQLite made, manifest not yet written
        original_write = Manifest.write
        Manifest.write = lambda self, d: _die() if hit() else original_write(self, d)
    elif point == "in_transaction":  # rows inserted, COMMIT not reached
        original_bump = Store._bump_generation
        Store._bump_generation = lambda self, conn: _die() if hit() else original_bump(self, conn)
    elif point == "after_commit":  # SQLite committed, FAISS not updated
        original_apply = Collection._apply
        Collection._apply = lambda self, result: _die() if hit() else original_apply(self, result)
    elif point == "mid_save":  # new vectors.faiss in place, its stamp not yet written
        original_atomic = layout_module.atomic_write_text

        def atomic(path, text):
            if path.name == INDEX_STAMP and '"generation": null' not in text and hit():
                _die()
            original_atomic(path, text)

        layout_module.atomic_write_text = atomic
    elif point == "segment_write":  # --writers N: a writer thread inside its segment's transaction
        from indexer.segments import SegmentWriter

        original_write = SegmentWriter.write
        SegmentWriter.write = lambda self, prepared: _die() if hit() else original_write(self, prepared)
    elif point == "segment_seal":  # a segment complete in its temp folder, not yet renamed
        import indexer.segments as segments_module

        original_seal = segments_module._seal
        segments_module._seal = lambda temp, final, info: _die() if hit() else original_seal(temp, final, info)
    elif point == "segment_commit":  # segments sealed under their names, the commit not reached
        original_commit = Collection.commit_segments
        Collection.commit_segments = lambda self, names, deletes=None: _die() if hit() else original_commit(self, names, deletes)
    else:
        raise ValueError(f"unknown kill point {point!r}")


def _child(job: dict) -> int:
    os.environ.update(job.get("env", {}))
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    if not job.get("stderr"):
        os.dup2(devnull, 2)
    if job.get("die_at"):
        _install_kill_point(job["die_at"], int(job.get("nth", 1)))
    if job.get("seal_every_batch"):  # --writers N commits its segments after every batch, not every minute
        from indexer.pipeline import Indexer

        original_init = Indexer.__init__

        def init(self, *args, **kwargs):
            original_init(self, *args, **kwargs)
            self.save_every_s = 0.0

        Indexer.__init__ = init
    if job.get("script") == "upsert_delete":
        return _upsert_delete(job["argv"])
    from service.cli.main import main

    return main(job["argv"])


def _upsert_delete(argv: list[str]) -> int:
    """What an API client does: upsert documents in small requests, then delete some, by id."""
    data_dir, name, count = argv[0], argv[1], int(argv[2])
    from indexer.documents import Document
    from service.runtime import Runtime
    from service.settings import load_settings

    runtime = Runtime(load_settings(data_dir=data_dir))
    collection = runtime.open_or_create(name)
    indexer = runtime.indexer(collection)
    docs = [Document(f"api-{i}", f"the bread number {i} and the planet {i % 7} " * (1 + i % 3)) for i in range(count)]
    for i in range(0, count, 3):
        indexer.upsert(docs[i : i + 3])
    for i in range(0, count // 2, 4):
        collection.delete([f"api-{j}" for j in range(i, min(i + 4, count // 2))])
    runtime.close()
    return 0


def serve() -> None:
    import faiss  # noqa: F401 - warm the heavy imports once, before any fork
    import sentence_transformers  # noqa: F401
    import torch  # noqa: F401

    import service.cli.main  # noqa: F401
    import service.runtime  # noqa: F401

    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        job = json.loads(line)
        if "wait" in job:
            _, status = os.waitpid(int(job["wait"]), 0)
            rc = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
            print(json.dumps({"rc": rc}), flush=True)
            continue
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                code = _child(job)
            finally:
                os._exit(code)
        print(json.dumps({"pid": pid}), flush=True)
    os._exit(0)  # stdin closed: leave without torch's slow interpreter teardown, which the test need not wait for


if __name__ == "__main__":
    serve()
