"""FastAPI dependencies: how a route gets the service created at start-up, and who may call it.

They are ``async def`` because none of them blocks (opening a collection that
is not open yet goes to a worker thread): FastAPI runs each plain ``def``
dependency in the thread pool, and those hand-offs were most of a search's
HTTP overhead under load.
"""

from __future__ import annotations

import hmac
from typing import Annotated

import anyio

from fastapi import Depends, Query, Request

from qa.catalog import DEFAULT, Catalog
from qa.config import Settings
from qa.errors import Forbidden, Unauthorized
from qa.service import QAService


async def get_catalog(request: Request) -> Catalog:
    return request.app.state.catalog


CatalogDep = Annotated[Catalog, Depends(get_catalog)]


async def get_settings(catalog: CatalogDep) -> Settings:
    return catalog.settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


async def get_service(
    catalog: CatalogDep,
    collection: Annotated[str, Query(description="The knowledge base to use.")] = DEFAULT,
) -> QAService:
    service = catalog.opened(collection)
    if service is not None:
        return service
    return await anyio.to_thread.run_sync(catalog.get, collection)  # may load its index from disk


Service = Annotated[QAService, Depends(get_service)]


def bearer_token(request: Request) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header; None when absent; 401 when malformed."""
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("malformed Authorization header; expected 'Authorization: Bearer <key>'")
    return token.strip()


def key_matches(settings: Settings, token: str) -> bool:
    key = settings.api_key
    assert key is not None
    # Constant time, so the answer's timing does not reveal how much of the key was right.
    return hmac.compare_digest(token.encode("utf-8"), key.get_secret_value().encode("utf-8"))


async def require_key(request: Request, settings: SettingsDep) -> None:
    """Writes need the API key when one is configured: 401 without it, 403 with a wrong one."""
    if settings.api_key is None:
        return
    token = bearer_token(request)
    if token is None:
        raise Unauthorized("this endpoint needs an API key: send 'Authorization: Bearer <key>'")
    if not key_matches(settings, token):
        raise Forbidden("the API key is not valid")


async def require_read_key(request: Request, settings: SettingsDep) -> None:
    """Reads are open unless QA_API_KEY_READS is set."""
    if settings.api_key_reads:
        await require_key(request, settings)


Writer = Depends(require_key)
Reader = Depends(require_read_key)
