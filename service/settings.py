"""All configuration in one place: environment variables with the QUARRY_ prefix (or a .env file)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from models import DEFAULT_EMBEDDER, DEFAULT_RERANKER

SearchMode = Literal["hybrid", "dense", "lexical"]


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "quarry"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="QUARRY_", env_file=".env", extra="ignore")

    data_dir: Path = Field(default_factory=default_data_dir, description="where collections live")
    embedder: str = Field(DEFAULT_EMBEDDER, description="hub id or local sentence-transformers directory")
    reranker: str = Field(
        DEFAULT_RERANKER, description="hub id or local CrossEncoder directory; 'none' disables reranking"
    )
    allow_downloads: bool = Field(False, description="let models be fetched from the Hugging Face hub")
    device: str = Field("auto", description="auto, cpu, cuda or cuda:N")
    dtype: Literal["auto", "float32", "float16", "bfloat16"] = "auto"
    batch_size: int = Field(64, ge=1, le=4096, description="texts per embedder forward pass")
    chunk_size: int = Field(200, ge=8, le=8192, description="tokens per chunk for new collections")
    chunk_overlap: int = Field(32, ge=0, description="tokens shared by chunks cut inside a paragraph")
    search_mode: SearchMode = "hybrid"
    candidates: int = Field(50, ge=1, le=1000, description="hits per retriever before fusion and reranking")
    top_k: int = Field(10, ge=1, le=1000)
    # data safety
    write_lock_timeout: float = Field(
        30.0, ge=0, le=86400, description="seconds a second writer waits for a collection's write lock"
    )

    # API
    host: str = Field("127.0.0.1", description="address `quarry serve` listens on")
    port: int = Field(8000, ge=1, le=65535, description="port `quarry serve` listens on")
    max_body_bytes: int = Field(10_000_000, ge=1024, description="largest request body the API accepts (413 above)")
    max_document_chars: int = Field(2_000_000, ge=1, description="largest document text the API accepts (413 above)")
    max_batch_documents: int = Field(256, ge=1, description="documents per batch upsert request (413 above)")
    max_batch_queries: int = Field(64, ge=1, description="queries per batch search request (413 above)")
    query_batching: Literal["auto", "on", "off"] = Field(
        "auto", description="batch concurrent query embeddings into one model call; auto: on for CUDA only"
    )
    query_batch_wait_ms: float = Field(2.0, ge=0, le=100, description="how long a query waits for others to share its batch")
    query_batch_size: int = Field(64, ge=1, le=4096, description="most queries embedded in one batched call")

    # Operations
    log_format: Literal["json", "text"] = Field("json", description="server logs: one JSON object per line, or text")
    log_level: Literal["debug", "info", "warning", "error", "critical"] = "info"
    job_roots: str = Field(
        "", description="comma-separated server folders that batch indexing jobs may read; empty disables jobs"
    )
    job_batch_documents: int = Field(64, ge=1, le=4096, description="documents per transaction in batch jobs")
    # chat frontends: RAG context and MCP (issue 7)
    context_score_threshold: float = Field(
        0.3, ge=0.0, le=1.0, description="least relevance (0..1) a passage needs to enter a RAG context block"
    )
    mcp_enabled: bool = Field(True, description="serve the MCP endpoint at /mcp (streamable HTTP)")

    @field_validator("device")
    @classmethod
    def _device(cls, value: str) -> str:
        base = value.lower().split(":", 1)[0]
        if base not in ("auto", "cpu", "cuda"):
            raise ValueError("must be auto, cpu, cuda or cuda:N")
        return value.lower()

    @model_validator(mode="after")
    def _overlap(self) -> "Settings":
        if self.chunk_overlap >= self.chunk_size // 2:
            raise ValueError(f"chunk_overlap ({self.chunk_overlap}) must be less than half of chunk_size ({self.chunk_size})")
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
        problems = "; ".join(
            f"QUARRY_{'_'.join(str(p) for p in err['loc']).upper() or 'SETTINGS'}: {err['msg']}" for err in exc.errors()
        )
        raise SettingsError(f"invalid settings: {problems}") from None


class SettingsError(ValueError):
    pass
