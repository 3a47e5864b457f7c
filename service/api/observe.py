"""Per-request observation: a request id, one access log line, and the request metrics."""

from __future__ import annotations

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.logging_setup import request_id_from, request_id_var
from service.metrics import Metrics

access_log = logging.getLogger("quarry.access")


def route_template(scope: Scope) -> str:
    """The matched route's template (/v1/collections/{name}/search), never the raw path: bounded labels."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


class RequestObserver:
    """Pure ASGI middleware (outermost): sets the request id, times the request, logs and counts it."""

    def __init__(self, app: ASGIApp, metrics: Metrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        raw = headers.get(b"x-request-id")
        request_id = request_id_from(raw.decode("latin-1") if raw else None)
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500  # what the client gets if the app raises before answering

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            route = route_template(scope)
            self.metrics.observe_request(scope["method"], route, status, seconds)
            access_log.info(
                "%s %s %s %.1fms", scope["method"], scope["path"], status, seconds * 1000,
                extra={"method": scope["method"], "path": scope["path"], "route": route, "status": status,
                       "duration_ms": round(seconds * 1000, 3)},
            )  # fmt: skip
            request_id_var.reset(token)
