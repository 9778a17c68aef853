"""qa's own endpoints. Routes are plain ``def`` so FastAPI runs the model off the event loop."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from qa.api.deps import Service
from qa.api.schemas import ErrorBody, Health, Passage, SearchRequest, SearchResponse
from qa.config import SearchMode
from qa.service import SearchResult

router = APIRouter()
_ERRORS = {422: {"model": ErrorBody}, 503: {"model": ErrorBody}}


def _response(result: SearchResult) -> SearchResponse:
    return SearchResponse(
        query=result.query,
        mode=result.mode,
        results=[Passage.of(h) for h in result.hits],
        took_ms=round(result.took_ms, 3),
    )


@router.get("/health", response_model=Health, responses=_ERRORS)
def health(service: Service) -> Health:
    return Health(status="ok", **service.stats())  # type: ignore[arg-type]


@router.post("/search", response_model=SearchResponse, responses=_ERRORS)
def search(body: SearchRequest, service: Service) -> SearchResponse:
    return _response(service.search(body.query, body.top_k, body.mode))


@router.get("/search", response_model=SearchResponse, responses=_ERRORS)
def search_get(
    service: Service,
    q: Annotated[str, Query(description="The question.")],
    top_k: Annotated[int, Query(ge=1, le=100)] = 5,
    mode: SearchMode | None = None,
) -> SearchResponse:
    return _response(service.search(q, top_k, mode))
