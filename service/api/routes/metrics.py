from fastapi import APIRouter, Request, Response

router = APIRouter(tags=["operations"])


@router.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
def metrics(request: Request) -> Response:
    """Prometheus text format: requests and latency by route, search stages, index sizes, jobs, models."""
    metrics = request.app.state.metrics
    return Response(metrics.render(), media_type=metrics.content_type)
