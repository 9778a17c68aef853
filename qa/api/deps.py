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
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from qa.api.guard import same_origin_write
from qa.config import Settings
from qa.errors import Forbidden, Unauthorized
from qa.service.catalog import DEFAULT, Catalog
from qa.service.core import QAService

# Declares the scheme in OpenAPI; qa decides itself what a missing or wrong key means.
bearer = HTTPBearer(auto_error=False, description="QA_API_KEY, when the server has one.")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


async def get_catalog(request: Request) -> Catalog:
    catalog: Catalog = request.app.state.startup.catalog()  # NotReady (503) while the index loads
    return catalog


CatalogDep = Annotated[Catalog, Depends(get_catalog)]


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings  # known before the index loads: probes and /metrics check keys
    return settings


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


def key_matches(settings: Settings, token: str) -> bool:
    key = settings.api_key
    assert key is not None
    # Constant time, so the answer's timing does not reveal how much of the key was right.
    return hmac.compare_digest(token.encode("utf-8"), key.get_secret_value().encode("utf-8"))


def _check_key(settings: Settings, credentials: HTTPAuthorizationCredentials | None) -> None:
    """The API key, when one is configured: 401 without it (or not as a Bearer token), 403 with a wrong one."""
    if settings.api_key is None:
        return
    if credentials is None:
        raise Unauthorized("this endpoint needs an API key: send 'Authorization: Bearer <key>'")
    if not key_matches(settings, credentials.credentials):
        raise Forbidden("the API key is not valid")


async def require_key(request: Request, settings: SettingsDep, credentials: Credentials) -> None:
    """Writes come from qa's own origin (or no browser at all), with the API key when one is configured."""
    same_origin_write(request)
    _check_key(settings, credentials)


async def require_read_key(settings: SettingsDep, credentials: Credentials) -> None:
    """Reads are open unless QA_API_KEY_READS is set."""
    if settings.api_key_reads:
        _check_key(settings, credentials)


Writer = Depends(require_key)
Reader = Depends(require_read_key)
