"""What runs on the Ray workers: read -> chunk -> embed -> write, one Ray Data stage each.

Every stage passes Arrow tables of (kind, unit, payload) rows: `kind` says what the pickled payload is
("doc" a document on its way, "note" counts and warnings for the driver, "segment" a written segment,
"error" why a worker could not write one),
`unit` the read unit (a file) it came from, so the driver can order what it commits the way a local run would.
Nothing here opens the collection: workers read source files and write new segment files, and only the
driver commits. Models are loaded once per worker process and kept.
"""

from __future__ import annotations

import hashlib
import pickle
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from indexer.store import PreparedDocument

KINDS = ("doc", "note", "segment", "error")
_CACHE: dict = {}  # per worker process: loaded models and the job's stored-hash keys


@dataclass
class ReadUnit:
    """One file to read (the driver has already decided it changed and which id it gets)."""

    index: int
    path: str
    doc_id: str


@dataclass
class Note:
    """What a stage tells the driver besides documents: counts, warnings, and the ids each file produced."""

    unchanged: int = 0
    skipped: int = 0
    loaded: int = 0
    warnings: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    ids: dict[str, list[str]] = field(default_factory=dict)  # file path -> ids of the documents read from it


@dataclass
class InFlight:
    """A document between stages: chunks once chunked, vectors once embedded."""

    document: object  # indexer.documents.Document
    content_hash: str
    stored: bool  # an older version is in the collection: counted as updated
    chunks: list | None = None
    language: str | None = None
    vectors: np.ndarray | None = None


@dataclass
class WrittenSegment:
    info: object  # the SegmentInfo write_block returned, handed to the commit
    first_unit: int
    documents: list[tuple[str, bool, int]]  # (doc id, stored before, chunks)


# rows --------------------------------------------------------------------------------------------
def table(rows: list[tuple[str, int, object]]):
    import pyarrow as pa

    return pa.table({
        "kind": pa.array([r[0] for r in rows], pa.string()),
        "unit": pa.array([r[1] for r in rows], pa.int64()),
        "payload": pa.array([pickle.dumps(r[2], protocol=pickle.HIGHEST_PROTOCOL) for r in rows], pa.binary()),
    })  # fmt: skip


def rows(batch) -> list[tuple[str, int, object]]:
    kinds, units, payloads = (batch.column(n).to_pylist() for n in ("kind", "unit", "payload"))
    return [(k, u, pickle.loads(p)) for k, u, p in zip(kinds, units, payloads)]


# stored content hashes, as compact keys --------------------------------------------------------
def key(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "little")


def stored_keys(hashes: dict[str, str]) -> tuple[np.ndarray, np.ndarray]:
    """(sorted keys of doc ids, sorted keys of (doc id, content hash)): 16 bytes per stored document, shared by
    every worker through the object store instead of a dict of strings (about 200 bytes per document)."""
    ids = np.array([key(d) for d in hashes], dtype=np.uint64)
    pairs = np.array([key(f"{d}\0{h}") for d, h in hashes.items()], dtype=np.uint64)
    return np.sort(ids), np.sort(pairs)


def contains(keys: np.ndarray, k: int) -> bool:
    i = int(np.searchsorted(keys, np.uint64(k)))
    return i < len(keys) and int(keys[i]) == k


def _keys(ref) -> tuple[np.ndarray, np.ndarray]:
    import ray

    cached = _CACHE.get(("keys", ref.hex()))
    if cached is None:
        cached = _CACHE[("keys", ref.hex())] = ray.get(ref)
    return cached


def _embedder(spec: dict):
    from models import Embedder

    k = ("embedder", tuple(sorted((n, str(v)) for n, v in spec.items())))
    if k not in _CACHE:
        _CACHE[k] = Embedder(**spec).load()
    return _CACHE[k]


# stage 1: read ----------------------------------------------------------------------------------
def read_units(batch, *, keys_ref, max_document_chars, flush_every: int = 256):
    """Read each file of the batch into documents; yield tables of the changed ones (plus a note per file)."""
    from indexer.documents import validate_document
    from indexer.errors import InvalidDocument, InvalidDocumentId, LoadError
    from indexer.formats import load_file
    from indexer.formats.text import stream_jsonl

    ids_keys, pair_keys = _keys(keys_ref[0])
    for unit_row in rows(batch):
        unit: ReadUnit = unit_row[2]
        note, out, ids, loader_warnings = Note(), [], [], []
        path = Path(unit.path)
        try:
            if path.suffix.lower() == ".jsonl":  # streamed: a corpus of any size costs one line's memory
                line_limit = None if max_document_chars is None else 8 * max_document_chars + 65_536
                documents = (doc for doc, _ in stream_jsonl(path, loader_warnings, line_limit))
            else:
                loaded = load_file(path, unit.doc_id)
                loader_warnings += loaded.warnings
                documents = iter(loaded.documents)
            yielded = 0
            for doc in documents:
                yielded += 1
                try:
                    validate_document(doc)
                except (InvalidDocumentId, InvalidDocument) as exc:
                    note.skipped += 1
                    note.warnings.append(f"{path}: {exc}, skipped")
                    continue
                if max_document_chars is not None and len(doc.text) > max_document_chars:
                    note.skipped += 1
                    note.warnings.append(f"{path}: document {doc.doc_id!r} has {len(doc.text)} characters, over the limit of"
                                         f" {max_document_chars} (QUARRY_MAX_DOCUMENT_CHARS, or --max-document-chars); skipped")  # fmt: skip
                    continue
                note.loaded += 1
                ids.append(doc.doc_id)
                content_hash = doc.content_hash()
                if contains(pair_keys, key(f"{doc.doc_id}\0{content_hash}")):
                    note.unchanged += 1
                else:
                    out.append(("doc", unit.index, InFlight(doc, content_hash, contains(ids_keys, key(doc.doc_id)))))
                if len(out) >= flush_every:
                    yield table(out)
                    out = []
            if not yielded and path.suffix.lower() == ".jsonl":
                raise LoadError(f"{path}: no valid documents in this JSONL file")
        except LoadError as exc:
            note.skipped += 1
            note.failed[unit.path] = str(exc)
            note.warnings.append(str(exc))
        note.skipped += sum(1 for w in loader_warnings if w.endswith("skipped"))  # records, parts, attachments
        note.warnings = loader_warnings + note.warnings
        note.ids[unit.path] = ids
        yield table(out + [("note", unit.index, note)])


# stage 2: chunk ---------------------------------------------------------------------------------
def chunk_documents(batch, *, spec, chunk_size, chunk_overlap):
    """Chunk with the embedder's own tokenizer (loaded on CPU once per worker process); detect languages."""
    from indexer.chunker import Chunker, ChunkerSettings
    from indexer.languages import detect_language

    items = rows(batch)
    docs = [(u, p) for kind, u, p in items if kind == "doc"]
    out = [(kind, u, p) for kind, u, p in items if kind != "doc"]
    if docs:
        tokenizer = _embedder({**spec, "device": "cpu"}).tokenizer
        chunker = Chunker(tokenizer, ChunkerSettings(chunk_size, chunk_overlap))
        chunked = chunker.chunk_many([p.document for _, p in docs])
        for (unit, item), chunks in zip(docs, chunked):
            if not chunks:
                warning = f"document {item.document.doc_id!r} has no text to index, skipped"
                out.append(("note", unit, Note(skipped=1, warnings=[warning])))
                continue
            item.chunks, item.language = chunks, detect_language(item.document.text)
            out.append(("doc", unit, item))
    return table(out)


# stage 3: embed ---------------------------------------------------------------------------------
class EmbedStage:
    """An actor: the model loads once, then embeds every batch it is given (on its GPU when it has one)."""

    def __init__(self, spec: dict, document_prefix: str, threads: int):
        if spec.get("device") == "cpu":
            import torch

            torch.set_num_threads(max(1, threads))
        self.embedder = _embedder(spec)
        self.prefix = document_prefix

    def __call__(self, batch):
        items = rows(batch)
        docs = [p for kind, _, p in items if kind == "doc"]
        texts = [self.prefix + c.embedding_text(p.document.title) for p in docs for c in p.chunks]
        vectors = self.embedder.encode(texts)
        offset = 0
        for p in docs:
            p.vectors = vectors[offset : offset + len(p.chunks)]
            offset += len(p.chunks)
        return table(items)


# stage 4: write ---------------------------------------------------------------------------------
def block_name(job: str, first_unit: int, docs: list[InFlight]) -> str:
    """Deterministic for a job and a block's content: a retried task writes the same name again, never a second copy."""
    digest = hashlib.sha256("\n".join(sorted(f"{p.document.doc_id}\0{p.content_hash}" for p in docs)).encode()).hexdigest()
    return f"ray-{job}-{first_unit:07d}-{digest[:16]}"


def write_block(collection_dir: str, name: str, prepared: list[PreparedDocument]):
    """THE write step: one block of prepared documents becomes one segment file set in the collection's
    directory, from any process that sees it, without the collection's lock. Idempotent per name."""
    from indexer.segments import write_segment

    return write_segment(collection_dir, name, prepared)


def write_blocks(batch, *, collection_dir, job, write=write_block):
    items = rows(batch)
    docs = [(u, p) for kind, u, p in items if kind == "doc"]
    out = [(kind, u, p) for kind, u, p in items if kind != "doc"]
    if docs:
        first = min(u for u, _ in docs)
        latest = {p.document.doc_id: p for _, p in docs}  # a repeated id: the last copy, as a local run keeps
        prepared = [PreparedDocument(p.document, p.content_hash, p.chunks, p.vectors, p.language) for p in latest.values()]
        try:
            info = write(collection_dir, block_name(job, first, list(latest.values())), prepared)
        except OSError as exc:  # the driver stops on it with this one line (Ray would only pass a traceback's text)
            out.append(("error", first, f"a Ray worker cannot write segments into {collection_dir} ({exc.strerror or exc}: "
                                        f"{exc.filename or collection_dir}); every node must see the collection's directory at"
                                        " the same path, writable (docs/performance.md, the shared filesystem)"))  # fmt: skip
            return table(out)
        summary = [(p.document.doc_id, p.stored, len(p.chunks)) for p in latest.values()]
        out.append(("segment", first, WrittenSegment(info, first, summary)))
    return table(out)
