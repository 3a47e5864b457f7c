"""Every router the app serves, in one list (service.api.app includes them in this order)."""

from service.api.compat import cohere_routes, openai_routes
from service.api.routes import backups, collections, context, docs, documents, health, jobs, metrics, passages, search, ui

ROUTERS = [
    metrics.router,
    jobs.router,
    ui.router,
    health.router,
    collections.router,
    backups.router,
    documents.router,
    passages.router,
    search.router,
    context.router,
    openai_routes.router,
    cohere_routes.router,
    docs.router,
]
