"""BEIR-format evaluation data: corpus.jsonl, queries.jsonl and qrels/<split>.tsv.

Bad input is reported, never fatal unless nothing usable is left: malformed JSONL lines by line
number, judgments naming unknown documents or queries counted, unjudged queries skipped and counted.
Judgments of unknown documents stay in the qrels (trec_eval and BEIR count them in the ideal ranking),
so the report says how much of the score they make unreachable.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from indexer.documents import Document
from indexer.errors import LoadError, QuarryError
from indexer.loaders import decode_text, json_lines, load_jsonl

Qrels = dict[str, dict[str, int]]  # query id -> {doc id: grade}


class DatasetError(QuarryError):
    """A dataset folder that cannot be evaluated at all (missing files, nothing valid)."""


@dataclass
class BeirDataset:
    root: Path
    split: str
    corpus: list[Document]
    queries: dict[str, str]  # only queries with at least one relevant judgment
    qrels: Qrels
    fingerprint: str  # of corpus.jsonl: an index built from the same bytes can be reused
    warnings: list[str] = field(default_factory=list)
    skipped_queries: int = 0  # queries without any relevant judgment
    unknown_document_judgments: int = 0
    unknown_query_judgments: int = 0

    @property
    def name(self) -> str:
        return self.root.name

    def summary(self) -> str:
        return (
            f"{self.name} ({self.split}): {len(self.corpus)} documents, {len(self.queries)} judged queries "
            f"({self.skipped_queries} queries without judgments skipped); "
            f"{self.unknown_document_judgments} judgments name unknown documents, "
            f"{self.unknown_query_judgments} name unknown queries"
        )


def fingerprint_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def qrels_path(root: Path, split: str) -> Path:
    return root / "qrels" / f"{split}.tsv"


def check_layout(root: Path, split: str) -> None:
    """Fail before any work with every missing piece named at once."""
    if not root.is_dir():
        raise DatasetError(f"dataset folder not found: {root}")
    needed = [root / "corpus.jsonl", root / "queries.jsonl", qrels_path(root, split)]
    missing = [str(p.relative_to(root)) for p in needed if not p.is_file()]
    if missing:
        have = sorted(p.name for p in (root / "qrels").glob("*.tsv")) if (root / "qrels").is_dir() else []
        hint = f" (qrels splits present: {', '.join(have)})" if have else ""
        raise DatasetError(
            f"{root}: missing {', '.join(missing)}{hint}; a BEIR dataset folder holds corpus.jsonl, "
            "queries.jsonl and qrels/<split>.tsv"
        )


def load_queries(path: Path) -> tuple[dict[str, str], list[str]]:
    """queries.jsonl lines {"_id", "text"}; bad lines are reported by number and skipped."""
    raw, warnings = decode_text(path.read_bytes(), str(path))
    queries: dict[str, str] = {}
    for number, record in json_lines(raw, path, warnings):
        qid = record.get("_id", record.get("id")) if isinstance(record, dict) else None
        text = record.get("text") if isinstance(record, dict) else None
        if qid is None or not isinstance(text, str) or not text.strip():
            warnings.append(f'{path}:{number}: needs "_id" and a non-empty string "text", line skipped')
            continue
        queries[str(qid)] = text
    return queries, warnings


def load_qrels(path: Path) -> tuple[Qrels, list[str]]:
    """TSV rows `query-id corpus-id score` (BEIR, header line optional) or `qid 0 docid rel` (TREC)."""
    raw, warnings = decode_text(path.read_bytes(), str(path))
    qrels: Qrels = {}
    for number, line in enumerate(raw.split("\n"), start=1):
        if not line.strip():
            continue
        fields = line.split("\t") if "\t" in line else line.split()
        if len(fields) == 4:  # TREC: qid iteration docid relevance
            fields = [fields[0], fields[2], fields[3]]
        try:
            if len(fields) != 3:
                raise ValueError
            grade = int(float(fields[2]))
        except ValueError:
            if number == 1 and len(fields) == 3:
                continue  # the "query-id corpus-id score" header
            warnings.append(f"{path}:{number}: expected 'query-id<TAB>corpus-id<TAB>score', line skipped")
            continue
        qrels.setdefault(fields[0].strip(), {})[fields[1].strip()] = grade
    return qrels, warnings


def load_beir(root: str | Path, split: str = "test") -> BeirDataset:
    root = Path(root).expanduser()
    check_layout(root, split)
    try:
        loaded = load_jsonl(root / "corpus.jsonl")
    except LoadError as exc:
        raise DatasetError(str(exc)) from exc
    warnings = list(loaded.warnings)
    queries, query_warnings = load_queries(root / "queries.jsonl")
    qrels, qrel_warnings = load_qrels(qrels_path(root, split))
    warnings += query_warnings + qrel_warnings

    doc_ids = {doc.doc_id for doc in loaded.documents}
    unknown_docs = sum(1 for judged in qrels.values() for d in judged if d not in doc_ids)
    unknown_queries = sum(len(judged) for q, judged in qrels.items() if q not in queries)
    if unknown_docs:
        warnings.append(f"{unknown_docs} judgments name documents not in corpus.jsonl; they count as unretrievable")
    if unknown_queries:
        warnings.append(f"{unknown_queries} judgments name queries not in queries.jsonl; ignored")
    judged = {q: judged for q, judged in qrels.items() if q in queries and any(g > 0 for g in judged.values())}
    skipped = len(queries) - len(judged)
    if skipped:
        warnings.append(f"{skipped} queries have no relevant judgment in qrels/{split}.tsv; skipped")
    if not judged:
        raise DatasetError(f"{root}: no query in queries.jsonl has a relevant judgment in qrels/{split}.tsv")
    return BeirDataset(
        root=root,
        split=split,
        corpus=loaded.documents,
        queries={q: queries[q] for q in judged},
        qrels=judged,
        fingerprint=fingerprint_file(root / "corpus.jsonl"),
        warnings=warnings,
        skipped_queries=skipped,
        unknown_document_judgments=unknown_docs,
        unknown_query_judgments=unknown_queries,
    )
