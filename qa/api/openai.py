"""OpenAI-style vector store search, so clients written for hosted file search can point at qa.

The vector store id names a collection; scores are calibrated (0..1) as for
Dify, and OpenAI's comparison and compound filters map onto
:mod:`qa.search.filters`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from qa.api.deps import CatalogDep, Reader
from qa.errors import InvalidInput
from qa.search import filters
from qa.wire import Body

router = APIRouter(tags=["chatbots"])


class RankingOptions(BaseModel):
    score_threshold: float = Field(0.0, ge=0.0, le=1.0)
    ranker: str | None = None


# Not blank, as the spec says and the server checks (a blank query is refused: 422), one string or several.
_Query = Annotated[str, Field(min_length=1, pattern=r"\S")]


class VectorStoreSearch(Body):
    query: _Query | Annotated[list[_Query], Field(min_length=1)]
    max_num_results: int = Field(10, ge=1, le=50)
    filters: dict[str, Any] | None = Field(
        None,
        description="A comparison {type: eq|ne|gt|gte|lt|lte|in|nin, key, value} or compound {type: and|or, filters}.",
    )
    ranking_options: RankingOptions | None = None
    rewrite_query: bool = Field(False, strict=True)  # as the spec says: a boolean, not 0 or "yes"


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


def json_type(value: object) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number"
    )


_OPENAI_OPS = {"eq": "is", "ne": "is not", "gt": ">", "gte": "≥", "lt": "<", "lte": "≤", "in": "in", "nin": "not in"}


def openai_filter(spec: object) -> filters.Predicate:
    if not isinstance(spec, dict):
        raise InvalidInput(f"a filter must be an object with a 'type', not {json_type(spec)}")
    kind = spec.get("type")
    if not isinstance(kind, str):
        raise InvalidInput(f"a filter's 'type' must be a string, not {json_type(kind)}")
    if kind in ("and", "or"):
        parts = spec.get("filters")
        if not isinstance(parts, list) or not parts:
            raise InvalidInput(f"a compound filter ({kind}) needs a non-empty 'filters' list")
        return filters.combine([openai_filter(p) for p in parts], kind)
    if kind not in _OPENAI_OPS or not isinstance(spec.get("key"), str):
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
    result = service.search(query, min(body.max_num_results, service.settings.max_top_k), None, where)
    hits = [h for h in result.results if h.relevance >= threshold]
    return VectorStoreSearchPage(
        search_query=body.query,
        data=[
            VectorStoreResult(
                file_id=hit.doc_id,
                filename=hit.doc_id.rsplit("/", 1)[-1],
                score=round(hit.relevance, 6),
                attributes={**hit.metadata, **{k: v for k, v in hit.source().items() if k != "doc_id"}},
                content=[TextContent(text=hit.text)],
            )
            for hit in hits
        ],
    )
