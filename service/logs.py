"""Structured logs of the API: one JSON object per line on stderr.

Every record (ours and uvicorn's) goes through `JsonFormatter`; `json.dumps` with
`ensure_ascii=True` escapes every control character (`\\n`, `\\x1b`, ...) and every non-ASCII
character, so a request path or header can never break a line or inject terminal escapes.
`AccessLogMiddleware` writes one line per request: request id, method, route template, path,
status, duration and the caller's key id (never the key). uvicorn's own access log is silenced
(its lines would repeat ours without the request id); its error log keeps flowing, as JSON.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

ACCESS = logging.getLogger("codefeedback.access")
_RESERVED = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}
MAX_FIELD_CHARS = 2000


def _clip(value: Any) -> Any:
    if isinstance(value, str) and len(value) > MAX_FIELD_CHARS:
        return value[:MAX_FIELD_CHARS] + "...[truncated]"
    return value


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": _clip(record.getMessage()),
        }
        for key, value in vars(record).items():
            if key not in _RESERVED and not key.startswith("_"):
                out[key] = _clip(value)
        if record.exc_info:
            out["exc"] = _clip(self.formatException(record.exc_info))
        return json.dumps(out, ensure_ascii=True, default=str, separators=(",", ":"))


def configure(level: str = "INFO", stream: Any = None) -> logging.Handler:
    """Route the root, `codefeedback.*` and uvicorn loggers to one JSON handler."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.set_name("codefeedback-json")
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == "codefeedback-json"]:
        root.removeHandler(old)
    root.addHandler(handler)
    lvl = logging.getLevelName(level.upper()) if isinstance(level, str) else level
    root.setLevel(lvl if isinstance(lvl, int) else logging.INFO)
    for name in ("uvicorn", "uvicorn.error"):
        lg = logging.getLogger(name)
        lg.handlers.clear()
        lg.propagate = True
    access = logging.getLogger("uvicorn.access")
    access.handlers.clear()
    access.propagate = False
    access.disabled = True
    return handler


class AccessLogMiddleware:
    """One `request` line per HTTP request, whatever answered it (errors and 413s included)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            state = scope.get("state") or {}
            route = scope.get("route")
            ACCESS.info("request", extra={
                "request_id": state.get("request_id"),
                "method": scope.get("method"),
                "route": getattr(route, "path", None),
                "path": scope.get("path"),
                "status": status,
                "duration_ms": round((time.perf_counter() - start) * 1000, 2),
                "key_id": state.get("key_id"),
                "client": (scope.get("client") or (None,))[0],
            })
