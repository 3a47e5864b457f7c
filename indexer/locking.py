"""One writer per collection, across threads and processes: an advisory flock on `write.lock`.

SQLite already serializes transactions, but a collection is more than one transaction: an indexing
job, the derived FAISS file and a repair must not interleave with another process's writes. Readers
never take this lock. Re-entrant in the holding thread, so a job can hold it around many batches.
"""

from __future__ import annotations

import errno
import fcntl
import os
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from indexer.errors import CollectionBusy

LOCK_FILE = "write.lock"


class WriterLock:
    def __init__(self, directory: Path, name: str, timeout: float = 30.0):
        self.path = Path(directory) / LOCK_FILE
        self.name = name
        self.timeout = timeout
        self._thread_lock = threading.RLock()
        self._depth = 0
        self._fd: int | None = None

    @contextmanager
    def hold(self, purpose: str = "write", timeout: float | None = None):
        """Hold the lock for a write or a whole job; wait up to `timeout` s, then raise CollectionBusy."""
        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + max(timeout, 0.0)
        if not self._thread_lock.acquire(timeout=max(timeout, 0.0)):
            raise self._busy("another thread of this process", timeout)
        try:
            if self._depth == 0:
                self._acquire_file(purpose, deadline, timeout)
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0:
                    self._release_file()
        finally:
            self._thread_lock.release()

    @property
    def held(self) -> bool:
        return self._depth > 0

    def _acquire_file(self, purpose: str, deadline: float, timeout: float) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)  # read-only dir: OSError, mapped by the caller
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError as exc:
                    if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                        raise
                    if time.monotonic() >= deadline:
                        holder = _read_holder(fd)
                        raise self._busy(holder or "another process", timeout) from None
                    time.sleep(0.05)
            # who holds it, for the next writer's error message; best effort
            try:
                os.ftruncate(fd, 0)
                os.pwrite(fd, f"pid {os.getpid()} ({purpose})".encode(), 0)
            except OSError:
                pass
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd

    def _release_file(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)

    def _busy(self, holder: str, timeout: float) -> CollectionBusy:
        return CollectionBusy(
            f"collection {self.name!r} is busy: {holder} is writing to it; waited {timeout:g}s "
            "(only one writer at a time; retry when it finishes, or raise QUARRY_WRITE_LOCK_TIMEOUT)"
        )


def _read_holder(fd: int) -> str:
    try:
        return os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
    except OSError:
        return ""
