"""How ``qa serve`` runs uvicorn: the limits a server facing real clients needs, which uvicorn leaves open.

uvicorn's HTTP parser keeps a request head in memory however long it grows,
and a connection that sends nothing, or a byte now and then, stays open
forever: one client can freeze the event loop with an endless header or use
up the file descriptors with idle connections. This protocol adds to
uvicorn's own:

- a request head larger than ``QA_MAX_HEADER_BYTES`` gets 431 and the connection closes;
- a head not complete ``QA_HEADER_TIMEOUT`` seconds after it began (or after
  the connection opened) gets 408 and the connection closes;
- a request body that pauses longer than ``QA_READ_TIMEOUT`` seconds closes the connection;
- a request (head and body) not whole ``QA_REQUEST_TIMEOUT`` seconds after its
  first byte gets 408, however steadily it trickles in;
- at most ``QA_MAX_IDLE_CONNECTIONS`` connections may be sending a request head
  or body at once: past that the one that started longest ago is closed (408),
  so a flood of idle, slow or trickling connections cannot lock out clients
  that send their request at once;
- past ``QA_MAX_CONNECTIONS`` connections, a request gets a JSON 503 with
  Retry-After (uvicorn's own ``limit_concurrency`` answers in plain text);
- a response of known length leaves in one write, head and body together
  (:class:`_WholeResponse`), so a process killed while answering never leaves
  a proxy holding a head without its body.

uvicorn's keep-alive timeout closes idle keep-alive connections. A reverse proxy in front
(see the README) is still the place for TLS and per-client rate limits.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import resource
import time
from collections import OrderedDict
from typing import Any, ClassVar

import uvicorn
from fastapi import FastAPI
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from qa.config import Settings


def _raw_response(status: int, reason: str, detail: str) -> bytes:
    body = json.dumps({"detail": detail}).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


async def _busy(scope: Any, receive: Any, send: Any) -> None:
    """The answer past ``QA_MAX_CONNECTIONS``: JSON with Retry-After (uvicorn's own is plain text)."""
    body = json.dumps({"detail": "the server has too many connections open; try again shortly"}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 503, "headers": [*headers, (b"retry-after", b"1")]})
    await send({"type": "http.response.body", "body": body})


class _WholeResponse(asyncio.Transport):
    """One request's transport, as its response cycle sees it: the head of a response with a Content-Length waits
    for the body's first bytes and leaves with them, in one write (uvicorn writes each ASGI message as it comes).

    Between two writes the event loop may run other tasks, or wait for the GIL behind searches in the thread pool,
    for milliseconds; a replica SIGKILLed then sent a proxy the head of a 200 without its body. nginx, which passes
    a head on as it gets it, could then no longer send the request to another replica, and its client saw the
    connection cut mid-answer: a failed search in the balancer test (docs/scaling-out.md). A streamed response
    (chunked: MCP's events) sends its head at once, as its first bytes may be long in coming; so does
    ``100 Continue``."""

    def __init__(self, transport: asyncio.Transport) -> None:
        super().__init__()
        self._transport = transport
        self._head = b""
        self._started = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not self._started and bytes(data[:13]) != b"HTTP/1.1 100 ":
            self._started = True  # the first write but 100 Continue is the head (uvicorn lowercases its names)
            if b"\r\ncontent-length: " in bytes(data):
                self._head = bytes(data)
                return
        if self._head:
            head, self._head = self._head, b""
            data = b"".join((head, data))
        self._transport.write(data)

    def flush(self) -> None:
        """Send a head still held: its response ended without body bytes (a HEAD request's)."""
        if self._head:
            head, self._head = self._head, b""
            self._transport.write(head)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._transport.get_extra_info(name, default)


def _whole(cycle: Any) -> None:
    """Give a response cycle a :class:`_WholeResponse`, flushed when its response is complete."""
    held = _WholeResponse(cycle.transport)
    cycle.transport = held
    done = cycle.on_response

    def on_response() -> None:
        held.flush()
        done()

    cycle.on_response = on_response


def protocol_for(settings: Settings) -> type[HttpToolsProtocol]:
    """A uvicorn HTTP protocol class with ``settings``' limits; each server gets its own (the sending set is per server)."""

    class GuardedHttpTools(HttpToolsProtocol):
        limits = settings
        # connections still sending a request (head or body), the one that started longest ago first
        sending: ClassVar[OrderedDict[GuardedHttpTools, float]] = OrderedDict()  # shared by the server's connections

        # uvicorn's HttpToolsProtocol narrows asyncio's BaseTransport the same way (with the same ignore)
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._head_bytes, self._in_body = 0, False
            self._timer: asyncio.TimerHandle | None = None  # the head's timeout, or the body's pause
            self._deadline: asyncio.TimerHandle | None = None  # the whole request's
            self._wait_for_head()

        def _wait_for_head(self) -> None:
            self.sending[self] = time.monotonic()
            self.sending.move_to_end(self)
            self._head_bytes, self._in_body = 0, False
            self._arm(self.limits.header_timeout, self._head_too_slow)
            while len(self.sending) > self.limits.max_idle_connections:
                next(iter(self.sending))._evict()

        def _evict(self) -> None:
            why = "too many connections are still sending a request; this one started longest ago"
            if self._in_body:  # a request under way: say why (an idle connection just closes)
                self._refuse(408, "Request Timeout", why)
            else:
                self._close(why)

        def _arm(self, seconds: float, then: Any) -> None:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = self.loop.call_later(seconds, then)

        def _disarm(self) -> None:
            for timer in (self._timer, self._deadline):
                if timer is not None:
                    timer.cancel()
            self._timer = self._deadline = None

        def _close(self, why: str, response: bytes = b"") -> None:
            self.sending.pop(self, None)
            self._disarm()
            if not self.transport.is_closing():
                self.logger.info("closing a connection from %s: %s", self.client, why)
                if response:
                    self.transport.write(response)
                self.transport.close()

        def _refuse(self, status: int, reason: str, detail: str) -> None:
            """Close with a JSON answer, unless the app already began its own."""
            answered = self._in_body and self.cycle is not None and self.cycle.response_started
            self._close(detail, b"" if answered else _raw_response(status, reason, detail))

        def _head_too_slow(self) -> None:
            self._refuse(
                408, "Request Timeout", f"the request head did not arrive within {self.limits.header_timeout:g} seconds"
            )

        def _body_too_slow(self) -> None:
            self._close(f"no part of the request body arrived for {self.limits.read_timeout:g} seconds")

        def _request_too_slow(self) -> None:
            detail = f"the request did not arrive whole within {self.limits.request_timeout:g} seconds"
            self._refuse(408, "Request Timeout", detail)

        def data_received(self, data: bytes) -> None:
            heading = self in self.sending and not self._in_body
            if self._in_body:
                self._arm(self.limits.read_timeout, self._body_too_slow)
            super().data_received(data)
            if heading and self in self.sending and not self._in_body:  # still no whole head
                self._head_bytes += len(data)
                if self._head_bytes > self.limits.max_header_bytes:
                    detail = f"the request head is larger than {self.limits.max_header_bytes} bytes"
                    self._close(detail, _raw_response(431, "Request Header Fields Too Large", detail))

        def on_message_begin(self) -> None:
            super().on_message_begin()
            if self not in self.sending:  # a pipelined request: its head is timed from now
                self._wait_for_head()
            if self._deadline is not None:
                self._deadline.cancel()
            self._deadline = self.loop.call_later(self.limits.request_timeout, self._request_too_slow)

        def on_headers_complete(self) -> None:
            self._in_body = True  # still counted among those sending until the body is whole
            self._arm(self.limits.read_timeout, self._body_too_slow)
            super().on_headers_complete()

        def on_message_complete(self) -> None:
            self.sending.pop(self, None)
            self._disarm()
            self._in_body = False
            super().on_message_complete()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing():
                self._wait_for_head()

        def connection_lost(self, exc: Exception | None) -> None:
            self.sending.pop(self, None)
            self._disarm()
            super().connection_lost(exc)

        def _start_asgi_task(self, cycle: Any, app: Any) -> None:
            limit = self.limits.max_connections
            if len(self.connections) > limit or len(self.tasks) >= limit:
                app = _busy
            _whole(cycle)
            super()._start_asgi_task(cycle, app)

    return GuardedHttpTools


def _raise_fd_limit() -> None:
    """Let the process hold as many connections as the system allows it (the soft limit is often 1024)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard if hard != resource.RLIM_INFINITY else 65536, hard))


def config(app: FastAPI, settings: Settings, **overrides: Any) -> uvicorn.Config:
    """The uvicorn configuration ``qa serve`` uses: host, port and every limit from ``settings``."""
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "http": protocol_for(settings),
        # limit_concurrency is the protocol's own (_busy answers in JSON); uvicorn's would answer in plain text
        "timeout_keep_alive": settings.keep_alive_timeout,
        "log_level": "info",
        "access_log": False,  # qa.api.observe writes one line per request, with its id
        "log_config": None,  # qa.logs formats every line, as text or JSON (QA_LOG_FORMAT)
    }
    return uvicorn.Config(app, **(options | overrides))


def serve(app: FastAPI, settings: Settings) -> None:
    _raise_fd_limit()
    uvicorn.Server(config(app, settings)).run()
