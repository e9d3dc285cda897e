"""ASGI middleware: request ids, and a body-size limit that reads and discards oversized bodies.

The size limit answers 413 only after draining the request, so the client gets a clean JSON
error instead of a reset connection (CONTRACT.md). Bodies within the limit are buffered once and
replayed to the app.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from service import metrics

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


async def _send_json(send: Send, status: int, body: dict, headers: list) -> None:
    data = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(data)).encode()), *headers]})
    await send({"type": "http.response.body", "body": data})


class RequestIdMiddleware:
    """Echo a sane X-Request-ID or make one; it is on every response, errors included."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = None
        for name, value in scope.get("headers", []):
            if name == b"x-request-id":
                text = value.decode("latin-1")
                if REQUEST_ID_RE.match(text):
                    rid = text
        rid = rid or secrets.token_hex(12)
        scope.setdefault("state", {})["request_id"] = rid

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [h for h in message.get("headers", []) if h[0].lower() != b"x-request-id"]
                headers.append((b"x-request-id", rid.encode()))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_id)


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS", "DELETE"):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        too_big = False
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    too_big = int(value) > self.max_bytes
                except ValueError:
                    too_big = False
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body = message.get("body", b"")
            size += len(body)
            if size > self.max_bytes:
                too_big = True
            if not too_big:
                chunks.append(body)
            if not message.get("more_body"):
                break
        if too_big:
            await _send_json(send, 413, {"error": {
                "code": "payload_too_large",
                "message": f"the request body is larger than {self.max_bytes} bytes"}},
                [(b"connection", b"close")])
            return
        data = b"".join(chunks)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": data, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


class HeaderLimitMiddleware:
    """431 when the request headers together are too large, 414 when the URL is too long.

    uvicorn's httptools parser puts no bound on header sizes; every value the service reads
    (keys, Idempotency-Key, X-Request-ID) has its own, smaller bound on top of this one.
    """

    def __init__(self, app: ASGIApp, max_header_bytes: int, max_url_bytes: int,
                 max_headers: int = 100) -> None:
        self.app = app
        self.max_header_bytes, self.max_url_bytes = max_header_bytes, max_url_bytes
        self.max_headers = max_headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = scope.get("headers", [])
        size = sum(len(n) + len(v) + 4 for n, v in headers)
        if size > self.max_header_bytes or len(headers) > self.max_headers:
            await _send_json(send, 431, {"error": {
                "code": "headers_too_large",
                "message": f"the request headers are larger than {self.max_header_bytes} bytes "
                           f"or more than {self.max_headers}"}}, [(b"connection", b"close")])
            return
        url = len(scope.get("raw_path") or scope.get("path", "").encode()) + len(
            scope.get("query_string", b""))
        if url > self.max_url_bytes:
            await _send_json(send, 414, {"error": {
                "code": "uri_too_long",
                "message": f"the URL is longer than {self.max_url_bytes} bytes"}}, [])
            return
        await self.app(scope, receive, send)


class MetricsMiddleware:
    """Request count and latency per route template, as Prometheus metrics."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = [500]

        async def send_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            path = getattr(scope.get("route"), "path", "unmatched")
            metrics.REQUESTS.labels(scope["method"], path, status[0]).inc()
            metrics.LATENCY.labels(scope["method"], path).observe(time.perf_counter() - start)
