"""Re-embed a collection's stored documents with another embedder: what a new (or fine-tuned) embedder needs.

Every document's text, title, source and metadata is in SQLite, so no source file is read again. The new copy is
built beside the collection under a hidden name and swapped in at the end: until then searches see the old
collection, and a crash leaves it as it was (the next reindex removes the half-built copy).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

from indexer.catalog import Catalog
from indexer.collection import Collection
from indexer.documents import Document
from indexer.layout import Manifest
from indexer.pipeline import Indexer
from indexer.store import StoredDocument

PAGE = 256  # documents read, embedded and committed together


def as_document(stored: StoredDocument) -> Document:
    """The document as it was indexed. The chunking format is not stored, but the content hash covers it: the
    format whose hash matches is the one it was chunked with (plain text when neither does)."""
    for fmt in ("markdown", "text"):
        doc = Document(stored.doc_id, stored.text, stored.title, stored.source, dict(stored.metadata), fmt)
        if doc.content_hash() == stored.content_hash:
            return doc
    return doc


def stored_documents(collection: Collection, page: int = PAGE, only: set[str] | None = None) -> Iterator[list[Document]]:
    offset = 0
    while stored := collection.list_documents(limit=page, offset=offset):
        offset += len(stored)
        if documents := [as_document(d) for d in stored if only is None or d.doc_id in only]:
            yield documents


def copy_documents(
    source: Collection, indexer: Indexer, on_progress: Callable[[int], None] | None = None, only: set[str] | None = None
) -> int:
    """Every document of `source` (or those with ids in `only`) through `indexer` (its collection, its embedder).
    A whole copy takes the file records along, so the next `quarry index` of the same folders finds them
    unchanged. Returns the documents copied."""
    copied = 0
    for documents in stored_documents(source, only=only):
        indexer.upsert(documents)
        copied += len(documents)
        if on_progress is not None:
            on_progress(len(documents))
    if only is None:
        indexer.collection.store.record_files(list(source.store.file_records().values()))
    indexer.collection.save_index()
    return copied


def reindex(
    catalog: Catalog,
    name: str,
    manifest: Manifest,
    make_indexer: Callable[[Collection], Indexer],
    on_progress: Callable[[int], None] | None = None,
) -> Collection:
    """Rebuild collection `name` under `manifest` (the new embedder and dimension) and swap it in.

    Holds the collection's write lock throughout, so no indexing job writes to the old copy meanwhile."""
    source = catalog.open(name)  # no embedder check: the old embedder is what is being replaced
    staging = catalog.root / f".{name}.reindex"
    if staging.exists():  # left by a reindex that crashed
        shutil.rmtree(staging)
    with source.writing("reindex"):
        target = Collection.create(staging, replace(manifest, name=name, languages={}, created_at=0.0))
        try:
            copy_documents(source, make_indexer(target), on_progress)
        except BaseException:
            target.store.close()
            shutil.rmtree(staging, ignore_errors=True)
            raise
        target.close()
        catalog.swap_in(name, Path(staging))
    return catalog.open(name)
