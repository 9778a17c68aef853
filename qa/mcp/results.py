"""What the MCP tools return: plain data, whose JSON schema is each tool's output schema.

``search`` and ``fetch`` are shaped for two kinds of client at once. ChatGPT's
apps and deep research read ``{"results": [{"id", "title", "url"}]}`` from
search and ``{"id", "title", "text", "url", "metadata"}`` from fetch, as one
JSON text item; every other client gets qa's own fields beside those (offsets,
page and section, the calibrated score, the answering sentence), in the same
object and as structured content.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from qa.config import SearchMode


class Span(BaseModel):
    text: str = Field(description="The number, date, name or place in the sentence that answers.")
    start: int
    end: int
    kind: Literal["number", "date", "person", "place"]


class Sentence(BaseModel):
    text: str
    start: int = Field(description="Character offset of the sentence in its document.")
    end: int
    span: Span | None = Field(None, description="The answer inside the sentence, when it is a number, date or name.")


class Passage(BaseModel):
    id: str = Field(description="The passage's id: pass it to fetch.")
    title: str = Field(description="The document's title (metadata 'title', else its doc_id), and section if known.")
    url: str = Field(description="Where to cite it: the document's link, or its qa:// address.")
    text: str = Field(description="The passage: a paragraph of the document, exactly as written.")
    doc_id: str = Field(description="The document's id: pass it to fetch for the whole document.")
    chunk_id: str
    start: int = Field(description="Character offset of the passage in its document.")
    end: int
    page: int | None = Field(None, description="Page of the document the passage starts on, when known.")
    section: str | None = Field(None, description="Heading of the section the passage is in, when known.")
    score: float = Field(description="Estimated probability (0-1) that the passage holds the answer.")
    sentence: Sentence | None = Field(description="The passage's sentence that best answers the query.")
    metadata: dict[str, Any] = Field(description="The document's metadata.")


class SearchResults(BaseModel):
    results: list[Passage] = Field(description="Best first; none when the best is below min_relevance.")
    collection: str
    mode: SearchMode
    answer_translation: str | None = Field(
        None, description="For a question asked in English: the first passage's answering sentence in English."
    )
    not_found: str | None = Field(
        None,
        description="Set when the documents do not hold the answer (no passage reaches min_relevance): say so to "
        "the user rather than answer from these results.",
    )


class Fetched(BaseModel):
    id: str
    title: str
    text: str = Field(description="The passage, or the whole document's text (HTML reduced to text).")
    url: str
    metadata: dict[str, Any] = Field(description="The document's metadata.")
    kind: Literal["passage", "document"]
    collection: str
    doc_id: str
    chunk_id: str | None = Field(description="The passage's chunk_id; null for a document.")
    start: int = Field(description="Character offset of text in the document (0 for a whole document).")
    end: int
    page: int | None = None
    section: str | None = None
    truncated: bool = Field(
        False,
        description="The document was longer than QA_MCP_FETCH_MAX_CHARS and text stops at end; search it, "
        "or fetch its passages by id, for the rest.",
    )


class Collection(BaseModel):
    name: str = Field(description="Pass it as search's collection.")
    documents: int
    passages: int


class Collections(BaseModel):
    collections: list[Collection]
