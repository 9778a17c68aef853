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
- at most ``QA_MAX_IDLE_CONNECTIONS`` connections may wait for a request head at
  once: past that the longest-waiting one is closed, so a flood of idle or slow
  connections cannot lock out clients that send their request at once.

uvicorn's ``limit_concurrency`` answers 503 past ``QA_MAX_CONNECTIONS``, and its
keep-alive timeout closes idle keep-alive connections. A reverse proxy in front
(see the README) is still the place for TLS and per-client rate limits.
"""

from __future__ import annotations

import asyncio
import json
import resource
import time
from collections import OrderedDict
from typing import Any

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


def protocol_for(settings: Settings) -> type[HttpToolsProtocol]:
    """A uvicorn HTTP protocol class with ``settings``' limits; each server gets its own (the idle set is per server)."""

    class GuardedHttpTools(HttpToolsProtocol):
        max_head = settings.max_header_bytes
        head_timeout = settings.header_timeout
        read_timeout = settings.read_timeout
        max_idle = settings.max_idle_connections
        waiting: OrderedDict[GuardedHttpTools, float] = OrderedDict()  # connections waiting for a head, oldest first

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._head_bytes = 0
            self._timer: asyncio.TimerHandle | None = None
            self._wait_for_head()
            while len(self.waiting) > self.max_idle:
                oldest = next(iter(self.waiting))
                oldest._close("too many connections are waiting; this one waited longest")

        def _wait_for_head(self) -> None:
            self.waiting[self] = time.monotonic()
            self.waiting.move_to_end(self)
            self._head_bytes = 0
            self._arm(self.head_timeout, self._head_too_slow)

        def _arm(self, seconds: float, then: Any) -> None:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = self.loop.call_later(seconds, then)

        def _disarm(self) -> None:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

        def _close(self, why: str, response: bytes = b"") -> None:
            self.waiting.pop(self, None)
            self._disarm()
            if not self.transport.is_closing():
                self.logger.info("closing a connection from %s: %s", self.client, why)
                if response:
                    self.transport.write(response)
                self.transport.close()

        def _head_too_slow(self) -> None:
            detail = f"the request head did not arrive within {self.head_timeout:g} seconds"
            self._close(detail, _raw_response(408, "Request Timeout", detail))

        def _body_too_slow(self) -> None:
            self._close(f"no part of the request body arrived for {self.read_timeout:g} seconds")

        def data_received(self, data: bytes) -> None:
            waiting = self in self.waiting
            if not waiting and self.cycle is not None and self.cycle.more_body:
                self._arm(self.read_timeout, self._body_too_slow)
            super().data_received(data)
            if waiting and self in self.waiting:  # still no whole head (the parser completes it as it reads)
                self._head_bytes += len(data)
                if self._head_bytes > self.max_head:
                    detail = f"the request head is larger than {self.max_head} bytes"
                    self._close(detail, _raw_response(431, "Request Header Fields Too Large", detail))

        def on_message_begin(self) -> None:
            super().on_message_begin()
            if self not in self.waiting:  # a pipelined request: its head is timed from now
                self._wait_for_head()

        def on_headers_complete(self) -> None:
            self.waiting.pop(self, None)
            self._arm(self.read_timeout, self._body_too_slow)
            super().on_headers_complete()

        def on_message_complete(self) -> None:
            self._disarm()
            super().on_message_complete()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing():
                self._wait_for_head()

        def connection_lost(self, exc: Exception | None) -> None:
            self.waiting.pop(self, None)
            self._disarm()
            super().connection_lost(exc)

    return GuardedHttpTools


def _raise_fd_limit() -> None:
    """Let the process hold as many connections as the system allows it (the soft limit is often 1024)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard if hard != resource.RLIM_INFINITY else 65536, hard))
        except (ValueError, OSError):
            pass


def config(app: FastAPI, settings: Settings, **overrides: Any) -> uvicorn.Config:
    """The uvicorn configuration ``qa serve`` uses: host, port and every limit from ``settings``."""
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "http": protocol_for(settings),
        "limit_concurrency": settings.max_connections,
        "timeout_keep_alive": settings.keep_alive_timeout,
        "log_level": "info",
        "access_log": False,  # qa.api.observe writes one line per request, with its id
        "log_config": None,  # qa.logs formats every line, as text or JSON (QA_LOG_FORMAT)
    }
    return uvicorn.Config(app, **(options | overrides))


def serve(app: FastAPI, settings: Settings) -> None:
    _raise_fd_limit()
    uvicorn.Server(config(app, settings)).run()
