"""Every HTTP request gets a request id, one access-log line and its place in /metrics.

The id is the client's ``X-Request-ID`` when it sends a sane one (a proxy's
or a caller's id then follows the request through qa's log), else a new
one; it is echoed on the response. The access line carries the id, method,
route template (``/documents/{doc_id}``, so lines group by endpoint), path,
status, duration and collection. Time is counted until the response is
sent; a streamed answer (MCP) counts until its end.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from urllib.parse import parse_qs

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from qa.api.metrics import HttpMetrics
from qa.logs import ACCESS

HEADER = b"x-request-id"
_SANE = re.compile(r"^[A-Za-z0-9._:@/+=-]{1,128}$")  # no spaces, quotes or control characters: safe in any log
log = logging.getLogger(ACCESS)


def request_id(scope: Scope) -> str:
    sent = next((v.decode("latin-1") for k, v in scope["headers"] if k == HEADER), "")
    return sent if _SANE.match(sent) else uuid.uuid4().hex


def route_of(scope: Scope) -> str:
    """The matched route's template; one label for every unmatched path, so a scanner cannot grow /metrics."""
    path = getattr(scope.get("route"), "path", None)
    return re.sub(r":\w+}", "}", path) if path else "unmatched"  # /documents/{doc_id:path} as the spec names it


def collection_of(scope: Scope) -> str:
    values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("collection")
    return values[0][:64] if values else "default"


class Observe:
    """ASGI middleware: request id in and out, one access-log line and the HTTP metrics for each request."""

    def __init__(self, app: ASGIApp, metrics: HttpMetrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = request_id(scope)
        scope.setdefault("state", {})["request_id"] = rid
        status, started = 500, time.perf_counter()  # 500: an exception escaped before any response began

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (HEADER, rid.encode("latin-1"))]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            route = route_of(scope)
            self.metrics.observe(scope["method"], route, status, seconds)
            log.info(
                "%s %s %d %.1fms",
                scope["method"],
                scope["path"],
                status,
                seconds * 1000,
                extra={
                    "request_id": rid,
                    "method": scope["method"],
                    "route": route,
                    "path": scope["path"],
                    "status": status,
                    "duration_ms": round(seconds * 1000, 2),
                    "collection": collection_of(scope),
                },
            )
