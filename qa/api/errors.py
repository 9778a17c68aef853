"""The one place where errors become HTTP responses.

Every error is ``{"detail": "<readable message>"}`` (Dify's endpoint: its own
``{"error_code", "error_msg"}``), never a plain-text page or a traceback: a
:class:`QAError` carries its status, a validation error is a 422, and anything
unexpected is logged with its traceback and answered with a JSON 500.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from qa import errors
from qa.errors import Busy, NotReady, QAError, Unauthorized

log = logging.getLogger(__name__)
DIFY_PATH = "/retrieval"

# Each error's HTTP status; a subclass not listed answers its nearest listed ancestor's.
STATUS: dict[type[QAError], int] = {
    errors.QAError: 500,
    errors.InvalidInput: 422,
    errors.NoText: 422,
    errors.BadDocument: 400,
    errors.TooLarge: 413,
    errors.UnsupportedType: 415,
    errors.Unauthorized: 401,
    errors.Forbidden: 403,
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.FolderDisagrees: 409,
    errors.Busy: 429,
    errors.NotReady: 503,
    errors.IndexUnusable: 503,
    errors.ModelMismatch: 409,
    errors.StorageFull: 507,
}


def status_of(error: QAError | type[QAError]) -> int:
    """The HTTP status that answers ``error``."""
    kind = error if isinstance(error, type) else type(error)
    return next(STATUS[k] for k in kind.__mro__ if k in STATUS)


def status_named(kind: str) -> int:
    """The status of an error known by its class name (a background job's outcome keeps only the name)."""
    return status_of(next((k for k in _subclasses(errors.QAError) if k.__name__ == kind), errors.QAError))


def bulk_indexed(data: dict[str, Any]) -> dict[str, Any]:
    """A batch's outcomes as plain data (``Written.to_data``, or a background job's result) with each document's
    status: 201 created, 200 replaced, or what a single-document request refused this way would get."""
    return {**data, "documents": [_with_status(d) for d in data["documents"]]}


def _with_status(outcome: dict[str, Any]) -> dict[str, Any]:
    if "status" in outcome:  # recorded by a job before outcomes named their kind
        return outcome
    if "error" in outcome:
        return {**outcome, "status": status_named(outcome.get("kind", "QAError"))}
    return {**outcome, "status": 201 if outcome["created"] else 200}


def _subclasses(kind: type[QAError]) -> list[type[QAError]]:
    return [kind, *(s for sub in kind.__subclasses__() for s in _subclasses(sub))]


def _readable(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = list(err.get("loc", ()))
        if loc and loc[0] in ("body", "query", "path", "header"):
            loc = loc[1:]  # where the field came from; its name is what users need
        where = ".".join(str(p) for p in loc)
        parts.append(f"{where}: {err.get('msg')}" if where else str(err.get("msg")))
    return "; ".join(parts) or "invalid request"


def _allowed_methods(app: FastAPI, path: str) -> str:
    """Every method some operation of the spec serves at ``path``: Starlette's own 405 names only one route's."""
    paths = app.openapi().get("paths", {})
    if path in paths:  # a literal path (/documents/bulk) is its own resource, not a value of /documents/{doc_id}
        return ", ".join(sorted(m.upper() for m in paths[path]))
    methods = set()
    for template, operations in paths.items():
        if re.fullmatch(re.sub(r"\\\{[^}]+\\\}", ".+", re.escape(template)), path):
            methods |= {m.upper() for m in operations}
    return ", ".join(sorted(methods))


def install(app: FastAPI) -> None:
    @app.exception_handler(QAError)
    async def _qa_error(request: Request, exc: QAError) -> JSONResponse:
        status = status_of(exc)
        if status >= 500 and not isinstance(exc, NotReady):  # NotReady: a start-up the log already tells
            log.error("%s %s: %s", request.method, request.url.path, exc)
        headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, Unauthorized) else None
        if isinstance(exc, Busy):
            headers = {"Retry-After": str(exc.retry_after)}
        return JSONResponse({"detail": str(exc)}, status_code=status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        if request.url.path == DIFY_PATH:  # Dify reads its own error shape
            return JSONResponse({"error_code": 422, "error_msg": _readable(exc)}, status_code=422)
        return JSONResponse({"detail": _readable(exc)}, status_code=422)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> JSONResponse:
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = _allowed_methods(app, request.url.path)
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        detail = f"internal error ({type(exc).__name__}); the server log has the details"
        return JSONResponse({"detail": detail}, status_code=500)
