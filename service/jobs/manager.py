"""Batch indexing jobs: index a server folder in the background, report progress, survive restarts.

Jobs live in `jobs.sqlite` under the data dir. One worker thread runs them in order through
Indexer.index_paths, whose progress callback records each committed batch and is where a cancel or a
shutdown takes effect (between batches). A job that was running when the server stopped is run again at
the next start: index_paths is idempotent by content hash, so the rerun skips what was already committed
and continues (documents written before the restart then count as unchanged).

An archive job (`upload=True`) indexes a folder the API unpacked under `<data_dir>/uploads/<job_id>/`
instead of a server folder; it is deleted when the job succeeds or is cancelled, and kept when it fails
so the files can be inspected (removed with the job's folder by hand).
"""

from __future__ import annotations

import json
import logging
import queue
import shutil
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from indexer.errors import StorageError
from indexer.pipeline import FileLimits, Indexer, IndexProgress

log = logging.getLogger(__name__)

FINISHED = ("succeeded", "failed", "cancelled")
PROGRESS_SAVE_EVERY_S = 0.5  # at most this often to SQLite; the in-memory job is always current


class JobError(Exception):
    pass


class JobNotFound(JobError):
    pass


class JobFinished(JobError):
    pass


class JobsDisabled(JobError):
    pass


class PathNotAllowed(JobError):
    pass


class JobPathNotFound(JobError):
    pass


class InvalidJobPath(JobError):
    """A path no file system could hold (NUL bytes, over-long names, an unknown ~user)."""


MAX_PATH_COMPONENT_BYTES = 255  # NAME_MAX on Linux and macOS


def _checked_text_path(raw: str) -> Path:
    if "\x00" in raw:
        raise InvalidJobPath(f"path {raw!r} holds a NUL byte, which no file name can")
    try:
        encoded = [part.encode("utf-8") for part in Path(raw).parts]
    except UnicodeEncodeError:
        raise InvalidJobPath(f"path {raw!r} is not valid text (a lone UTF-16 surrogate?)") from None
    for part in encoded:
        if len(part) > MAX_PATH_COMPONENT_BYTES:
            raise InvalidJobPath(
                f"path {raw[:60]!r}... has a component of {len(part)} bytes; file names hold at most {MAX_PATH_COMPONENT_BYTES}"
            )
    try:
        return Path(raw).expanduser()
    except RuntimeError as exc:  # ~nosuchuser
        raise InvalidJobPath(f"path {raw!r}: {exc}; give an absolute path") from None


@dataclass
class Job:
    id: str
    collection: str
    path: str
    state: str = "queued"  # queued, running, succeeded, failed, cancelled
    created_at: float = field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None
    runs: int = 0  # 2 or more: resumed after a restart
    cancel_requested: bool = False
    message: str = ""
    documents_done: int = 0
    documents_total: int = 0
    chunks: int = 0
    chunks_embedded: int = 0
    chunks_estimate: int = 0  # all chunks this job will embed, estimated from the bytes read so far
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    elapsed_s: float = 0.0
    rate: float = 0.0  # documents per second
    eta_s: float | None = None
    errors: dict[str, str] = field(default_factory=dict)  # file -> why it was not indexed
    upload: bool = False  # path is an unpacked archive under data_dir/uploads/<id>/, not under a job root

    def record(self, progress: IndexProgress) -> None:
        r = progress.report
        self.documents_done, self.documents_total = progress.done, progress.total
        self.chunks, self.added, self.updated, self.unchanged, self.skipped = r.chunks, r.added, r.updated, r.unchanged, r.skipped
        self.elapsed_s, self.rate, self.eta_s = round(progress.elapsed, 3), round(progress.rate, 3), progress.eta
        self.chunks_embedded, self.chunks_estimate = progress.chunks_done, progress.chunks_total
        self.errors = dict(r.failed)


class JobStore:
    """SQLite: a few indexed columns plus the whole job as JSON (the schema can grow without migrations)."""

    def __init__(self, path: Path):
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS jobs (id TEXT PRIMARY KEY, collection TEXT NOT NULL, state TEXT NOT NULL,"
                " created_at REAL NOT NULL, data TEXT NOT NULL)"
            )
        except (OSError, sqlite3.Error) as exc:
            raise StorageError(
                f"cannot open the jobs database {path} ({exc}): the data directory must be writable by this user;"
                " fix its permissions or point QUARRY_DATA_DIR at a writable directory"
            ) from None
        self._lock = threading.Lock()

    def save(self, job: Job) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO jobs (id, collection, state, created_at, data) VALUES (?, ?, ?, ?, ?)",
                (job.id, job.collection, job.state, job.created_at, json.dumps(asdict(job))),
            )

    def load(self, where: str = "1", params: tuple = ()) -> list[Job]:
        with self._lock:
            rows = self._db.execute(f"SELECT data FROM jobs WHERE {where} ORDER BY created_at", params).fetchall()
        return [Job(**json.loads(data)) for (data,) in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()


def check_job_path(raw: str, roots: list[Path]) -> tuple[Path, Path]:
    """(resolved path, the allowed root containing it). Symlinks are resolved first, so none can lead out."""
    if not roots:
        raise JobsDisabled(
            "batch jobs are disabled: set QUARRY_JOB_ROOTS to the comma-separated server folders jobs may read"
        )
    allowed = ", ".join(str(r) for r in roots)
    path = _checked_text_path(raw)
    if not path.is_absolute():
        raise PathNotAllowed(f"path {raw!r} is relative; give an absolute path under one of the job roots: {allowed}")
    try:
        resolved = path.resolve()
        for root in roots:
            real_root = root.resolve()
            if resolved == real_root or resolved.is_relative_to(real_root):
                if not resolved.exists():
                    raise JobPathNotFound(f"path {raw!r} does not exist on the server")
                return resolved, real_root
    except (OSError, ValueError) as exc:  # e.g. a path too long as a whole, a link loop
        raise InvalidJobPath(f"path {raw[:80]!r} cannot be used: {exc}") from None
    raise PathNotAllowed(f"path {raw!r} is outside the job roots (QUARRY_JOB_ROOTS: {allowed})")


class _Stop(Exception):
    """Raised from the progress callback: ends index_paths between batches."""

    def __init__(self, reason: str):
        self.reason = reason  # "cancelled" or "shutdown"


class JobManager:
    def __init__(
        self,
        data_dir: Path,
        roots: list[Path],
        open_collection: Callable[[str], object],
        embedder,
        batch_documents: int | None = None,
        limits: FileLimits | None = None,
        writers: int = 1,
        engine: str = "local",
        ray_options=None,
    ):
        self.roots = roots
        self.engine, self.ray_options = engine, ray_options  # QUARRY_JOB_ENGINE: local, or ray (indexer.engines)
        self.uploads = Path(data_dir) / "uploads"
        self.open_collection = open_collection
        self.embedder = embedder
        self.batch_documents = batch_documents
        self.limits = limits or FileLimits()  # per file and per document, as for `quarry index`
        self.writers = writers
        self.job_store = JobStore(Path(data_dir) / "jobs.sqlite")
        self._jobs: dict[str, Job] = {job.id: job for job in self.job_store.load()}
        self._lock = threading.Lock()
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # lifecycle -----------------------------------------------------------------------------------
    def start(self) -> None:
        """Queue unfinished jobs again (a running one was interrupted by a stop or a crash), then run."""
        for job in self.list_jobs():
            if job.state not in FINISHED:
                if job.state == "running":
                    job.state, job.message = "queued", "interrupted by a stop; resumed at start-up"
                    self.job_store.save(job)
                log.info("resuming indexing job %s (%s -> %s)", job.id, job.path, job.collection)
                self._queue.put(job.id)
        self._thread = threading.Thread(target=self._work, name="quarry-jobs", daemon=True)
        self._thread.start()

    def close(self, timeout: float = 60.0) -> None:
        """Stop at the next batch boundary; the job stays queued and resumes at the next start."""
        self._stop.set()
        self._queue.put(None)
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("indexing job worker did not stop within %.0fs", timeout)
                return  # the store stays open for the worker; the process is going away
        self.job_store.close()

    # operations ----------------------------------------------------------------------------------
    def submit(self, collection: str, raw_path: str) -> Job:
        path, _ = check_job_path(raw_path, self.roots)
        job = Job(id=self.new_id(), collection=collection, path=str(path))
        with self._lock:
            self._jobs[job.id] = job
            self.job_store.save(job)
        self._queue.put(job.id)
        return job

    @staticmethod
    def new_id() -> str:
        return uuid.uuid4().hex[:16]

    def upload_dir(self, job_id: str) -> Path:
        """Where an archive job's files are unpacked (the route fills it before submit_upload)."""
        return self.uploads / job_id

    def submit_upload(self, collection: str, job_id: str, folder: Path) -> Job:
        """Queue an archive job over `folder`, already unpacked under upload_dir(job_id). No job roots needed."""
        if not folder.resolve().is_relative_to(self.upload_dir(job_id).resolve()):
            raise ValueError(f"{folder} is not in the upload folder of job {job_id}")
        job = Job(id=job_id, collection=collection, path=str(folder), upload=True)
        with self._lock:
            self._jobs[job.id] = job
            self.job_store.save(job)
        self._queue.put(job.id)
        return job

    def _clean_up(self, job: Job, state: str) -> None:
        """An archive job's files go once they are indexed or no longer wanted; a failed job keeps them."""
        if job.upload and state in ("succeeded", "cancelled"):
            shutil.rmtree(self.upload_dir(job.id), ignore_errors=True)

    def get(self, collection: str, job_id: str) -> Job:
        job = self._jobs.get(job_id)
        if job is None or job.collection != collection:
            raise JobNotFound(f"no job {job_id!r} for collection {collection!r}; GET /v1/collections/{collection}/jobs lists them")
        return job

    def list_jobs(self, collection: str | None = None) -> list[Job]:
        jobs = sorted(self._jobs.values(), key=lambda j: j.created_at)
        return [j for j in jobs if collection is None or j.collection == collection]

    def cancel(self, collection: str, job_id: str) -> Job:
        """A queued job is cancelled now; a running one stops after its current batch (kept, not rolled back)."""
        job = self.get(collection, job_id)
        with self._lock:
            if job.state in FINISHED:
                raise JobFinished(f"job {job_id} already {job.state}; nothing to cancel")
            job.cancel_requested = True
            if job.state == "queued":
                job.state, job.finished_at, job.message = "cancelled", time.time(), "cancelled before it started"
            self.job_store.save(job)
        self._clean_up(job, job.state)
        return job

    # worker --------------------------------------------------------------------------------------
    def _work(self) -> None:
        while not self._stop.is_set():
            job_id = self._queue.get()
            if job_id is None:
                break
            job = self._jobs.get(job_id)
            if job is not None and job.state == "queued":
                self._run(job)

    def _run(self, job: Job) -> None:
        with self._lock:
            job.state, job.runs, job.started_at = "running", job.runs + 1, job.started_at or time.time()
            self.job_store.save(job)
        last_save = 0.0

        def on_progress(progress: IndexProgress) -> None:
            nonlocal last_save
            job.record(progress)
            if time.monotonic() - last_save >= PROGRESS_SAVE_EVERY_S:
                self.job_store.save(job)
                last_save = time.monotonic()
            if job.cancel_requested:
                raise _Stop("cancelled")
            if self._stop.is_set():
                raise _Stop("shutdown")

        try:
            if job.upload:
                path, root = Path(job.path), self.upload_dir(job.id)
                if not path.is_dir():
                    raise JobPathNotFound(f"the unpacked archive of job {job.id} is gone from {path}")
            else:
                path, root = check_job_path(job.path, self.roots)  # the roots may have changed since it was queued
            collection = self.open_collection(job.collection)
            if self.engine == "ray":  # the whole job commits at its end: a cancel keeps nothing of it
                from indexer.engines.ray_engine import RayIndexJob

                indexer = RayIndexJob(collection, self.embedder.spec(), self.ray_options, self.limits)
            else:
                indexer = Indexer(
                    collection, self.embedder, batch_documents=self.batch_documents, limits=self.limits, writers=self.writers
                )
            report = indexer.index_paths([path], progress=False, on_progress=on_progress, confine=root)
            state, message = "succeeded", report.summary()
        except _Stop as stop:
            if stop.reason == "cancelled":
                state, message = "cancelled", f"cancelled after {job.documents_done} of {job.documents_total} documents"
            else:
                state, message = "queued", "interrupted by shutdown; resumes at the next start"
        except Exception as exc:  # noqa: BLE001 - a failed job is reported, the worker goes on
            log.exception("indexing job %s failed", job.id)
            state, message = "failed", str(exc) or type(exc).__name__
            if job.upload:
                message += f" (the unpacked archive is kept in {self.upload_dir(job.id)} for inspection)"
        # Files go before the state is published, so a client that sees "succeeded" never sees them.
        self._clean_up(job, state)
        with self._lock:
            job.state, job.message = state, message
            if state in FINISHED:
                job.finished_at, job.eta_s = time.time(), 0.0 if state == "succeeded" else None
            self.job_store.save(job)
        log.info("indexing job %s %s: %s", job.id, job.state, job.message)
