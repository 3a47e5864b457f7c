"""Collections by name under one data directory; names are validated so no input escapes it."""

from __future__ import annotations

import logging
import re
import shutil
import threading
from pathlib import Path

from indexer.backup import SnapshotInfo, restore_snapshot, snapshot_collection
from indexer.collection import Collection, check_embedder
from indexer.layout import MANIFEST, Manifest
from indexer.errors import CollectionExists, CollectionNotFound, InvalidName

log = logging.getLogger(__name__)

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")  # fullmatch: "$" would let a trailing newline through


def validate_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name) or ".." in name:
        raise InvalidName(
            f"invalid collection name {name!r}: use 1-64 letters, digits, '-', '_' or '.', starting with a letter or digit"
        )
    return name


class Catalog:
    """Opens each collection once and shares it (a server opens many, the CLI one)."""

    def __init__(self, data_dir: str | Path, lock_timeout: float = 30.0):
        self.root = Path(data_dir).expanduser() / "collections"
        self.lock_timeout = lock_timeout  # how long a second writer waits for a collection's write lock
        self._open: dict[str, Collection] = {}
        self._lock = threading.Lock()

    def path(self, name: str) -> Path:
        path = self.root / validate_name(name)
        # belt and braces: even a name the pattern let through must resolve inside the data directory
        if path.resolve().parent != self.root.resolve():
            raise InvalidName(f"invalid collection name {name!r}: it resolves outside the data directory")
        return path

    def opened(self) -> list[Collection]:
        """The collections open now (what the server's background merge looks after)."""
        with self._lock:
            return list(self._open.values())

    def exists(self, name: str) -> bool:
        return (self.path(name) / MANIFEST).is_file()

    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if (p / MANIFEST).is_file() and _NAME.fullmatch(p.name))

    def manifest(self, name: str) -> Manifest:
        if not self.exists(name):
            raise self._not_found(name)
        return Manifest.read(self.path(name))

    def _not_found(self, name: str) -> CollectionNotFound:
        known = ", ".join(self.names()) or "none yet"
        return CollectionNotFound(f"collection {name!r} not found (collections: {known}); create it by indexing into it")

    def create(self, manifest: Manifest) -> Collection:
        with self._lock:
            if self.exists(manifest.name):
                raise CollectionExists(f"collection {manifest.name!r} already exists")
            self.root.mkdir(parents=True, exist_ok=True)
            path = self.path(manifest.name)
            if path.exists():  # a leftover from a create that crashed before its manifest was written
                shutil.rmtree(path)
            collection = Collection.create(path, manifest, self.lock_timeout)
            self._open[manifest.name] = collection
            return collection

    def open(self, name: str, embedder: str | None = None, dimension: int | None = None) -> Collection:
        with self._lock:
            collection = self._open.get(name)
            if collection is None:
                if not self.exists(name):
                    raise self._not_found(name)
                collection = Collection.open(self.path(name), embedder, dimension, self.lock_timeout)
                self._open[name] = collection
            else:
                check_embedder(collection.manifest, embedder, dimension)
            return collection

    # backups -------------------------------------------------------------------------------------
    def snapshot(self, name: str, out: Path) -> SnapshotInfo:
        """A consistent copy of the collection in the new directory `out`, taken beside running writers."""
        if not self.exists(name):
            raise self._not_found(name)
        return snapshot_collection(self.path(name), Path(out))

    def restore(self, snapshot: Path, name: str | None = None) -> Collection:
        """The snapshot as a new collection (its own name, or `name`); its vector index rebuilt from SQLite."""
        name = validate_name(name or SnapshotInfo.read(Path(snapshot)).collection)
        with self._lock:
            if self.exists(name):
                raise CollectionExists(f"collection {name!r} already exists; restore under another name or delete it first")
            self.root.mkdir(parents=True, exist_ok=True)
            path = self.path(name)
            if path.exists():  # a leftover from a create that crashed before its manifest was written
                shutil.rmtree(path)
            restore_snapshot(Path(snapshot), path, name)
        collection = self.open(name)  # rebuilds vectors.faiss from the restored SQLite
        collection.save_index()
        return collection

    def swap_in(self, name: str, built: Path) -> None:
        """Replace collection `name` by the complete collection directory `built` (a reindex's copy, beside it).
        Two renames: a crash between them leaves the old copy as `.NAME.old`, and the new one complete."""
        with self._lock:
            path = self.path(name)
            collection = self._open.pop(name, None)
            if collection is not None:
                collection.close()
            old = path.with_name(f".{name}.old")
            if old.exists():
                shutil.rmtree(old)
            path.rename(old)
            Path(built).rename(path)
            shutil.rmtree(old, ignore_errors=True)

    def delete(self, name: str) -> None:
        with self._lock:
            if not self.exists(name):
                raise self._not_found(name)
            collection = self._open.pop(name, None)
            if collection is not None:
                collection.segments.close()
                collection.store.close()
            shutil.rmtree(self.path(name))

    def close(self) -> None:
        with self._lock:
            for name, collection in self._open.items():
                try:
                    collection.close()
                except Exception as exc:  # noqa: BLE001 - e.g. deleted by another process; close the rest
                    log.warning("collection %s: could not save its vector index on close: %s", name, exc)
            self._open.clear()
