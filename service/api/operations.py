"""Operations wiring in one call: request ids, access logs, the metrics registry and the batch job runner.

`install_operations(app, settings)` adds the middleware (the routes are in service.api.routes.ROUTERS)
and wraps the app's lifespan so the job runner starts after the models are loaded and stops (at a batch
boundary) before they are closed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from anyio import to_thread
from fastapi import FastAPI

from indexer.merge import BackgroundMerger
from service.api.observe import RequestObserver
from service.jobs.manager import JobManager
from service.metrics import Metrics
from service.settings import Settings


def install_operations(app: FastAPI, settings: Settings) -> None:
    metrics = Metrics(state=lambda: getattr(app.state, "quarry", None), jobs=lambda: getattr(app.state, "jobs", None))
    app.state.metrics = metrics
    app.add_middleware(RequestObserver, metrics=metrics)  # added last: outermost, so it sees every answer

    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[object]:
        async with inner(app) as value:
            state = app.state.quarry
            state.searcher.observers.append(metrics.observe_search)  # every search entrance, one observer
            jobs = JobManager(
                settings.data_dir, settings.job_root_paths, state.collection, state.embedder, settings.job_batch_documents,
                limits=state.runtime.file_limits, engine=settings.job_engine, writers=state.runtime.index_writers,
                ray_options=state.runtime.ray_options() if settings.job_engine == "ray" else None,
            )
            jobs.start()  # resumes jobs a stop interrupted
            app.state.jobs = jobs
            merger = None
            if settings.merge_interval_s > 0:  # compacts sealed segments (indexer.merge) while searches go on
                merger = BackgroundMerger(state.runtime.catalog.opened, settings.merge_interval_s)
                merger.start()
            try:
                yield value
            finally:
                if merger is not None:
                    await to_thread.run_sync(merger.close)
                await to_thread.run_sync(jobs.close)  # at a batch boundary, before the models close

    app.router.lifespan_context = lifespan
