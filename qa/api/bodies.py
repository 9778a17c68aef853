"""Request bodies: how large each route's may be, checked before anything reads it, and large JSON parsed off the loop.

A search needs a few hundred bytes, yet reads took bodies of any size: a
60 MB ``doc_id`` filter was read, parsed and validated, with readers' p99 at
18 s. So every route has a limit sized for what it needs (documents: the
document limit; bulk: the bulk limit; everything else ``QA_MAX_REQUEST_BYTES``),
enforced on the Content-Length before the app runs and on the bytes as they
arrive (a chunked body has no length). A bulk body is parsed in a worker
thread, and its documents are counted before any is validated: 2 million
tiny entries were validated one by one, on the event loop, before the count
check refused them.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from qa.config import Settings
from qa.errors import TooLarge

M = TypeVar("M", bound=BaseModel)
ENVELOPE = 64 * 1024  # room for the JSON or multipart framing around a document at the size limit


def limit_for(settings: Settings, method: str, path: str) -> int:
    """The largest body ``method path`` takes."""
    if path == "/documents/bulk":
        return settings.max_bulk_bytes
    if (path.startswith("/documents/") or path == "/documents") and method in ("POST", "PUT"):
        # JSON may escape each CJK character as 6 bytes for its 3, hence the factor.
        return 2 * settings.max_document_bytes + ENVELOPE
    return settings.max_request_bytes


class BodyLimits:
    """ASGI middleware: 413 for a body over its route's limit, before the app reads a byte of it."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app, self.settings = app, settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = limit_for(self.settings, scope["method"], scope["path"])
        length = next((v for k, v in scope["headers"] if k == b"content-length"), b"")
        if length.isdigit() and int(length) > limit:
            await _too_large(send, limit)
            return
        received = 0

        async def capped() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > limit:  # a chunked body: stop reading; the app's error handler answers 413
                raise HTTPException(413, _detail(limit))
            return message

        await self.app(scope, capped, send)


def _detail(limit: int) -> str:
    return f"the request body is larger than this endpoint takes ({limit} bytes)"


async def _too_large(send: Send, limit: int) -> None:
    body = json.dumps({"detail": _detail(limit)}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 413, "headers": [*headers, (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


class _TooMany(Exception):
    pass


def count_documents(body: bytes, limit: int) -> None:
    """TooLarge when a bulk JSON body holds more than ``limit`` documents, found before any is validated.

    The parse stops at the first object past what ``limit`` documents can hold
    (each one, and its flat metadata), so a body of millions costs a moment.
    What is not JSON is left to pydantic, whose error says where.
    """
    objects = 0

    def counted(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        nonlocal objects
        objects += 1
        if objects > 2 * limit + 1:
            raise _TooMany
        return dict(pairs)

    try:
        data = json.loads(body, object_pairs_hook=counted)
    except _TooMany:
        raise TooLarge(
            f"more than {limit} documents; one request takes at most {limit} (QA_MAX_BULK_DOCUMENTS)"
        ) from None
    except (ValueError, RecursionError):
        return
    documents = data.get("documents") if isinstance(data, dict) else None
    if isinstance(documents, list) and len(documents) > limit:
        raise TooLarge(f"{len(documents)} documents; one request takes at most {limit} (QA_MAX_BULK_DOCUMENTS)")


def parse(model: type[M], body: bytes) -> M:
    """``model`` from a JSON body; pydantic's error as FastAPI's (a readable 422). Meant for a worker thread."""
    from fastapi.exceptions import RequestValidationError

    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from None
