"""The OpenAPI spec, made to say what this server really does, so generated clients and contract tests can trust it.

FastAPI's own spec lists its validation-error shape for 422 and marks every
operation that can read a Bearer token as needing one. qa answers every
error as ``{"detail"}`` and needs the key only where the settings say so:
writes when ``QA_API_KEY`` is set, reads too with ``QA_API_KEY_READS``,
Dify's endpoint whenever there is a key, and never ``/health`` of the
default collection or ``/formats``.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from qa.api.errors import DIFY_PATH
from qa.config import Settings

_ERROR_BODY = {"$ref": "#/components/schemas/ErrorBody"}
_EVERYWHERE = {
    "400": "Bad request, or a Host that is not served (QA_ALLOWED_HOSTS)",
    "404": "Unknown collection or resource",
    "413": "The request body is larger than this endpoint takes",
    "422": "Invalid request: the detail names the field",
    "500": "Unexpected server error (logged)",
    "503": "No usable index yet, or it is damaged: the detail says how to rebuild it",
}
_READ_POSTS = {"/search", "/ask", "/v1/vector_stores/{vector_store_id}/search"}


def _needs_key(settings: Settings, path: str, method: str) -> bool | None:
    """True: the key is required; False: never asked for; None: optional."""
    if settings.api_key is None:
        return False
    if path == "/health":
        return None
    if path == "/formats":  # what qa reads, nothing of what it holds
        return False
    if path == DIFY_PATH:
        return True
    read = method == "get" or path in _READ_POSTS
    return settings.api_key_reads if read else True


def install(app: FastAPI, settings: Settings) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _spec(app, settings)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to extend its schema


def _spec(app: FastAPI, settings: Settings) -> dict[str, Any]:
    spec = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    components = spec.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas.setdefault(
        "ErrorBody", {"type": "object", "properties": {"detail": {"type": "string"}}, "required": ["detail"]}
    )
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    for path, operations in spec.get("paths", {}).items():
        for method, op in operations.items():
            _errors(op.setdefault("responses", {}))
            needs = _needs_key(settings, path, method)
            if needs is False:
                op.pop("security", None)
                continue
            if needs is None:
                op["security"] = [{}, {"HTTPBearer": []}]
            _errors(op["responses"], {"401": "No API key, or not as a Bearer token", "403": "A wrong API key"})
    if settings.api_key is None:
        components.pop("securitySchemes", None)
    return spec


def _errors(responses: dict[str, Any], codes: dict[str, str] = _EVERYWHERE) -> None:
    """Declare ``codes`` with the ErrorBody shape where the route did not declare a shape of its own."""
    for code, why in codes.items():
        declared = responses.get(code, {})
        if not declared.get("content") or "HTTPValidationError" in str(declared):
            responses[code] = {
                "description": declared.get("description", why),
                "content": {"application/json": {"schema": _ERROR_BODY}},
            }
