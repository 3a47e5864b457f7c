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
    # Retrieval quality
    fusion: Literal["convex", "rrf"] = Field("convex", description="hybrid fusion: min-max score blend or RRF")
    fusion_dense_weight: float = Field(0.7, ge=0.0, le=1.0, description="dense share of the hybrid score")
    fusion_lexical_depth: int = Field(50, ge=0, le=1000, description="BM25 hits fused into hybrid results (0 = all)")
    rerank_weight: float = Field(1.0, ge=0.0, le=1.0, description="reranker share of the final score (1 = reranker alone)")

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
