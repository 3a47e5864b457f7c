"""A typed client for a running quarry server (`quarry serve`), built on httpx.

    from quarry.client import Quarry

    with Quarry("http://127.0.0.1:8000", key="...") as q:
        q.create_collection("notes")
        q.upsert("notes", [{"doc_id": "a", "text": "To fix a flat tire, patch the tube."}])
        for hit in q.search("notes", "flat tire").hits:
            print(hit.score, hit.doc_id, hit.text)

It needs only httpx: no model, torch or server code is imported, so a script that searches starts fast.
Errors come back as `QuarryAPIError` with the server's status, error type and message (which says what to fix).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Literal, TypeVar
from urllib.parse import quote

import httpx

Mode = Literal["hybrid", "dense", "lexical"]
JobState = Literal["queued", "running", "succeeded", "failed", "cancelled"]
FINISHED: tuple[JobState, ...] = ("succeeded", "failed", "cancelled")

T = TypeVar("T")


def _build(cls: type[T], data: Mapping[str, Any]) -> T:
    """A dataclass from a JSON object, ignoring fields a newer server may add."""
    names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    return cls(**{k: v for k, v in data.items() if k in names})


@dataclass
class Hit:
    doc_id: str
    chunk_id: int
    score: float
    text: str
    title: str = ""
    source: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    start: int = 0
    end: int = 0
    heading_path: list[str] = field(default_factory=list)


@dataclass
class SearchResult:
    query: str
    mode: str
    reranked: bool
    hits: list[Hit]
    rerank_note: str = ""
    timings_ms: dict[str, float] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SearchResult:
        result = _build(cls, {**data, "hits": []})
        result.hits = [_build(Hit, hit) for hit in data.get("hits", [])]
        return result


@dataclass
class Document:
    doc_id: str
    text: str
    title: str = ""
    source: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    format: Literal["text", "markdown"] = "text"


@dataclass
class Collection:
    name: str
    embedder: str
    dimension: int
    documents: int
    chunks: int
    chunk_size: int = 0
    chunk_overlap: int = 0
    index_type: str = ""
    created_at: float = 0.0


@dataclass
class Job:
    id: str
    collection: str
    path: str
    state: JobState
    message: str = ""
    runs: int = 0
    cancel_requested: bool = False
    created_at: float = 0.0
    started_at: float | None = None
    finished_at: float | None = None
    progress: dict[str, Any] = field(default_factory=dict)  # documents_done, documents_total, chunks, eta_s, ...
    errors: list[dict[str, str]] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        return self.state in FINISHED


class QuarryAPIError(Exception):
    """The server said no: `status` (HTTP), `type` (e.g. collection_not_found) and its message."""

    def __init__(self, status: int, type: str, message: str):
        super().__init__(f"{status} {type}: {message}")
        self.status, self.type, self.message = status, type, message


def _path(*parts: str) -> str:
    return "/".join(quote(part, safe="") for part in parts)


def _doc_path(doc_id: str) -> str:
    return "/".join(quote(part, safe="") for part in doc_id.split("/"))  # ids from files keep their slashes


class Quarry:
    """One connection pool to one server. `key` is sent as a Bearer token; `transport` is httpx's (for tests)."""

    def __init__(
        self,
        url: str = "http://127.0.0.1:8000",
        key: str | None = None,
        *,
        timeout: float = 60.0,
        transport: httpx.BaseTransport | None = None,
    ):
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._http = httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=timeout, transport=transport)

    def __enter__(self) -> Quarry:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, **kwargs) -> Any:
        response = self._http.request(method, path, **kwargs)
        if response.status_code >= 400:
            try:
                error = response.json().get("error") or {}
            except ValueError:
                error = {}
            raise QuarryAPIError(response.status_code, error.get("type", "http_error"), error.get("message", response.text[:300]))
        return response.json() if response.content else None

    # server --------------------------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        return self._call("GET", "/health")

    # collections ---------------------------------------------------------------------------------
    def collections(self) -> list[Collection]:
        return [_build(Collection, c) for c in self._call("GET", "/v1/collections")["collections"]]

    def create_collection(self, name: str, chunk_size: int | None = None, chunk_overlap: int | None = None) -> Collection:
        body = {k: v for k, v in (("name", name), ("chunk_size", chunk_size), ("chunk_overlap", chunk_overlap)) if v is not None}
        return _build(Collection, self._call("POST", "/v1/collections", json=body))

    def delete_collection(self, name: str) -> None:
        self._call("DELETE", f"/v1/collections/{_path(name)}")

    # documents -----------------------------------------------------------------------------------
    def upsert(self, collection: str, documents: Iterable[Document | Mapping[str, Any]]) -> dict[str, Any]:
        """Add or replace documents in one transaction; they are searchable when this returns.
        Returns the server's report: added, updated, unchanged, chunks, documents[], warnings[]."""
        batch = [vars(d) if isinstance(d, Document) else dict(d) for d in documents]
        return self._call("POST", f"/v1/collections/{_path(collection)}/documents", json={"documents": batch})

    def get(self, collection: str, doc_id: str) -> dict[str, Any]:
        return self._call("GET", f"/v1/collections/{_path(collection)}/documents/{_doc_path(doc_id)}")

    def delete(self, collection: str, doc_id: str) -> None:
        self._call("DELETE", f"/v1/collections/{_path(collection)}/documents/{_doc_path(doc_id)}")

    # search --------------------------------------------------------------------------------------
    @staticmethod
    def _options(top_k, mode, rerank, candidates, filter, min_score, group_by_document) -> dict[str, Any]:
        options = {"top_k": top_k, "mode": mode, "rerank": rerank, "candidates": candidates, "filter": filter,
                   "min_score": min_score, "group_by_document": group_by_document}  # fmt: skip
        return {k: v for k, v in options.items() if v is not None}

    def search(
        self,
        collection: str,
        query: str,
        *,
        top_k: int | None = None,
        mode: Mode | None = None,
        rerank: bool | None = None,
        candidates: int | None = None,
        filter: Mapping[str, Any] | None = None,
        min_score: float | None = None,
        group_by_document: bool | None = None,
    ) -> SearchResult:
        """Options left as None take the server's defaults."""
        body = {"query": query, **self._options(top_k, mode, rerank, candidates, filter, min_score, group_by_document)}
        return SearchResult.from_json(self._call("POST", f"/v1/collections/{_path(collection)}/search", json=body))

    def search_batch(
        self,
        collection: str,
        queries: list[str],
        *,
        top_k: int | None = None,
        mode: Mode | None = None,
        rerank: bool | None = None,
        candidates: int | None = None,
        filter: Mapping[str, Any] | None = None,
        min_score: float | None = None,
        group_by_document: bool | None = None,
    ) -> list[SearchResult]:
        """Many queries with the same options in one request (embedded in one forward pass)."""
        body = {"queries": queries, **self._options(top_k, mode, rerank, candidates, filter, min_score, group_by_document)}
        data = self._call("POST", f"/v1/collections/{_path(collection)}/search/batch", json=body)
        return [SearchResult.from_json(result) for result in data["results"]]

    # batch indexing jobs -------------------------------------------------------------------------
    def start_job(self, collection: str, path: str) -> Job:
        """Index a folder on the server (under one of its QUARRY_JOB_ROOTS) in the background."""
        return _build(Job, self._call("POST", f"/v1/collections/{_path(collection)}/jobs", json={"path": path}))

    def job(self, collection: str, job_id: str) -> Job:
        return _build(Job, self._call("GET", f"/v1/collections/{_path(collection)}/jobs/{_path(job_id)}"))

    def jobs(self, collection: str) -> list[Job]:
        return [_build(Job, j) for j in self._call("GET", f"/v1/collections/{_path(collection)}/jobs")["jobs"]]

    def cancel_job(self, collection: str, job_id: str) -> Job:
        return _build(Job, self._call("POST", f"/v1/collections/{_path(collection)}/jobs/{_path(job_id)}/cancel"))

    def wait_job(
        self,
        collection: str,
        job_id: str,
        progress: Callable[[Job], None] | None = None,
        *,
        poll_s: float = 0.5,
        timeout_s: float | None = None,
    ) -> Job:
        """Poll until the job finishes; `progress(job)` is called after every poll. TimeoutError past timeout_s."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            job = self.job(collection, job_id)
            if progress is not None:
                progress(job)
            if job.finished:
                return job
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} still {job.state} after {timeout_s} s")
            time.sleep(poll_s)

    def index(
        self, collection: str, path: str, progress: Callable[[Job], None] | None = None, *, timeout_s: float | None = None
    ) -> Job:
        """start_job + wait_job: index a server folder and return the finished job."""
        return self.wait_job(collection, self.start_job(collection, path).id, progress, timeout_s=timeout_s)
