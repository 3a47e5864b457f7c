"""Batch indexing on Ray Data: `quarry index --engine ray` and REST jobs with QUARRY_JOB_ENGINE=ray.

    driver   discover files; skip the ones unchanged since they were indexed (size, mtime); give each its id
             (the same rules as a local run); ship the stored content hashes to the workers as compact keys
    read     CPU tasks: files -> documents; documents whose content hash is stored stop here
    chunk    CPU tasks: the embedder's tokenizer, the collection's chunker settings; languages detected
    embed    an actor pool: one actor per GPU (num_gpus=1), else CPU actors (num_cpus each, torch threads to match)
    write    CPU tasks: one segment per block, written into the collection's directory by the worker
    driver   ONE commit of every segment the job wrote, then the files are recorded (a re-run skips them)

Retries never duplicate: a block's segment name is derived from the job and the block's content, so a task
Ray runs twice writes the same segment twice (the second write is a no-op), and nothing is live before the
driver's commit. A driver killed mid-job leaves segment files no manifest names: a re-run starts a new job
(new names) and `quarry check --repair` removes the orphans. Every stage asks for explicit CPUs and the
pipeline fails when no block comes out for `stall_timeout_s` (a stage waiting for CPUs no node has left
waits silently otherwise). The workers must see the collection's directory at the same path as the driver
(a shared filesystem) and the source files at the paths given; docs/performance.md says how to run it.
"""

from __future__ import annotations

import logging
import pickle
import queue
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path

from indexer.collection import Collection
from indexer.engines.ray_setup import RayOptions, RayStalled, RayUnavailable, ray_session
from indexer.engines.ray_stages import (
    EmbedStage,
    Note,
    ReadUnit,
    WrittenSegment,
    chunk_documents,
    read_units,
    rows,
    stored_keys,
    write_block,
    write_blocks,
)
from indexer.errors import QuarryError
from indexer.pipeline import FileLimits, IndexProgress, IndexReport, file_id, file_unchanged, known_roots
from indexer.segments import commit_segments
from indexer.sources import discover
from indexer.store import FileRecord

log = logging.getLogger(__name__)

READ_UNITS_PER_TASK = 4  # files per read task: small files stay cheap, big ones spread over tasks
EMBED_DOCUMENTS = 256  # documents per embedding call on CPU actors (GPU actors get 4x)


class _Plan:
    """What the driver decides before any worker starts: the files to read, and what it already counted."""

    def __init__(self, report: IndexReport, warn: Callable[[str], None]):
        self.report, self.warn = report, warn
        self.units: list[ReadUnit] = []
        self.files: dict[str, tuple[int, int, str]] = {}  # path -> (size, mtime_ns, the file's id)
        self.unsupported: Counter[str] = Counter()

    def skip(self, path: Path, reason: str) -> None:
        self.report.skipped += 1
        self.report.failed[str(path)] = reason
        self.warn(reason)


def plan_units(collection: Collection, paths: list[Path], limits: FileLimits, rehash: bool, confine: Path | None,
               report: IndexReport, warn: Callable[[str], None]) -> _Plan:  # fmt: skip
    sources = list(discover(paths))  # raises FileNotFoundError before anything is written
    records = collection.store.file_records()
    roots = known_roots(records)
    by_source = collection.ids_by_source() if any(str(s.path) not in records for s in sources) else {}
    plan = _Plan(report, warn)
    confine = confine.resolve() if confine is not None else None
    for source in sources:
        if not source.supported and not source.explicit:
            plan.unsupported[source.path.suffix.lower() or "(none)"] += 1
            continue
        try:
            stat = source.path.stat()
        except OSError as exc:
            plan.skip(source.path, f"{source.path}: cannot read ({exc.strerror or exc})")
            continue
        if confine is not None and not source.path.is_relative_to(confine):
            plan.skip(source.path, f"{source.doc_id}: links outside {confine}, skipped")
            continue
        streamed = source.path.suffix.lower() == ".jsonl"
        if limits.max_file_bytes is not None and stat.st_size > limits.max_file_bytes and not streamed:
            plan.skip(source.path, f"{source.path}: {stat.st_size} bytes, over the limit of {limits.max_file_bytes}"
                                   f" ({limits.file_setting}); skipped unread")  # fmt: skip
            continue
        record = records.get(str(source.path))
        if not rehash and file_unchanged(record, stat.st_size, stat.st_mtime_ns, collection.content_hashes):
            report.unchanged += len(record.doc_ids)
            continue
        doc_id = file_id(source, records, by_source, roots, collection.get_document)
        plan.units.append(ReadUnit(len(plan.units), str(source.path), doc_id))
        plan.files[str(source.path)] = (stat.st_size, stat.st_mtime_ns, doc_id)
    return plan


def stored_hashes(collection: Collection) -> dict[str, str]:
    """doc id -> content hash of every stored document, in the base and in live segments (one read of the
    base database, whose document directory lists both); the driver ships them to the workers once."""
    conn = collection.store.conn
    with collection.store.snapshot():
        found = dict(conn.execute("SELECT doc_id, content_hash FROM documents"))
        if conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='segment_documents'").fetchone():
            found.update(conn.execute("SELECT doc_id, content_hash FROM segment_documents"))
    return found


def commit_blocks(collection: Collection, infos: list) -> None:
    """THE commit: every segment the job wrote becomes live at once (in job order: a later copy of an id wins)."""
    commit_segments(collection, infos)


class RayIndexJob:
    """One `--engine ray` run over some paths into one collection."""

    def __init__(self, collection: Collection, embedder_spec: dict, options: RayOptions | None = None,
                 limits: FileLimits | None = None, write: Callable = write_block):  # fmt: skip
        self.collection = collection
        self.spec = dict(embedder_spec)
        self.options = options or RayOptions()
        self.limits = limits or FileLimits()
        self.write = write  # the write step (tests wrap it to kill a worker once)
        self.job = uuid.uuid4().hex[:12]

    def index_paths(
        self,
        paths: Iterable[str | Path],
        prune: bool = False,
        progress: bool | None = None,
        on_progress: Callable[[IndexProgress], None] | None = None,
        confine: Path | None = None,
        rehash: bool = False,
        on_warning: Callable[[str], None] | None = None,
    ) -> IndexReport:
        """Like Indexer.index_paths, on Ray. An exception from on_progress stops the job with nothing committed."""
        if prune:
            raise QuarryError("--prune is not supported with --engine ray yet; run `quarry index PATH --prune` (local engine) after it")
        report = IndexReport()
        started = time.perf_counter()

        def warn(message: str) -> None:
            report.warnings.append(message)
            if on_warning is not None:
                on_warning(message)

        with self.collection.writing("a `quarry index --engine ray` job"):
            plan = plan_units(self.collection, [Path(p) for p in paths], self.limits, rehash, confine, report, warn)
            if plan.units:
                segments, ids = self._run(plan, report, warn, started, progress, on_progress)
                self._commit(plan, segments, ids, report)
        if on_progress is not None:  # the final counts (a run with nothing to read never reached the pipeline)
            done = report.added + report.updated + report.unchanged + report.skipped
            on_progress(IndexProgress(done, done, report, time.perf_counter() - started, report.chunks, report.chunks))
        for suffix, count in sorted(plan.unsupported.items()):
            report.warnings.append(f"ignored {count} file(s) of unsupported type {suffix!r}")
        report.seconds = time.perf_counter() - started
        return report

    # the pipeline ---------------------------------------------------------------------------------
    def _run(self, plan: _Plan, report, warn, started, progress, on_progress):
        from tqdm import tqdm

        show = sys.stderr.isatty() if progress is None else progress
        bar = tqdm(total=len(plan.units), unit="file", desc=f"indexing {self.collection.name} on Ray", disable=not show)
        segments: list[WrittenSegment] = []
        ids: dict[str, list[str]] = {}
        files_done = 0
        with ray_session(self.options) as ray:
            dataset = self._pipeline(ray, plan)
            try:
                for batch in drain(dataset, self.options.stall_timeout_s):
                    for kind, _, payload in rows(batch):
                        if kind == "segment":  # counted as written; _commit settles ids written twice
                            segments.append(payload)
                            report.chunks += sum(n for _, _, n in payload.documents)
                            report.updated += sum(1 for _, stored, _ in payload.documents if stored)
                            report.added += sum(1 for _, stored, _ in payload.documents if not stored)
                        elif kind == "error":  # a worker could not write its segment: nothing is committed
                            raise QuarryError(payload)
                        elif kind == "note":
                            files_done += self._count(payload, report, warn, ids)
                    bar.update(files_done - bar.n)
                    if on_progress is not None:
                        done = report.added + report.updated + report.unchanged + report.skipped
                        on_progress(IndexProgress(done, max(done, len(plan.units)), report, time.perf_counter() - started,
                                                  report.chunks, report.chunks))  # fmt: skip
            finally:
                bar.close()
        return segments, ids

    @staticmethod
    def _count(note: Note, report: IndexReport, warn, ids: dict[str, list[str]]) -> int:
        report.unchanged += note.unchanged
        report.skipped += note.skipped
        report.loaded += note.loaded
        report.failed.update(note.failed)
        for warning in note.warnings:
            warn(warning)
        for path, found in note.ids.items():
            ids.setdefault(path, []).extend(found)
        return len(note.ids)

    def _pipeline(self, ray, plan: _Plan):
        opts = self.options
        resources = ray.cluster_resources()
        cpus, gpus = int(resources.get("CPU", 0)), int(resources.get("GPU", 0))
        if cpus < 2:
            raise RayUnavailable(f"the Ray cluster has {cpus} CPU(s); the ray engine needs at least 2 (embedding, and reading/writing)")
        manifest = self.collection.manifest
        keys_ref = ray.put(stored_keys(stored_hashes(self.collection)))
        spec = dict(self.spec)
        if gpus:
            actors, actor_resources = opts.embed_actors or gpus, dict(num_gpus=1, num_cpus=1)
            embed_docs = EMBED_DOCUMENTS * 4
        else:
            spec["device"] = "cpu"
            per_actor = max(1, min(opts.embed_cpus, cpus - 1))
            actors = opts.embed_actors or max(1, (cpus - 1) // per_actor)
            actor_resources, embed_docs = dict(num_cpus=per_actor), EMBED_DOCUMENTS
        threads = int(actor_resources["num_cpus"])
        units = [{"kind": "unit", "unit": u.index, "payload": pickle.dumps(u)} for u in plan.units]
        blocks = max(1, min(len(units), -(-len(units) // READ_UNITS_PER_TASK)))
        return (
            ray.data.from_items(units, override_num_blocks=blocks)
            .map_batches(read_units, batch_size=READ_UNITS_PER_TASK, batch_format="pyarrow", num_cpus=1,
                         fn_kwargs=dict(keys_ref=[keys_ref], max_document_chars=self.limits.max_document_chars))
            .map_batches(chunk_documents, batch_size=EMBED_DOCUMENTS, batch_format="pyarrow", num_cpus=1,
                         fn_kwargs=dict(spec=spec, chunk_size=manifest.chunk_size, chunk_overlap=manifest.chunk_overlap))
            .map_batches(EmbedStage, batch_size=embed_docs, batch_format="pyarrow",
                         compute=ray.data.ActorPoolStrategy(min_size=1, max_size=actors),
                         fn_constructor_kwargs=dict(spec=spec, document_prefix=manifest.document_prefix, threads=threads),
                         **actor_resources)
            .map_batches(write_blocks, batch_size=opts.segment_documents, batch_format="pyarrow", num_cpus=1,
                         fn_kwargs=dict(collection_dir=str(self.collection.directory), job=self.job, write=self.write))
        )  # fmt: skip

    # the commit -------------------------------------------------------------------------------------
    def _commit(self, plan: _Plan, segments: list[WrittenSegment], ids: dict[str, list[str]], report: IndexReport) -> None:
        segments.sort(key=lambda s: (s.first_unit, s.info.name))
        final: dict[str, tuple[bool, int]] = {}
        for segment in segments:
            for doc_id, stored, chunks in segment.documents:
                final[doc_id] = (stored or doc_id in final, chunks)
        report.added = sum(1 for stored, _ in final.values() if not stored)
        report.updated = len(final) - report.added
        report.chunks = sum(n for _, n in final.values())
        if segments:
            commit_blocks(self.collection, [s.info for s in segments])
        records = [FileRecord(path, size, mtime, doc_id, ids[path]) for path, (size, mtime, doc_id) in plan.files.items()
                   if ids.get(path)]  # fmt: skip
        self.collection.store.record_files(records)
        self.collection.save_index()


def drain(dataset, stall_timeout_s: float):
    """The pipeline's output batches, failing with RayStalled when none comes for stall_timeout_s."""
    out: queue.Queue = queue.Queue(maxsize=8)
    stop = threading.Event()

    def pump() -> None:
        try:
            for batch in dataset.iter_batches(batch_size=None, batch_format="pyarrow"):
                while not stop.is_set():
                    try:
                        out.put(("batch", batch), timeout=0.5)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            out.put(("done", None))
        except BaseException as exc:  # noqa: BLE001 - handed to the driver thread
            out.put(("error", exc))

    thread = threading.Thread(target=pump, name="quarry-ray-drain", daemon=True)
    thread.start()
    try:
        while True:
            try:
                kind, item = out.get(timeout=stall_timeout_s)
            except queue.Empty:
                raise RayStalled(
                    f"the Ray pipeline produced nothing for {stall_timeout_s:.0f}s; a stage may be waiting for CPUs or GPUs"
                    " no node has free (see `ray status`), or a worker is stuck; nothing was committed"
                ) from None
            if kind == "done":
                return
            if kind == "error":
                raise item
            yield item
    finally:
        stop.set()


def index_on_ray(collection: Collection, embedder_spec: dict, paths, options: RayOptions | None = None,
                 limits: FileLimits | None = None, **kwargs) -> IndexReport:  # fmt: skip
    """One call for the CLI and the job manager."""
    return RayIndexJob(collection, embedder_spec, options, limits).index_paths(paths, **kwargs)

