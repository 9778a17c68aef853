"""The JSON bodies of qa's own HTTP API: plain data, shared by the server, the MCP server, :mod:`qa.client` and
``--json`` output.

It sits below every front end (``api/``, ``mcp/``, ``client/``, the CLI) so none of them imports another's
package for a shape. Nothing of qa's core is imported here. Responses are built from the core's
result objects by attribute (``model_validate(result, from_attributes=True)``):
the core's results carry the same field names, so a shape is declared once,
here, and the client parses responses into these same classes.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from qa.config import SearchMode

# Declared in the spec; checked by the service, whose message ("query must not be empty") is the readable one.
NOT_BLANK: dict[str, Any] = {"pattern": r"\S", "minLength": 1}
Scalar = str | int | float | bool | None
# A filter's values: one scalar, or a non-empty list of them (an empty list could match nothing).
Filter = dict[str, Annotated[Scalar | Annotated[list[Scalar], Field(min_length=1)], Field(union_mode="left_to_right")]]
FILTER_DESCRIPTION = (
    'Only passages of documents that match: {"doc_id": ["a.txt", "b.md"], "lang": "zh"}. '
    "Every key must match; a list matches any of its values; keys other than doc_id are metadata."
)


def _round6(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


Score = Annotated[float, AfterValidator(_round6)]
OptionalScore = Annotated[float | None, AfterValidator(_round6)]
Probability = Annotated[float, AfterValidator(lambda v: round(v, 4))]


def _lone_surrogate(value: Any) -> str | None:
    """The first lone surrogate in any string of a decoded JSON value, as U+XXXX; None when all is text."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError as exc:
                return f"U+{ord(item[exc.start]):04X}"
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return None


class Body(BaseModel):
    """A request body. JSON may escape lone surrogates (``"\\ud800"``), which are not text: refused here, with a
    readable 422, before they reach the tokenizer or the disk."""

    @model_validator(mode="before")
    @classmethod
    def _only_text(cls, data: Any) -> Any:
        bad = _lone_surrogate(data)
        if bad is not None:
            raise ValueError(
                f"the request contains a lone surrogate ({bad}), which is not a character; send UTF-8 text"
            )
        return data


class Wire(BaseModel):
    """A response body, built from a core result's attributes; unknown fields from a newer server are ignored."""

    model_config = ConfigDict(from_attributes=True, extra="ignore")


class QueryBody(Body):
    """qa's own query bodies: a field it does not know is refused (422 naming it), not silently ignored."""

    model_config = ConfigDict(extra="forbid")


MIN_RELEVANCE_DESCRIPTION = (
    "When the best passage's relevance is below this, the documents are taken not to hold the answer; the "
    "server's QA_MIN_RELEVANCE when omitted, 0 to turn it off."
)


class SearchRequest(QueryBody):
    query: str = Field(
        ...,
        json_schema_extra=NOT_BLANK,
        description="A question or keywords, in any language the model knows.",
        examples=["青岛市虚拟现实产业园规划面积有多大?"],
    )
    top_k: int = Field(5, ge=1, le=100, description="How many passages to return.")
    mode: SearchMode | None = Field(None, description="dense, lexical or hybrid; the server default when omitted.")
    filter: Filter | None = Field(None, description=FILTER_DESCRIPTION, examples=[{"doc_id": ["laoshan-vr-ai.txt"]}])
    min_relevance: float | None = Field(
        None, strict=True, ge=0, le=1, description=MIN_RELEVANCE_DESCRIPTION + " /search then returns no passages."
    )


class Passage(Wire):
    chunk_id: str
    doc_id: str
    text: str
    score: Score = Field(
        ...,
        description="The ranking score of the mode: cosine (dense), BM25 share of the query's ceiling (lexical), their mix (hybrid).",
    )
    relevance: Probability = Field(
        ...,
        ge=0,
        le=1,
        description="The calibrated score: the estimated probability that the passage holds the answer, the same "
        "scale in every mode.",
    )
    start: int = Field(..., description="Character offset of the passage in the source document.")
    end: int
    dense_score: OptionalScore = Field(None, description="Cosine similarity to the query, when computed.")
    lexical_score: OptionalScore = Field(None, description="BM25 score, when computed.")
    metadata: dict[str, Any] = Field(default_factory=dict, description="The source document's metadata.")
    page: int | None = Field(None, description="1-based page of a PDF where the passage starts.")
    section: str | None = Field(None, description="The heading the passage stands under (DOCX, Markdown, HTML, PDF).")


NOT_FOUND_DESCRIPTION = "Why nothing answers, when nothing does: the documents hold no passage relevant enough."


class SearchResponse(Wire):
    query: str
    mode: SearchMode
    results: list[Passage]
    min_relevance: Probability = Field(..., description="The threshold applied.")
    not_found: str | None = Field(None, description=NOT_FOUND_DESCRIPTION)
    took_ms: Annotated[float, AfterValidator(lambda v: round(v, 3))]


class AskRequest(QueryBody):
    question: str = Field(
        ...,
        json_schema_extra=NOT_BLANK,
        description="A natural-language question.",
        examples=["How large is the planned area of the Qingdao VR industrial park?"],
    )
    top_k: int = Field(5, ge=1, le=100)
    mode: SearchMode | None = None
    filter: Filter | None = Field(None, description=FILTER_DESCRIPTION)
    min_relevance: float | None = Field(
        None,
        strict=True,
        ge=0,
        le=1,
        description=MIN_RELEVANCE_DESCRIPTION + " Below it the answer is null, with the reason.",
    )


class AnswerSpan(Wire):
    text: str = Field(..., description="The number, date, name or place inside the sentence that answers.")
    start: int = Field(..., description="Character offset in the source document.")
    end: int
    kind: Literal["number", "date", "person", "place"]


class AnswerSentence(Wire):
    text: str
    start: int = Field(..., description="Character offset of the sentence in the source document.")
    end: int
    score: Probability = Field(
        ..., description="The answering model's probability that this is the passage's sentence that answers."
    )
    span: AnswerSpan | None = Field(
        None, description="Where the question asks for a number, date, name or place: that thing in the sentence."
    )


class AskPassage(Passage):
    sentence: AnswerSentence = Field(..., description="The sentence of this passage that best answers the question.")


class Answer(AnswerSentence):
    doc_id: str
    chunk_id: str
    relevance: Probability = Field(..., description="The relevance of its passage.")
    translation: str | None = Field(
        None, description="The sentence in English, when the question is in Latin letters and qa can translate."
    )


class AskResponse(Wire):
    question: str
    mode: SearchMode
    answer: Answer | None = Field(
        ..., description="The best passage's answering sentence; null when no passage reaches min_relevance."
    )
    not_found: str | None = Field(None, description=NOT_FOUND_DESCRIPTION + " Set when answer is null.")
    min_relevance: Probability = Field(..., description="The threshold applied.")
    results: list[AskPassage] = Field(
        ..., description="The nearest passages, each with its relevance, also when none answers."
    )
    took_ms: Annotated[float, AfterValidator(lambda v: round(v, 3))]


class TranslationProgress(Wire):
    """The English channel's backfill (``QA_TRANSLATE_PASSAGES``): of the live passages, how many are in it."""

    translated: int = Field(..., description="Passages translated and encoded, searchable through the channel.")
    passages: int = Field(..., description="Live passages of the index.")
    running: bool = Field(..., description="A batch is being translated now.")
    error: str | None = Field(
        None,
        description="Why translating stopped: no model (install it, restart), or a failed batch (retried at the next change).",
    )


class Health(Wire):
    status: str = "ok"
    documents: int
    chunks: int
    model: str
    dim: int
    index_created_at: str
    translation: TranslationProgress | None = Field(
        None, description="The English channel's progress; null when QA_TRANSLATE_PASSAGES is off."
    )


class ErrorBody(BaseModel):
    detail: str


class DocumentIn(Body):
    doc_id: str | None = Field(
        None,
        description="Name in the docs folder, e.g. 'faq.md' or 'team/notes.txt'; '.txt' is added without a suffix.",
        examples=["faq.md"],
    )
    text: str = Field(
        ..., json_schema_extra=NOT_BLANK, description="The document's text (HTML when doc_id ends in .html)."
    )
    metadata: dict[str, Any] | None = Field(
        None, description="Returned with every hit; filterable.", examples=[{"lang": "en"}]
    )


class BuildCounts(Wire):
    added: int
    changed: int
    removed: int
    unchanged: int
    chunks: int = Field(..., description="Chunks in the index afterwards.")
    embedded: int = Field(..., description="Windows embedded by this change (0 when nothing new).")


class DocumentIndexed(Wire):
    doc_id: str
    chunks: int = Field(..., description="Chunks of this document now in the index.")
    sha256: str | None
    created: bool
    index: BuildCounts


class BulkIn(Body):
    documents: list[DocumentIn] = Field(..., min_length=1, description="Each with its doc_id.")


class DocumentOutcome(Wire):
    doc_id: str = Field(..., description="The name it is stored under (or was sent as, when refused).")
    status: int = Field(..., description="201 created, 200 replaced, or the 4xx a single-document request would get.")
    chunks: int | None = None
    sha256: str | None = None
    error: str | None = Field(None, description="Why it was refused; the other documents are unaffected.")


class BulkIndexed(Wire):
    documents: list[DocumentOutcome] = Field(..., description="One outcome per document, in the order sent.")
    errors: bool = Field(..., description="Whether any document was refused.")
    index: BuildCounts | None = Field(..., description="The one index change (null when nothing landed).")


class DocumentSummary(Wire):
    doc_id: str
    sha256: str
    chunks: int
    metadata: dict[str, Any]
    bytes: int | None = Field(None, description="Size of its file in the docs folder; null when the file has gone.")
    modified: str | None = Field(None, description="When its file last changed (ISO 8601, UTC).")


class DocumentDetail(DocumentSummary):
    text: str | None = Field(..., description="The indexed text (HTML reduced to text); passage offsets index it.")


class DocumentList(Wire):
    documents: list[DocumentSummary]
    total: int | None = Field(None, description="Documents that match q, over all pages.")
    passages: int | None = Field(None, description="Their passages, over all pages.")
    next_cursor: str | None = Field(None, description="Pass as cursor for the next page; null on the last one.")


class Formats(Wire):
    suffixes: list[str] = Field(..., description="File name suffixes a document may have, e.g. '.md'.")
    max_bytes: int = Field(..., description="The largest document accepted over HTTP (QA_MAX_DOCUMENT_BYTES).")


JobState = Literal["queued", "running", "succeeded", "failed", "interrupted"]


class Job(Wire):
    id: str
    kind: str
    state: JobState
    done: int = Field(..., description="Windows embedded so far.")
    total: int = Field(..., description="Windows to embed (0 until known).")
    created_at: str
    finished_at: str | None
    result: dict[str, Any] | None = Field(..., description="Counts of the finished build.")
    error: str | None


class JobList(Wire):
    jobs: list[Job]


class CollectionIn(Body):
    name: str = Field(
        ...,
        pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$",
        description="1-64 lower-case letters, digits, '-' or '_'.",
        examples=["support-kb"],
    )


class Collection(Wire):
    name: str
    documents: int
    chunks: int


class CollectionList(Wire):
    collections: list[Collection]
