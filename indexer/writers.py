"""Parallel local writers: `quarry index --writers N` fills N sealed segments at once; the job commits them.

Each writer is one thread with its own SegmentWriter (indexer.segments), so each has its own SQLite file
and connection: the writes run side by side where a single database allows one writer. SQLite and
FAISS release the GIL while they work, so threads are enough (measured in benchmarks.profile_indexing).

A document goes to the writer its id hashes to, so a document seen twice in one run lands twice in the
same segment and its later copy replaces the earlier there, exactly as in the base. `commit()` waits for
the queued writes, seals the segments and makes them live in one commit (indexer.segments); the next
writes open fresh segments. A crash before a commit loses only the uncommitted segments (orphans), and
a re-run redoes them: their documents are not in the collection yet.
"""

from __future__ import annotations

import os
import uuid
import zlib
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor

from indexer.segments import SegmentWriter, commit_segments
from indexer.store import PreparedDocument, WriteResult

MAX_WRITERS = 4  # past this the commit (one thread) and the driver's reading and chunking are the limit
MOST_WRITERS = 64  # the most `--writers` / QUARRY_INDEX_WRITERS accept: each is a thread, a file and a segment per commit
QUEUED = 2  # writes queued per writer before submit() waits: bounds the memory of embedded batches


def default_writers(cores: int | None = None) -> int:
    """min(4, cores // 2), at least 1: the other half of the cores read, chunk, tokenize and embed on CPU
    hosts, and a 2-core machine keeps the single base writer it always had."""
    cores = cores if cores is not None else (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
    return max(1, min(MAX_WRITERS, cores // 2))


class ParallelWriters:
    def __init__(self, collection, writers: int, run: str | None = None):
        if writers < 2:
            raise ValueError("ParallelWriters needs at least 2 writers; 1 writes to the base as always")
        self.collection = collection
        self.n = writers
        self.run = run or uuid.uuid4().hex[:12]
        self.round = 0
        self.pools = [ThreadPoolExecutor(1, thread_name_prefix=f"quarry-writer-{k}") for k in range(writers)]
        self.pending: deque[Future] = deque()
        self.writers: list[SegmentWriter] = []
        self.written = 0  # documents written to segments not yet committed
        self._open()

    def _open(self) -> None:
        self.round += 1
        self.writers = [SegmentWriter(self.collection.directory, f"{self.run}-{self.round}-{k}") for k in range(self.n)]

    def submit(self, prepared: list[PreparedDocument]) -> None:
        """Queue documents to their writers; waits when the writers are behind. Raises a writer's error."""
        parts: list[list[PreparedDocument]] = [[] for _ in range(self.n)]
        for p in prepared:
            parts[zlib.crc32(p.document.doc_id.encode()) % self.n].append(p)
        for k, part in enumerate(parts):
            if part:
                self.pending.append(self.pools[k].submit(self.writers[k].write, part))
        self.written += len(prepared)
        while len(self.pending) > QUEUED * self.n:
            self.pending.popleft().result()

    def _drain(self) -> None:
        while self.pending:
            self.pending.popleft().result()

    def commit(self) -> WriteResult | None:
        """Seal every segment written since the last commit and make them live together; None if none."""
        self._drain()
        infos = [self.pools[k].submit(w.finish).result() for k, w in enumerate(self.writers)]
        self._open()
        infos = [i for i in infos if i is not None]
        self.written = 0
        return commit_segments(self.collection, infos) if infos else None

    def abort(self) -> None:
        """Drop what is not committed (a failed run): the temp folders go, nothing half-written stays."""
        for future in self.pending:
            future.cancel()
        for future in list(self.pending):
            try:
                future.result()
            except Exception:  # noqa: BLE001 - already failing; the first error is what the caller reports
                pass
        self.pending.clear()
        for k, writer in enumerate(self.writers):
            self.pools[k].submit(writer.abort).result()

    def close(self) -> None:
        for pool in self.pools:
            pool.shutdown(wait=True)
