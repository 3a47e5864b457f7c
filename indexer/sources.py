"""Which files to index and the document id each one gets.

A file's id should not depend on which folder the user named: indexing docs/ and later docs/git/howto
must find the same documents. An id is the path of the file below an anchor folder, prefixed with the
anchor's name ("handbook/howto/setup.md"). The anchor is the nearest folder above the file that marks a
project root (it holds .git, .hg, .svn or a .quarry-root file); outside any project, it is the folder
named on the command line (for a named file, the folder holding it). On top of that, the indexing job
remembers every file's id by its real path, so a file keeps the id it was first given whichever folder
is named later, and files new to a folder already indexed get ids below the same anchor (see
indexer.pipeline). Collections built with older ids keep them: their documents are found by path.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from indexer.formats import is_supported

ROOT_MARKERS = (".git", ".hg", ".svn", ".quarry-root")


@dataclass(frozen=True)
class SourceFile:
    path: Path
    doc_id: str
    explicit: bool  # named on the command line rather than found in a folder

    @property
    def supported(self) -> bool:
        return is_supported(self.path)


@lru_cache(maxsize=4096)
def project_root(directory: Path) -> Path | None:
    """The nearest folder at or above this one holding a root marker, or None."""
    for folder in (directory, *directory.parents):
        if any(os.path.lexists(folder / marker) for marker in ROOT_MARKERS):
            return folder
    return None


def id_below(anchor: Path, path: Path) -> str:
    return f"{anchor.name}/{path.relative_to(anchor).as_posix()}" if anchor.name else path.as_posix().lstrip("/")


def stable_id(path: Path, named: Path | None = None) -> str:
    """The id a resolved file path gets the first time it is indexed (see the module docstring)."""
    anchor = project_root(path.parent) or named or path.parent
    return id_below(anchor, path)


def discover(paths: list[str | Path]) -> Iterator[SourceFile]:
    """Files to index: each named file, and every file under each named folder (sorted), hidden ones excepted.

    Unsupported types are yielded too, so the caller can say what it ignored.
    """
    for raw in paths:
        root = Path(raw).expanduser()
        if not root.exists():
            raise FileNotFoundError(f"path not found: {raw}")
        if root.is_file():
            resolved = root.resolve()
            yield SourceFile(resolved, stable_id(resolved), True)
            continue
        named = root.resolve()
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            relative = path.relative_to(root)
            if any(part.startswith(".") for part in relative.parts):
                continue  # hidden files and folders (.git, .DS_Store) are never documents
            resolved = path.resolve()
            yield SourceFile(resolved, stable_id(resolved, named if resolved.is_relative_to(named) else None), False)


def documents_for(collection, target: str) -> list[str]:
    """The documents a `quarry delete` target names: a document id (with the documents it holds, such as a
    mailbox's messages: id#1, id#2), else a file or folder path, matched by the real path it was indexed from."""
    ids = list(collection.content_hashes([target])) + collection.ids_with_prefix(target + "#")
    if ids:
        return ids
    path = str(Path(target).expanduser().resolve())
    return collection.ids_from_source(path) + list(collection.documents_under(path + os.sep))


def delete_targets(collection, targets: list[str], dry_run: bool = False) -> tuple[list[str], list[str]]:
    """Delete the documents each target names (see documents_for) and forget their files.

    Returns (deleted ids, targets that named nothing)."""
    found: dict[str, None] = {}
    missing = []
    for target in targets:
        ids = documents_for(collection, target)
        if not ids:
            missing.append(target)
        found.update(dict.fromkeys(ids))
    if found and not dry_run:
        with collection.writing("quarry delete"):
            sources = {d: collection.get_document(d) for d in found}
            collection.delete(list(found))
            collection.store.forget_files(sorted({doc.source for doc in sources.values() if doc is not None and doc.source}))
            collection.save_index()
    return list(found), missing
