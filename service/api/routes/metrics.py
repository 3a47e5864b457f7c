from fastapi import APIRouter, Depends, Request, Response

from service.api.auth import require_metrics

router = APIRouter(tags=["operations"])


# the series name every collection, so with API keys configured a scraper needs a key of scope "metrics",
# or one that already sees every collection (admin, or a read/write key without a collection list)
@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}}},
    dependencies=[Depends(require_metrics)],
)
def metrics(request: Request) -> Response:
    """Prometheus text format: requests and latency by route, search stages, index sizes, jobs, models."""
    metrics = request.app.state.metrics
    return Response(metrics.render(), media_type=metrics.content_type)
