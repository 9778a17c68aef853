"""A response of known length leaves `qa serve` in one write, head and body together (qa.api.server._WholeResponse).

Reported by the balancer test: a replica SIGKILLed between writing a search's head and its body left nginx holding
a 200 head it had passed on already, so it could not send the search to the other replica, and the client's
connection was cut mid-answer. Here the app pauses between the two ASGI messages, as the event loop may; the
client's first read must hold the whole answer.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator

import pytest
from fastapi import FastAPI
from fastapi.responses import StreamingResponse
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from qa.config import Settings

from servers import ThreadedServer

BODY = b'{"answer": "whole"}'


class PausedResponse(Response):
    """JSON whose body follows its head after a pause: the window a kill fell into."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        await asyncio.sleep(0.5)
        await send({"type": "http.response.body", "body": self.body})


@pytest.fixture(scope="module")
def server() -> Iterator[ThreadedServer]:
    app = FastAPI()

    @app.api_route("/paused", methods=["GET", "HEAD"])
    def paused() -> Response:
        return PausedResponse(BODY, media_type="application/json")

    @app.get("/stream")
    def stream() -> StreamingResponse:
        async def events() -> AsyncIterator[bytes]:
            await asyncio.sleep(0.5)
            yield b"data: late\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    with ThreadedServer(app, Settings()) as running:  # qa serve's protocol, with its limits
        yield running


def _first_read(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(request)
        return sock.recv(65536)


def test_a_response_head_leaves_with_its_body(server: ThreadedServer) -> None:
    first = _first_read(server.port, b"GET /paused HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert first.startswith(b"HTTP/1.1 200 ") and first.endswith(b"\r\n\r\n" + BODY), first


def test_a_head_request_still_gets_its_head(server: ThreadedServer) -> None:
    first = _first_read(server.port, b"HEAD /paused HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert first.startswith(b"HTTP/1.1 200 ") and first.endswith(b"\r\n\r\n"), first


def test_a_streamed_response_sends_its_head_at_once(server: ThreadedServer) -> None:
    """Its first bytes may be long in coming (MCP's events): its head is not held for them."""
    first = _first_read(server.port, b"GET /stream HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert first.startswith(b"HTTP/1.1 200 ") and b"transfer-encoding: chunked" in first and b"late" not in first
