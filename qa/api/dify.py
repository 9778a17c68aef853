"""Dify's External Knowledge API: Dify calls ``<qa base URL>/retrieval`` with a knowledge base id (a collection).

A translation onto :meth:`QAService.search`; scores are the calibrated
relevance of :mod:`qa.search.calibration` (0..1, the same meaning in every
mode), so a score threshold set in Dify means what its users expect. Errors
take Dify's own shape and codes.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from qa.api.deps import CatalogDep, Credentials, key_matches
from qa.api.errors import status_of
from qa.errors import NotFound, QAError
from qa.search import filters
from qa.wire import Body

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


class DifyRequest(Body):
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


@router.post(
    "/retrieval",
    response_model=DifyResponse,
    responses={403: {"model": DifyError}, 404: {"model": DifyError}, 422: {"model": DifyError}},
)
def dify_retrieval(body: DifyRequest, catalog: CatalogDep, credentials: Credentials) -> Any:
    """Dify's External Knowledge API: register qa's base URL in Dify; it calls ``<url>/retrieval``."""
    if catalog.settings.api_key is not None:
        if credentials is None:
            return _dify_error(1001, 403, "Invalid Authorization header format. Expected 'Bearer <api-key>' format.")
        if not key_matches(catalog.settings, credentials.credentials):
            return _dify_error(1002, 403, "Authorization failed")
    try:
        service = catalog.get(body.knowledge_id)
    except NotFound:
        return _dify_error(2001, 404, f"The knowledge does not exist: {body.knowledge_id!r}")
    try:
        setting = body.retrieval_setting
        top_k = min(setting.top_k, service.settings.max_top_k)
        result = service.search(body.query, top_k, None, _where(body.metadata_condition))
        hits = [h for h in result.results if h.relevance >= setting.score_threshold]
    except QAError as exc:
        return _dify_error(status_of(exc), status_of(exc), str(exc))
    return DifyResponse(
        records=[
            DifyRecord(
                content=hit.text,
                score=round(hit.relevance, 6),
                title=hit.doc_id,
                metadata={**hit.metadata, **hit.source()},
            )
            for hit in hits
        ]
    )
