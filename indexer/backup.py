"""Snapshots of a collection that can be taken while it is being written, checked, and restored anywhere.

A snapshot is one self-contained directory:

    collection.json   the manifest, as it was
    quarry.sqlite     a consistent copy made by SQLite's online backup API (one read transaction: every
                      committed batch before it, none after, whatever writers do meanwhile)
    snapshot.json     what it holds (collection, generation, counts, when) and the sha256 and size of each file

    segments/<name>/  the sealed segments that database lists as live (indexer.segments), copied as they are:
                      they never change once written, so the base copy decides which ones belong

vectors.faiss is left out on purpose: it is derived from SQLite, and restore rebuilds it, so a snapshot never
pairs a database with an index of another moment. Nothing in it names a path, so it restores on another
machine (same quarry format, same embedder configured to search it).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sqlite3
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from indexer.errors import QuarryError
from indexer.layout import DATABASE, MANIFEST, Manifest
from indexer.segments import SEGMENT_INFO, live_segments, segment_path

SNAPSHOT_FILE = "snapshot.json"
SNAPSHOT_FORMAT = 1
_CHUNK = 1 << 20
_SNAPSHOT_NAME = re.compile(rf"^({re.escape(MANIFEST)}|{re.escape(DATABASE)}|segments/[A-Za-z0-9][A-Za-z0-9._-]*/({re.escape(DATABASE)}|{re.escape(SEGMENT_INFO)}))$")


class SnapshotError(QuarryError):
    """A snapshot that cannot be taken or trusted; the message says why and what to do."""


@dataclass
class SnapshotInfo:
    collection: str
    generation: int
    documents: int
    chunks: int
    created_at: float
    files: dict[str, dict] = field(default_factory=dict)  # name -> {"sha256", "bytes"}
    format: int = SNAPSHOT_FORMAT

    @classmethod
    def read(cls, directory: Path) -> "SnapshotInfo":
        path = Path(directory) / SNAPSHOT_FILE
        try:
            data = json.loads(path.read_text())
            info = cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})
        except (OSError, ValueError, TypeError) as exc:
            raise SnapshotError(f"{directory} is not a quarry snapshot ({SNAPSHOT_FILE}: {exc})") from None
        if info.format != SNAPSHOT_FORMAT:
            raise SnapshotError(f"{path}: snapshot format {info.format} is not supported (this quarry reads {SNAPSHOT_FORMAT})")
        return info


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def _fsync(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def _check_database(path: Path) -> tuple[int, int, int]:
    """(generation, documents, chunks) of a copied database, after SQLite's own page check."""
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        rows = [r[0] for r in conn.execute("PRAGMA quick_check(5)")]
        if rows != ["ok"]:
            raise SnapshotError(f"{path}: the copied database fails SQLite's check ({'; '.join(rows)})")
        generation = int(conn.execute("SELECT value FROM meta WHERE key='generation'").fetchone()[0])
        documents = conn.execute("SELECT COUNT(*) FROM documents").fetchone()[0]
        chunks = conn.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
        if live_segments(conn):
            more = conn.execute("SELECT COUNT(*), COALESCE(SUM(chunks), 0) FROM segment_documents").fetchone()
            documents, chunks = documents + more[0], chunks + more[1]
    finally:
        conn.close()
    return generation, documents, chunks


def _fresh_folder(out: Path) -> Path:
    """A temp sibling of `out` to fill, so a half-written snapshot never sits under the final name."""
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise SnapshotError(f"{out} already exists and is not an empty directory; choose a new name for the snapshot")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    return tmp


def snapshot_collection(directory: Path, out: Path) -> SnapshotInfo:
    """Copy the collection in `directory` to the new snapshot directory `out`; safe beside a running writer."""
    directory, out = Path(directory), Path(out)
    manifest = Manifest.read(directory)
    tmp = _fresh_folder(out)
    try:
        source = sqlite3.connect(f"{(directory / DATABASE).resolve().as_uri()}?mode=ro", uri=True, timeout=60)
        target = sqlite3.connect(tmp / DATABASE)
        try:
            source.backup(target)  # pages=-1: one step, under one read transaction (WAL lets writers go on)
            target.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
        finally:
            target.close()
            source.close()
        shutil.copyfile(directory / MANIFEST, tmp / MANIFEST)
        generation, documents, chunks = _check_database(tmp / DATABASE)
        info = SnapshotInfo(manifest.name, generation, documents, chunks, time.time())
        for name in [MANIFEST, DATABASE, *_copy_segments(directory, tmp)]:
            _fsync(tmp / name)
            info.files[name] = {"sha256": sha256_file(tmp / name), "bytes": (tmp / name).stat().st_size}
        (tmp / SNAPSHOT_FILE).write_text(json.dumps(asdict(info), indent=2) + "\n")
        _fsync(tmp / SNAPSHOT_FILE)
        if out.exists():
            out.rmdir()  # empty (checked above)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return info


def _copy_segments(directory: Path, tmp: Path) -> list[str]:
    """Copy the segments the copied database lists; their names relative to the snapshot."""
    conn = sqlite3.connect(f"{(tmp / DATABASE).resolve().as_uri()}?mode=ro", uri=True)
    try:
        live = live_segments(conn)
    finally:
        conn.close()
    names = []
    for name, _ in live:
        source = segment_path(directory, name)
        (tmp / source.relative_to(directory)).mkdir(parents=True)
        for file in (DATABASE, SEGMENT_INFO):
            relative = (source / file).relative_to(directory)
            try:
                shutil.copyfile(source / file, tmp / relative)
            except FileNotFoundError:
                raise SnapshotError(f"segment {name!r} was merged away while the snapshot was taken; take it again") from None
            names.append(relative.as_posix())
    return names


def verify_snapshot(snapshot: Path) -> SnapshotInfo:
    """The snapshot's description, once every file matches its recorded size and sha256."""
    snapshot = Path(snapshot)
    info = SnapshotInfo.read(snapshot)
    for name in dict.fromkeys([MANIFEST, DATABASE, *info.files]):
        if not _SNAPSHOT_NAME.match(name):  # restore copies by these names: nothing may point outside
            raise SnapshotError(f"snapshot {snapshot}: {SNAPSHOT_FILE} names an unexpected file {name!r}; it cannot be restored")
        expected = info.files.get(name)
        path = snapshot / name
        if expected is None or not path.is_file():
            raise SnapshotError(f"snapshot {snapshot} lacks {name}; it cannot be restored")
        if path.stat().st_size != expected["bytes"] or sha256_file(path) != expected["sha256"]:
            raise SnapshotError(f"snapshot {snapshot}: {name} does not match its checksum in {SNAPSHOT_FILE}; the copy is damaged")
    return info


def restore_snapshot(snapshot: Path, target: Path, name: str) -> SnapshotInfo:
    """Verify `snapshot` and lay it out as the new collection directory `target` named `name` (which must not
    exist). The caller opens it afterwards, which rebuilds vectors.faiss from the restored SQLite."""
    snapshot, target = Path(snapshot), Path(target)
    info = verify_snapshot(snapshot)
    if target.exists():
        raise SnapshotError(f"{target} already exists; restore under another name (--collection NEW_NAME)")
    tmp = target.with_name(f".{target.name}.{os.getpid()}.restoring")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        for file in info.files:
            if file != MANIFEST:
                (tmp / file).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(snapshot / file, tmp / file)
                _fsync(tmp / file)
        manifest = Manifest.read(snapshot)
        manifest.name = name
        manifest.write(tmp)  # last file, as in a create: a directory without a manifest is unfinished
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return info
