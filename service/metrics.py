"""Prometheus metrics for one app: a private CollectorRegistry, so several apps in one process never collide.

Counters and histograms are updated as requests and searches happen; sizes (documents and chunks per
collection), job progress and model load state are read when Prometheus scrapes, so they are never stale.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

# seconds; searches on CPU sit between a few ms and a few seconds
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
SEARCH_STAGES = ("embed", "retrieve", "rerank", "total")


class Metrics:
    """What the API records. `state` returns the app's ApiState (or None before start-up)."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self, state: Callable[[], Any] | None = None, jobs: Callable[[], Any] | None = None):
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "quarry_http_requests", "HTTP requests answered, by route template and status",
            ["method", "route", "status"], registry=self.registry,
        )  # fmt: skip
        self.latency = Histogram(
            "quarry_http_request_duration_seconds", "HTTP request latency, by route template and status",
            ["method", "route", "status"], buckets=LATENCY_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.search_stage = Histogram(
            "quarry_search_stage_duration_seconds", "time spent in each search stage (embed, retrieve, rerank, total)",
            ["stage"], buckets=LATENCY_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.registry.register(_ScrapeTimeCollector(state or (lambda: None), jobs or (lambda: None)))

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        labels = (method, route, str(status))
        self.requests.labels(*labels).inc()
        self.latency.labels(*labels).observe(seconds)

    def observe_search(self, timings_ms: dict[str, float]) -> None:
        """Stages a search did not run (e.g. rerank with no reranker) are not observed."""
        for stage in SEARCH_STAGES:
            if stage in timings_ms:
                self.search_stage.labels(stage).observe(timings_ms[stage] / 1000)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _ScrapeTimeCollector(Collector):
    """Gauges computed at scrape time from the live state: index sizes, models, jobs."""

    def __init__(self, state: Callable[[], Any], jobs: Callable[[], Any]):
        self._state = state
        self._jobs = jobs

    def describe(self) -> Iterable:
        return []  # values depend on live state; nothing to check at registration

    def collect(self) -> Iterable[GaugeMetricFamily]:
        state = self._state()
        if state is not None:
            yield from self._collections(state)
            yield from self._models(state)
        jobs = self._jobs()
        if jobs is not None:
            yield from self._job_metrics(jobs)

    def _collections(self, state) -> Iterable[GaugeMetricFamily]:
        documents = GaugeMetricFamily("quarry_collection_documents", "documents stored per collection", labels=["collection"])
        chunks = GaugeMetricFamily("quarry_collection_chunks", "chunks stored per collection", labels=["collection"])
        for name in state.runtime.catalog.names():
            try:
                counts = state.collection(name).counts()
            except Exception as exc:  # noqa: BLE001 - one broken collection must not break the scrape
                log.warning("metrics: collection %s not counted: %s", name, exc)
                continue
            documents.add_metric([name], counts["documents"])
            chunks.add_metric([name], counts["chunks"])
        yield documents
        yield chunks

    def _models(self, state) -> Iterable[GaugeMetricFamily]:
        loaded = GaugeMetricFamily(
            "quarry_model_loaded", "1 when the model is loaded and serving, 0 when not (see /health for why)",
            labels=["role", "name", "device"],
        )  # fmt: skip
        # the state exists only once the embedder loaded (start-up fails otherwise); the reranker may degrade
        loaded.add_metric(["embedder", state.settings.embedder, state.runtime.embedder.choice.device], 1.0)
        reranker = state.runtime.reranker_status
        device = state.reranker.choice.device if state.reranker is not None else ""
        loaded.add_metric(["reranker", reranker.name, device], 1.0 if reranker.loaded else 0.0)
        yield loaded

    def _job_metrics(self, jobs) -> Iterable[GaugeMetricFamily]:
        by_state = GaugeMetricFamily("quarry_jobs", "indexing jobs known, by state", labels=["state"])
        done = GaugeMetricFamily(
            "quarry_job_documents_done", "documents processed by each unfinished indexing job", labels=["job_id", "collection"]
        )
        total = GaugeMetricFamily(
            "quarry_job_documents_total", "documents found by each unfinished indexing job", labels=["job_id", "collection"]
        )
        counts: dict[str, int] = {}
        for job in jobs.list_jobs():
            counts[job.state] = counts.get(job.state, 0) + 1
            if job.state in ("queued", "running"):  # finished jobs would only grow the label set
                done.add_metric([job.id, job.collection], job.documents_done)
                total.add_metric([job.id, job.collection], job.documents_total)
        for name in ("queued", "running", "succeeded", "failed", "cancelled"):
            by_state.add_metric([name], counts.get(name, 0))
        yield by_state
        yield done
        yield total
