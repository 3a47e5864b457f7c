"""Request body size limit, enforced before anything parses the body (declared or streamed size)."""

from __future__ import annotations

import json
import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.api.errors import error_response


class BodySizeLimit:
    """Pure ASGI middleware: answers 413 in the API's error shape when a body exceeds `max_bytes`.

    The body is read here (at most max_bytes of it) and replayed to the app, so an oversized
    streamed upload is refused without the app ever seeing it.

    `streamed` names routes (path patterns) that read their body as a stream to disk with their own,
    larger limit (archive uploads): only a declared Content-Length over that limit is refused here,
    the route counts what actually arrives.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, streamed: dict[re.Pattern[str], tuple[int, str]] | None = None):
        self.app = app
        self.max_bytes = max_bytes
        self.streamed = streamed or {}  # path pattern -> (limit, the setting that sets it)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS", "DELETE"):
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        for pattern, (limit, setting) in self.streamed.items():
            if pattern.match(scope.get("path", "")):
                if declared is not None and declared.isdigit() and int(declared) > limit:
                    message = f"request body is {int(declared)} bytes; the limit is {limit} bytes ({setting})"
                    return await self._send_413(scope, receive, send, message)
                return await self.app(scope, receive, send)
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            return await self._refuse(scope, receive, send, f"{int(declared)} bytes")
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # client went away
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_bytes:
                return await self._refuse(scope, receive, send, f"over {self.max_bytes} bytes")
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        where = lone_surrogate_field(body)
        if where is not None:
            message = f"{where}: holds a lone UTF-16 surrogate escape (\\ud800-\\udfff without its pair), which is not text"
            response = error_response(422, "invalid_request", message, [{"field": where, "message": message}], path=scope.get("path", ""))
            return await response(scope, receive, send)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, size: str) -> None:
        message = (
            f"request body is {size}; the limit is {self.max_bytes} bytes"
            " (QUARRY_MAX_BODY_BYTES): send fewer or smaller documents per request"
        )
        await self._send_413(scope, receive, send, message)

    @staticmethod
    async def _send_413(scope: Scope, receive: Receive, send: Send, message: str) -> None:
        response = error_response(413, "payload_too_large", message, path=scope.get("path", ""))
        await response(scope, receive, send)


_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def lone_surrogate_field(body: bytes) -> str | None:
    """Where a JSON body holds a lone surrogate (an escape only JSON can smuggle in; UTF-8 cannot carry
    one), as a field path like "documents.0.text"; None when it holds none or is not JSON.

    Refused here, once for every route, because such a string cannot be encoded, stored or tokenized."""
    if not _SURROGATE_ESCAPE.search(body):
        return None
    try:
        return _find_surrogate(json.loads(body), [])
    except (ValueError, RecursionError):
        return None  # not JSON (or absurdly deep): the route's own parsing answers


def _find_surrogate(value, path: list[str]) -> str | None:
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return ".".join(path) or "body"
        return None
    for key, item in items:
        if isinstance(key, str) and _find_surrogate(key, path) is not None:
            return ".".join([*path, "(a key)"])
        found = _find_surrogate(item, [*path, str(key)])
        if found is not None:
            return found
    return None
