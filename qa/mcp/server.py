"""qa's MCP server: search, fetch and list_collections, over the same core as the HTTP API.

Tools are thin, like routes: call the core through the :class:`Catalog`,
shape the result (:mod:`qa.mcp.results`). qa's own errors become tool errors
that carry their readable message; anything else stays the SDK's generic
error, with the traceback only in the server's log. The SDK runs these plain
``def`` tools in worker threads, so the model never blocks the event loop.

No ``from __future__ import annotations`` here: the SDK builds each tool's
schemas from its annotations, which name values (``settings.max_top_k``)
known only when the server is built.
"""

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import anyio
from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.stdio import stdio_server
from mcp.types import Tool, ToolAnnotations
from pydantic import Field, ValidationError

import qa
from qa.config import SearchMode, Settings
from qa.errors import NotFound, NotReady, QAError
from qa.mcp import ids, results
from qa.search import filters
from qa.search.answering import Sentence
from qa.search.retrieval import Hit
from qa.service.catalog import DEFAULT, Catalog
from qa.service.core import QAService
from qa.wire import FILTER_DESCRIPTION, NOT_BLANK, Filter

log = logging.getLogger(__name__)

INSTRUCTIONS = (
    "qa answers questions from collections of documents (Chinese and English, either language for either). "
    "Call search with the user's question in their own words: each passage comes with the sentence that best "
    "answers it and a score that estimates the chance it holds the answer. Call fetch with a result's id for "
    "that passage with its metadata, or with its doc_id for the whole document. Cite results by url. "
    "list_collections names the collections and their sizes."
)
SEARCH = (
    "Search a collection of documents for the passages that answer a question, by meaning and by words "
    "(Chinese and English; a question in one language finds passages in the other). Returns the best passages "
    "first, each with its id (for fetch), title, url, text, doc_id, character offsets, page and section when "
    "known, score (estimated probability, 0-1, that it holds the answer) and the sentence that best answers "
    "the query. When no passage is likely to hold the answer, results are empty and not_found says so: tell "
    "the user the documents do not answer it."
)
FETCH = (
    "Fetch one passage or one whole document by the id a search returned: a passage id (its 'id', which "
    "ends in '#' and 12 hex digits) gives that passage with its offsets and its document's metadata; a "
    "document id (a result's 'doc_id', e.g. 'faq/parking.txt') gives the document's whole text. Ids of "
    "collections other than 'default' read qa://<collection>/<doc_id>[#<hash>]; a result's url works too."
)
LIST = "List the document collections qa holds, with how many documents and passages each has."
READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False)


@contextmanager
def _tool_errors() -> Iterator[None]:
    """qa's errors reach the model as tool errors with their message (the SDK would hide it)."""
    try:
        yield
    except QAError as exc:
        raise ToolError(str(exc)) from None


def _open(catalog: Catalog, collection: str) -> QAService:
    try:
        return catalog.get(collection)
    except NotFound:
        raise NotFound(f"no collection {collection!r}; there are: {', '.join(catalog.names())}") from None


def _located(item: Any) -> tuple[int | None, str | None]:
    """Page and section, where the document has them (read softly: not every index records them)."""
    chunk = getattr(item, "chunk", None)
    page, section = getattr(item, "page", None), getattr(item, "section", None)
    page = getattr(chunk, "page", None) if page is None else page
    section = getattr(chunk, "section", None) if section is None else section
    return page, section


def _title(doc_id: str, metadata: dict[str, Any], section: str | None) -> str:
    title = metadata.get("title")
    title = title if isinstance(title, str) and title.strip() else doc_id
    return f"{title} — {section}" if section else title


class QAServer(MCPServer):
    """An MCP server whose tool descriptions end with qa's collections and their sizes as they are now."""

    def __init__(self, catalog: Callable[[], Catalog], on_serving: Callable[[], None] | None = None) -> None:
        # log_level: the SDK calls logging.basicConfig; WARNING is what Python logs anyway when nobody configured it.
        super().__init__("qa", version=qa.__version__, instructions=INSTRUCTIONS, log_level="WARNING")
        self.catalog = catalog
        self.on_serving = on_serving

    async def run_stdio_async(self) -> None:
        """The SDK's, calling ``on_serving`` once stdio is claimed: from then on stdout (fd 1) leads to stderr, so
        whatever the index loading started there prints can never corrupt the protocol's wire."""
        async with stdio_server() as (read_stream, write_stream):
            if self.on_serving is not None:
                self.on_serving()
            low = self._lowlevel_server
            await low.run(read_stream, write_stream, low.create_initialization_options())

    def collections(self) -> list[results.Collection]:
        catalog, found = self.catalog(), []
        for name in catalog.names():
            try:
                info = catalog.info(name)
            except QAError as exc:  # a damaged or half-deleted collection must not hide the others
                log.warning("collection %r: %s", name, exc)
                continue
            found.append(results.Collection(name=name, documents=info.documents, passages=info.chunks))
        return found

    async def list_tools(self) -> list[Tool]:
        tools = await super().list_tools()
        try:
            found = await anyio.to_thread.run_sync(self.collections)  # may open a collection's index from disk
        except NotReady as exc:  # still indexing: the tools are listed, and say so
            return [t.model_copy(update={"description": f"{t.description}\n\n{exc}"}) for t in tools]
        sizes = "; ".join(
            f"{c.name} ({_count(c.documents, 'document')}, {_count(c.passages, 'passage')})" for c in found
        )
        line = f"\n\nCollections: {sizes}." if found else ""
        return [t.model_copy(update={"description": f"{t.description}{line}"}) for t in tools]

    async def call_tool(self, name: str, arguments: dict[str, Any], context: Any = None) -> Any:
        """Arguments that do not fit a tool's schema are named in one line each, not in pydantic's report."""
        try:
            return await super().call_tool(name, arguments, context)
        except ToolError as exc:
            if type(exc) is ToolError and isinstance(exc.__cause__, ValidationError):
                raise ToolError(f"Error executing tool {name}: {_readable(exc.__cause__)}") from exc.__cause__
            raise


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _readable(exc: ValidationError) -> str:
    parts = dict.fromkeys(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
    return "invalid arguments: " + "; ".join(parts)


def build(catalog: Callable[[], Catalog], settings: Settings, on_serving: Callable[[], None] | None = None) -> QAServer:
    """The server over ``catalog()``, a callable: the catalog exists only once the index is loaded (until then
    it raises :class:`NotReady`, which the tools report). ``on_serving``: see :meth:`QAServer.run_stdio_async`."""
    server = QAServer(catalog, on_serving)
    _add_search(server, settings)
    _add_fetch(server, settings)

    @server.tool(name="list_collections", title="List collections", description=LIST, annotations=READ_ONLY)
    def list_collections() -> results.Collections:
        with _tool_errors():
            return results.Collections(collections=server.collections())

    return server


def _add_search(server: QAServer, settings: Settings) -> None:
    # Bounds are stated in the schema but checked by the service, whose messages are the readable ones.
    top_k_bounds = {"minimum": 1, "maximum": settings.max_top_k}

    @server.tool(name="search", title="Search documents", description=SEARCH, annotations=READ_ONLY)
    def search(
        query: Annotated[str, Field(description="The question or keywords.", json_schema_extra=NOT_BLANK)],
        top_k: Annotated[int, Field(description="How many passages.", json_schema_extra=top_k_bounds)] = 5,
        collection: Annotated[str, Field(description="Which collection to search.")] = DEFAULT,
        filter: Annotated[Filter | None, Field(description=FILTER_DESCRIPTION)] = None,
        mode: Annotated[
            SearchMode | None, Field(description="dense (meaning), lexical (words) or hybrid (both, the default).")
        ] = None,
        min_relevance: Annotated[
            float | None,
            Field(
                description="When the best passage's score is below this (0-1), the documents are taken not to hold "
                "the answer; the server's setting when omitted, 0 to always get passages.",
                ge=0,
                le=1,
            ),
        ] = None,
    ) -> results.SearchResults:
        with _tool_errors():
            where = filters.equals(filter) if filter is not None else None
            found = _open(server.catalog(), collection).ask(query, top_k, mode, where, min_relevance)
        kept = [] if found.not_found else found.results
        return results.SearchResults(
            results=[_passage(hit, collection, settings) for hit in kept],
            collection=collection,
            mode=found.mode,
            answer_translation=found.answer.translation if found.answer else None,
            not_found=found.not_found,
        )


def _sentence(sentence: Sentence | None) -> results.Sentence | None:
    if sentence is None:
        return None
    span = sentence.span
    found = results.Span(text=span.text, start=span.start, end=span.end, kind=span.kind) if span else None
    return results.Sentence(text=sentence.text, start=sentence.start, end=sentence.end, span=found)


def _passage(hit: Hit, collection: str, settings: Settings) -> results.Passage:
    page, section = _located(hit)
    return results.Passage(
        id=ids.id_of(collection, hit.chunk_id),
        title=_title(hit.doc_id, hit.metadata, section),
        url=ids.url_of(collection, hit.chunk_id, settings.public_url),
        text=hit.text,
        doc_id=hit.doc_id,
        chunk_id=hit.chunk_id,
        start=hit.start,
        end=hit.end,
        page=page,
        section=section,
        score=round(hit.relevance, 4),
        sentence=_sentence(hit.sentence),
        metadata=hit.metadata,
    )


def _add_fetch(server: QAServer, settings: Settings) -> None:
    @server.tool(name="fetch", title="Fetch a passage or document", description=FETCH, annotations=READ_ONLY)
    def fetch(
        id: Annotated[str, Field(description="A result's id, doc_id or url.", json_schema_extra=NOT_BLANK)],
    ) -> results.Fetched:
        with _tool_errors():
            collection, qa_id = ids.parse(id.strip())
            service = _open(server.catalog(), collection)
            if ids.is_passage(qa_id):
                return _fetched_passage(service, collection, qa_id, settings)
            return _fetched_document(service, collection, qa_id, settings)


def _fetched_passage(service: QAService, collection: str, chunk_id: str, settings: Settings) -> results.Fetched:
    found = service.passage(chunk_id)
    chunk, page_section = found.chunk, _located(found)
    return results.Fetched(
        id=ids.id_of(collection, chunk_id),
        title=_title(chunk.doc_id, found.metadata, page_section[1]),
        text=chunk.text,
        url=ids.url_of(collection, chunk_id, settings.public_url),
        metadata=found.metadata,
        kind="passage",
        collection=collection,
        doc_id=chunk.doc_id,
        chunk_id=chunk_id,
        start=chunk.start,
        end=chunk.end,
        page=page_section[0],
        section=page_section[1],
    )


def _fetched_document(service: QAService, collection: str, doc_id: str, settings: Settings) -> results.Fetched:
    doc = service.document(doc_id)
    if doc.text is None:
        raise ToolError(f"document {doc.doc_id!r} is indexed but its file has left the docs folder; re-index it")
    # A whole document can be megabytes: an agent's context would overflow, so it gets a bounded prefix.
    text = doc.text[: settings.mcp_fetch_max_chars]
    return results.Fetched(
        id=ids.id_of(collection, doc.doc_id),
        title=_title(doc.doc_id, doc.metadata, None),
        text=text,
        url=ids.url_of(collection, doc.doc_id, settings.public_url),
        metadata=doc.metadata,
        kind="document",
        collection=collection,
        doc_id=doc.doc_id,
        chunk_id=None,
        start=0,
        end=len(text),
        truncated=len(text) < len(doc.text),
    )
