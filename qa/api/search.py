"""qa's own search endpoints: /search, /ask and /health. Routes are plain ``def`` so FastAPI runs the model off the event loop."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from qa.api.deps import CatalogDep, Credentials, Reader, Service, SettingsDep, get_service, require_read_key
from qa.config import SearchMode
from qa.search import filters
from qa.service.catalog import DEFAULT
from qa.service.core import QAService
from qa.wire import (
    MIN_RELEVANCE_DESCRIPTION,
    NOT_BLANK,
    AskRequest,
    AskResponse,
    ErrorBody,
    Health,
    SearchRequest,
    SearchResponse,
)

router = APIRouter(dependencies=[Reader])
health_router = APIRouter()  # open even when reads need a key: load balancers probe it
_ERRORS: dict[int | str, dict[str, Any]] = {code: {"model": ErrorBody} for code in (401, 403, 422, 503)}


async def _health_service(
    catalog: CatalogDep,
    settings: SettingsDep,
    credentials: Credentials,
    collection: Annotated[str, Query(description="The knowledge base to report on.")] = DEFAULT,
) -> QAService:
    """The default collection for anyone (load balancers probe it); another one only for those who may read."""
    if collection != DEFAULT:
        await require_read_key(settings, credentials)
    return await get_service(catalog, collection)


@health_router.get("/health", response_model=Health, responses=_ERRORS)
def health(service: Annotated[QAService, Depends(_health_service)]) -> Health:
    return Health.model_validate(service.stats())


@router.post("/search", response_model=SearchResponse, responses=_ERRORS)
def search(body: SearchRequest, service: Service) -> SearchResponse:
    where = filters.equals(body.filter) if body.filter is not None else None
    return SearchResponse.model_validate(service.search(body.query, body.top_k, body.mode, where, body.min_relevance))


@router.get("/search", response_model=SearchResponse, responses=_ERRORS)
def search_get(
    service: Service,
    q: Annotated[str, Query(description="The question.", json_schema_extra=NOT_BLANK)],
    top_k: Annotated[int, Query(ge=1, le=100)] = 5,
    mode: SearchMode | None = None,
    doc_id: Annotated[list[str], Query(description="Only passages of these documents.")] = [],  # noqa: B006
    min_relevance: Annotated[float | None, Query(ge=0, le=1, description=MIN_RELEVANCE_DESCRIPTION)] = None,
) -> SearchResponse:
    where = filters.equals({"doc_id": doc_id}) if doc_id else None
    return SearchResponse.model_validate(service.search(q, top_k, mode, where, min_relevance))


@router.post("/ask", response_model=AskResponse, responses=_ERRORS)
def ask(body: AskRequest, service: Service, request: Request) -> AskResponse:
    where = filters.equals(body.filter) if body.filter is not None else None
    result = service.ask(body.question, body.top_k, body.mode, where, body.min_relevance)
    request.app.state.metrics.answered(result.answer)  # /metrics: answered or abstained
    return AskResponse.model_validate(result)
