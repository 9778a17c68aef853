"""Request and response bodies of qa's own HTTP API."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from qa.config import SearchMode
from qa.jobs import Job, State
from qa.retrieval import Hit
from qa.service import DocumentInfo
from qa.writer import DocumentChange

FILTER_DESCRIPTION = (
    'Only passages of documents that match: {"doc_id": ["a.txt", "b.md"], "lang": "zh"}. '
    "Every key must match; a list matches any of its values; keys other than doc_id are metadata."
)


class SearchRequest(BaseModel):
    query: str = Field(..., description="A question or keywords, in any language the model knows.", examples=["青岛市虚拟现实产业园规划面积有多大?"])
    top_k: int = Field(5, ge=1, le=100, description="How many passages to return.")
    mode: SearchMode | None = Field(None, description="dense, lexical or hybrid; the server default when omitted.")
    filter: dict[str, Any] | None = Field(None, description=FILTER_DESCRIPTION, examples=[{"doc_id": ["laoshan-vr-ai.txt"]}])


class Passage(BaseModel):
    chunk_id: str
    doc_id: str
    text: str
    score: float = Field(
        ..., description="The ranking score of the mode: cosine (dense), BM25 share of the query's ceiling (lexical), their mix (hybrid)."
    )
    start: int = Field(..., description="Character offset of the passage in the source document.")
    end: int
    dense_score: float | None = Field(None, description="Cosine similarity to the query, when computed.")
    lexical_score: float | None = Field(None, description="BM25 score, when computed.")
    metadata: dict[str, Any] = Field(default_factory=dict, description="The source document's metadata.")

    @classmethod
    def of(cls, hit: Hit) -> Passage:
        c = hit.chunk
        return cls(
            chunk_id=c.chunk_id,
            doc_id=c.doc_id,
            text=c.text,
            score=round(hit.score, 6),
            start=c.start,
            end=c.end,
            dense_score=None if hit.dense_score is None else round(hit.dense_score, 6),
            lexical_score=None if hit.lexical_score is None else round(hit.lexical_score, 6),
            metadata=hit.metadata,
        )


class SearchResponse(BaseModel):
    query: str
    mode: SearchMode
    results: list[Passage]
    took_ms: float


class AskRequest(BaseModel):
    question: str = Field(..., description="A natural-language question.", examples=["How large is the planned area of the Qingdao VR industrial park?"])
    top_k: int = Field(5, ge=1, le=100)
    mode: SearchMode | None = None
    filter: dict[str, Any] | None = Field(None, description=FILTER_DESCRIPTION)


class AnswerSentence(BaseModel):
    text: str
    start: int = Field(..., description="Character offset of the sentence in the source document.")
    end: int
    score: float


class AskPassage(Passage):
    sentence: AnswerSentence = Field(..., description="The sentence of this passage that best answers the question.")


class Answer(AnswerSentence):
    doc_id: str
    chunk_id: str


class AskResponse(BaseModel):
    question: str
    mode: SearchMode
    answer: Answer | None = Field(..., description="The best passage's answering sentence; null when nothing matched.")
    results: list[AskPassage]
    took_ms: float


class Health(BaseModel):
    status: str
    documents: int
    chunks: int
    model: str
    dim: int
    index_created_at: str


class ErrorBody(BaseModel):
    detail: str


class DocumentIn(BaseModel):
    doc_id: str | None = Field(
        None, description="Name in the docs folder, e.g. 'faq.md' or 'team/notes.txt'; '.txt' is added without a suffix.",
        examples=["faq.md"],
    )  # fmt: skip
    text: str = Field(..., min_length=1, description="The document's text (HTML when doc_id ends in .html).")
    metadata: dict[str, Any] | None = Field(None, description="Returned with every hit; filterable.", examples=[{"lang": "en"}])


class BuildCounts(BaseModel):
    added: int
    changed: int
    removed: int
    unchanged: int
    chunks: int = Field(..., description="Chunks in the index afterwards.")
    embedded: int = Field(..., description="Windows embedded by this change (0 when nothing new).")


class DocumentIndexed(BaseModel):
    doc_id: str
    chunks: int = Field(..., description="Chunks of this document now in the index.")
    sha256: str | None
    created: bool
    index: BuildCounts

    @classmethod
    def of(cls, change: DocumentChange) -> DocumentIndexed:
        return cls(
            doc_id=change.doc_id,
            chunks=change.chunks,
            sha256=change.sha256,
            created=change.created,
            index=BuildCounts(**change.report.counts()),
        )


class DocumentSummary(BaseModel):
    doc_id: str
    sha256: str
    chunks: int
    metadata: dict[str, Any]

    @classmethod
    def of(cls, info: DocumentInfo) -> DocumentSummary:
        return cls(doc_id=info.doc_id, sha256=info.sha256, chunks=info.chunks, metadata=info.metadata)


class DocumentDetail(DocumentSummary):
    text: str | None = Field(..., description="The indexed text (HTML reduced to text); passage offsets index it.")


class DocumentList(BaseModel):
    documents: list[DocumentSummary]


class JobOut(BaseModel):
    id: str
    kind: str
    state: State
    done: int = Field(..., description="Windows embedded so far.")
    total: int = Field(..., description="Windows to embed (0 until known).")
    created_at: str
    finished_at: str | None
    result: dict[str, Any] | None = Field(..., description="Counts of the finished build.")
    error: str | None

    @classmethod
    def of(cls, job: Job) -> JobOut:
        return cls(**job.__dict__)


class JobList(BaseModel):
    jobs: list[JobOut]
