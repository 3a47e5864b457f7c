"""What a process needs to serve searches: settings, the catalog, and the shared models.

Constructed cheaply; models load on first use (the CLI) or at start-up (the API's lifespan).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from indexer.catalog import Catalog, validate_name
from indexer.collection import Collection
from indexer.formats.ocr import configure_ocr
from indexer.layout import Manifest
from indexer.pipeline import FileLimits, Indexer
from indexer.vectors.base import set_faiss_threads
from indexer.writers import default_writers
from models import Embedder, ModelLoadError, Reranker, available_offline
from models.prefixes import known_prefixes
from service.search.fusion import FusionConfig
from service.search.options import SearchDefaults, SearchLimits
from service.search.searcher import Searcher
from service.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class RerankerStatus:
    name: str
    loaded: bool
    reason: str = ""
    # the operator named this reranker (QUARRY_RERANKER): failing to load it is a fault ("degraded"); the
    # default missing on an offline machine is the normal state of a fresh install, not a fault
    required: bool = False

    @property
    def note(self) -> str:
        """One line for people (start-up, /health, the page): empty when the reranker works or was turned off."""
        if self.loaded or not self.reason or self.reason.startswith("disabled"):
            return ""
        return self.reason if self.required else f"not reranked: {self.reason}"


def default_reranker_missing(name: str) -> str:
    return (
        f"the default cross-encoder {name} is not installed and downloads are off; set QUARRY_RERANKER to a"
        " local CrossEncoder directory (or QUARRY_ALLOW_DOWNLOADS=true) to rerank"
    )


class Runtime:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.fusion = FusionConfig(  # passed to every search this runtime serves
            settings.fusion, settings.fusion_dense_weight, lexical_depth=settings.fusion_lexical_depth,
            rerank_weight=settings.rerank_weight, embedder_languages=settings.embedder_languages,
        )  # fmt: skip
        self.catalog = Catalog(settings.data_dir, lock_timeout=settings.write_lock_timeout)
        set_faiss_threads(settings.faiss_threads)
        problem = configure_ocr(settings.ocr, settings.ocr_languages)
        if problem:
            log.warning("QUARRY_OCR=%s, but %s; images and scanned PDF pages are not read", settings.ocr, problem)
        self.embedder = Embedder(
            settings.embedder, settings.device, settings.dtype, settings.batch_size, settings.allow_downloads,
            backend=settings.backend, cache_dir=settings.onnx_cache,
        )
        self._reranker: Reranker | None = None
        self._reranker_status: RerankerStatus | None = None

    # models --------------------------------------------------------------------------------------
    def load_models(self, reranker: bool = True) -> None:
        self.embedder.load()
        if reranker:
            self.reranker()

    def reranker(self) -> Reranker | None:
        """The configured cross-encoder, or None (once, with a reason) when there is none to load."""
        if self._reranker_status is None:
            self._reranker_status = self._load_reranker()
        return self._reranker

    def _load_reranker(self) -> RerankerStatus:
        settings = self.settings
        name = settings.reranker
        if not settings.reranker_enabled:
            return RerankerStatus(name, False, "disabled by QUARRY_RERANKER=none")
        required = "reranker" in settings.model_fields_set  # named by the operator, not the built-in default
        if not required and not settings.allow_downloads and not available_offline(name):
            status = RerankerStatus(name, False, default_reranker_missing(name))
            log.info("reranker: %s", status.note)  # no model is built just to find that out
            return status
        candidate = Reranker(
            name, settings.device, settings.dtype, settings.batch_size, settings.allow_downloads,
            backend=settings.reranker_backend, cache_dir=settings.onnx_cache,
        )  # fmt: skip
        try:
            self._reranker = candidate.load()
        except ModelLoadError as exc:
            status = RerankerStatus(name, False, str(exc), required)
            (log.warning if required else log.info)("reranker unavailable, results will not be reranked: %s", exc)
            return status
        return RerankerStatus(name, True, required=required)

    @property
    def reranker_status(self) -> RerankerStatus:
        self.reranker()
        assert self._reranker_status is not None
        return self._reranker_status

    # collections ---------------------------------------------------------------------------------
    def open_collection(self, name: str) -> Collection:
        # names are compared, not dimensions: a mismatch must not cost loading the configured model
        return self.catalog.open(validate_name(name), self.settings.embedder)

    def create_collection(self, name: str, chunk_size: int | None = None, chunk_overlap: int | None = None) -> Collection:
        """A new collection with the configured embedder, chunker and index settings (the CLI's and the API's)."""
        validate_name(name)
        query_prefix, document_prefix = self.prefixes()
        manifest = Manifest(
            name=name,
            embedder=self.settings.embedder,
            dimension=self.embedder.dimension,
            chunk_size=chunk_size or self.settings.chunk_size,
            chunk_overlap=self.settings.chunk_overlap if chunk_overlap is None else chunk_overlap,
            index_type=self.settings.index_type,
            ann_threshold=self.settings.ann_threshold,
            ann_type=self.settings.ann_type,
            ivfpq_threshold=self.settings.ivfpq_threshold,
            query_prefix=query_prefix,
            document_prefix=document_prefix,
        )
        manifest.chunker_settings.validate(self.embedder.max_seq_length)
        return self.catalog.create(manifest)

    def prefixes(self) -> tuple[str, str]:
        """(query, document) prefixes for new collections: the settings, else what the model's card asks for."""
        known = known_prefixes(self.settings.embedder)
        query, document = self.settings.query_prefix, self.settings.document_prefix
        return (known[0] if query is None else query), (known[1] if document is None else document)

    def ray_options(self, address: str | None = None):
        """How the ray engine starts or joins Ray (indexer.engines.ray_setup; Ray itself is imported only by a job)."""
        from indexer.engines.ray_setup import RayOptions

        s = self.settings
        return RayOptions(address=address or s.ray_address, node_ip=s.ray_node_ip, num_cpus=s.ray_cpus,
                          embed_actors=s.ray_embed_actors, stall_timeout_s=s.ray_stall_timeout)  # fmt: skip

    def open_or_create(self, name: str) -> Collection:
        if self.catalog.exists(name):
            return self.open_collection(name)
        return self.create_collection(name)

    # search --------------------------------------------------------------------------------------
    def searcher(self, *, rerank: bool = True, embedder=None, reranker=None) -> Searcher:
        """The Searcher every entrance uses: this runtime's fusion, defaults and limits.

        rerank=False leaves the reranker unloaded (`quarry search --no-rerank`); embedder/reranker replace this
        runtime's own models with wrappers of them (the API's guarded, micro-batched ones).
        """
        s = self.settings
        if rerank and reranker is None:
            reranker = self.reranker()
        return Searcher(
            embedder or self.embedder, reranker if rerank else None,
            reranker_note=self.reranker_status.reason if rerank else "",
            fusion=self.fusion,
            defaults=SearchDefaults(s.top_k, s.search_mode, s.candidates),
            limits=self.search_limits,
        )  # fmt: skip

    @property
    def search_limits(self) -> SearchLimits:
        s = self.settings
        return SearchLimits(s.max_query_chars, s.max_top_k, s.max_candidates, s.max_batch_queries, s.max_rerank_candidates)

    @property
    def file_limits(self) -> FileLimits:
        return FileLimits(self.settings.max_file_bytes, self.settings.max_document_chars)

    @property
    def index_writers(self) -> int:
        return self.settings.index_writers or default_writers()

    def indexer(self, collection: Collection, writers: int | None = None) -> Indexer:
        return Indexer(collection, self.embedder, limits=self.file_limits, writers=writers or self.index_writers)

    def close(self) -> None:
        self.catalog.close()
