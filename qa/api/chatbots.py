"""The retrieval APIs chatbot platforms already call: Dify's External Knowledge API and OpenAI-style vector store search.

Both are translations onto :meth:`QAService.search`; their scores are the
calibrated relevance of :mod:`qa.calibration` (0..1, the same meaning in
every mode), so a platform's score threshold means what its users expect.
The knowledge base / vector store id names a collection (:mod:`qa.catalog`).
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from qa import filters
from qa.api.deps import CatalogDep, Reader, bearer_token, key_matches
from qa.calibration import relevance
from qa.errors import InvalidInput, NotFound, QAError, Unauthorized
from qa.service import QAService, SearchResult

router = APIRouter(tags=["chatbots"])


# ------------------------------------------------------------------ Dify
class DifyRetrievalSetting(BaseModel):
    top_k: int = Field(..., ge=1)
    score_threshold: float = Field(0.0, ge=0.0, le=1.0, description="0.0 means disabled.")


class DifyCondition(BaseModel):
    name: str | list[str]
    comparison_operator: str
    value: str | float | int | list[str] | None = None


class DifyMetadataCondition(BaseModel):
    logical_operator: Literal["and", "or"] = "and"
    conditions: list[DifyCondition]


class DifyRequest(BaseModel):
    knowledge_id: str
    query: str
    retrieval_setting: DifyRetrievalSetting
    metadata_condition: DifyMetadataCondition | None = None


class DifyRecord(BaseModel):
    content: str
    score: float
    title: str
    metadata: dict[str, Any] = Field(default_factory=dict, description="Always an object: null breaks Dify.")


class DifyResponse(BaseModel):
    records: list[DifyRecord]


class DifyError(BaseModel):
    error_code: int
    error_msg: str


def _dify_error(code: int, status: int, msg: str) -> JSONResponse:
    return JSONResponse({"error_code": code, "error_msg": msg}, status_code=status)


def _where(cond: DifyMetadataCondition | None) -> filters.Predicate | None:
    if cond is None or not cond.conditions:
        return None
    preds = []
    for c in cond.conditions:
        for name in [c.name] if isinstance(c.name, str) else c.name:
            preds.append(filters.condition(name, c.comparison_operator, c.value))
    return filters.combine(preds, cond.logical_operator)


def _calibrated(service: QAService, query: str, top_k: int, threshold: float, where: filters.Predicate | None):  # type: ignore[no-untyped-def]
    top_k = min(top_k, service.settings.max_top_k)
    result: SearchResult = service.search(query, top_k, None, where)
    scored = [(hit, relevance(hit.score, result.mode)) for hit in result.hits]
    return [(hit, p) for hit, p in scored if p >= threshold]


@router.post(
    "/retrieval",
    response_model=DifyResponse,
    responses={403: {"model": DifyError}, 404: {"model": DifyError}, 422: {"model": DifyError}},
)
def dify_retrieval(body: DifyRequest, request: Request, catalog: CatalogDep) -> Any:
    """Dify's External Knowledge API: register qa's base URL in Dify; it calls ``<url>/retrieval``."""
    if catalog.settings.api_key is not None:
        try:
            token = bearer_token(request)
        except Unauthorized:
            token = None
        if token is None:
            return _dify_error(1001, 403, "Invalid Authorization header format. Expected 'Bearer <api-key>' format.")
        if not key_matches(catalog.settings, token):
            return _dify_error(1002, 403, "Authorization failed")
    try:
        service = catalog.get(body.knowledge_id)
    except NotFound:
        return _dify_error(2001, 404, f"The knowledge does not exist: {body.knowledge_id!r}")
    try:
        hits = _calibrated(
            service, body.query, body.retrieval_setting.top_k, body.retrieval_setting.score_threshold, _where(body.metadata_condition)
        )
    except QAError as exc:
        return _dify_error(exc.status_code, exc.status_code, str(exc))
    return DifyResponse(
        records=[
            DifyRecord(
                content=hit.chunk.text,
                score=round(p, 6),
                title=hit.chunk.doc_id,
                metadata={**hit.metadata, "doc_id": hit.chunk.doc_id, "chunk_id": hit.chunk.chunk_id,
                          "start": hit.chunk.start, "end": hit.chunk.end},  # fmt: skip
            )
            for hit, p in hits
        ]
    )


# ------------------------------------------------------------------ OpenAI-style vector store search
class RankingOptions(BaseModel):
    score_threshold: float = Field(0.0, ge=0.0, le=1.0)
    ranker: str | None = None


class VectorStoreSearch(BaseModel):
    query: str | list[str]
    max_num_results: int = Field(10, ge=1, le=50)
    filters: dict[str, Any] | None = Field(
        None, description="A comparison {type: eq|ne|gt|gte|lt|lte|in|nin, key, value} or compound {type: and|or, filters}."
    )
    ranking_options: RankingOptions | None = None
    rewrite_query: bool = False


class TextContent(BaseModel):
    type: Literal["text"] = "text"
    text: str


class VectorStoreResult(BaseModel):
    file_id: str
    filename: str
    score: float
    attributes: dict[str, Any]
    content: list[TextContent]


class VectorStoreSearchPage(BaseModel):
    object: Literal["vector_store.search_results.page"] = "vector_store.search_results.page"
    search_query: str | list[str]
    data: list[VectorStoreResult]
    has_more: bool = False
    next_page: str | None = None


_OPENAI_OPS = {"eq": "is", "ne": "is not", "gt": ">", "gte": "≥", "lt": "<", "lte": "≤", "in": "in", "nin": "not in"}


def openai_filter(spec: dict[str, Any]) -> filters.Predicate:
    kind = spec.get("type")
    if kind in ("and", "or"):
        parts = spec.get("filters")
        if not isinstance(parts, list) or not parts:
            raise InvalidInput(f"a compound filter ({kind}) needs a non-empty 'filters' list")
        return filters.combine([openai_filter(p) for p in parts], kind)
    if kind not in _OPENAI_OPS or "key" not in spec:
        raise InvalidInput(f"filter type must be one of {', '.join([*_OPENAI_OPS, 'and', 'or'])} with a key")
    op = _OPENAI_OPS[kind]
    value = spec.get("value")
    if op in ("is", "is not") and isinstance(value, (int, float)) and not isinstance(value, bool):
        op = "=" if op == "is" else "≠"
    return filters.condition(str(spec["key"]), op, value)


@router.post("/v1/vector_stores/{vector_store_id}/search", response_model=VectorStoreSearchPage, dependencies=[Reader])
def vector_store_search(vector_store_id: str, body: VectorStoreSearch, catalog: CatalogDep) -> VectorStoreSearchPage:
    """OpenAI's vector store search shape, so clients written for hosted file search can point at qa."""
    service = catalog.get(vector_store_id)
    query = body.query if isinstance(body.query, str) else " ".join(body.query)
    threshold = body.ranking_options.score_threshold if body.ranking_options else 0.0
    where = openai_filter(body.filters) if body.filters else None
    hits = _calibrated(service, query, body.max_num_results, threshold, where)
    return VectorStoreSearchPage(
        search_query=body.query,
        data=[
            VectorStoreResult(
                file_id=hit.chunk.doc_id,
                filename=hit.chunk.doc_id.rsplit("/", 1)[-1],
                score=round(p, 6),
                attributes={**hit.metadata, "chunk_id": hit.chunk.chunk_id, "start": hit.chunk.start, "end": hit.chunk.end},
                content=[TextContent(text=hit.chunk.text)],
            )
            for hit, p in hits
        ],
    )
