"""qa's search endpoints. Routes are plain ``def`` so FastAPI runs the model off the event loop."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from qa import filters
from qa.api.deps import Reader, Service
from qa.api.schemas import (
    Answer,
    AnswerSentence,
    AskPassage,
    AskRequest,
    AskResponse,
    ErrorBody,
    Health,
    Passage,
    SearchRequest,
    SearchResponse,
)
from qa.config import SearchMode
from qa.answering import Sentence
from qa.service import AskResult, SearchResult

router = APIRouter(dependencies=[Reader])
health_router = APIRouter()  # open even when reads need a key: load balancers probe it
_ERRORS = {401: {"model": ErrorBody}, 403: {"model": ErrorBody}, 422: {"model": ErrorBody}, 503: {"model": ErrorBody}}


def _response(result: SearchResult) -> SearchResponse:
    return SearchResponse(
        query=result.query,
        mode=result.mode,
        results=[Passage.of(h) for h in result.hits],
        took_ms=round(result.took_ms, 3),
    )


@health_router.get("/health", response_model=Health, responses=_ERRORS)
def health(service: Service) -> Health:
    return Health(status="ok", **service.stats())  # type: ignore[arg-type]


@router.post("/search", response_model=SearchResponse, responses=_ERRORS)
def search(body: SearchRequest, service: Service) -> SearchResponse:
    where = filters.equals(body.filter) if body.filter is not None else None
    return _response(service.search(body.query, body.top_k, body.mode, where))


@router.get("/search", response_model=SearchResponse, responses=_ERRORS)
def search_get(
    service: Service,
    q: Annotated[str, Query(description="The question.")],
    top_k: Annotated[int, Query(ge=1, le=100)] = 5,
    mode: SearchMode | None = None,
    doc_id: Annotated[list[str] | None, Query(description="Only passages of these documents.")] = None,
) -> SearchResponse:
    where = filters.equals({"doc_id": doc_id}) if doc_id else None
    return _response(service.search(q, top_k, mode, where))


def _sentence(s: Sentence) -> AnswerSentence:
    return AnswerSentence(text=s.text, start=s.start, end=s.end, score=round(s.score, 6))


def ask_response(result: AskResult) -> AskResponse:
    answer = None
    if result.answer is not None:
        hit, sent = result.answer
        answer = Answer(**_sentence(sent).model_dump(), doc_id=hit.chunk.doc_id, chunk_id=hit.chunk.chunk_id)
    return AskResponse(
        question=result.question,
        mode=result.mode,
        answer=answer,
        results=[AskPassage(**Passage.of(h).model_dump(), sentence=_sentence(s)) for h, s in zip(result.hits, result.sentences)],
        took_ms=round(result.took_ms, 3),
    )


@router.post("/ask", response_model=AskResponse, responses=_ERRORS)
def ask(body: AskRequest, service: Service) -> AskResponse:
    where = filters.equals(body.filter) if body.filter is not None else None
    return ask_response(service.ask(body.question, body.top_k, body.mode, where))
