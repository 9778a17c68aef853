"""Request and response bodies of qa's own HTTP API."""

from __future__ import annotations

from pydantic import BaseModel, Field

from qa.config import SearchMode
from qa.retrieval import Hit


class SearchRequest(BaseModel):
    query: str = Field(..., description="A question or keywords, in any language the model knows.", examples=["青岛市虚拟现实产业园规划面积有多大?"])
    top_k: int = Field(5, ge=1, le=100, description="How many passages to return.")
    mode: SearchMode | None = Field(None, description="dense, lexical or hybrid; the server default when omitted.")


class Passage(BaseModel):
    chunk_id: str
    doc_id: str
    text: str
    score: float = Field(..., description="The ranking score of the chosen mode.")
    start: int = Field(..., description="Character offset of the passage in the source document.")
    end: int
    dense_score: float | None = Field(None, description="Cosine similarity to the query, when computed.")
    lexical_score: float | None = Field(None, description="BM25 score, when computed.")

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
