"""The core object a server or CLI holds: settings, the loaded model and the live index.

It validates requests, answers searches from the current index and swaps in a
new generation under a lock, so the HTTP layer stays a thin translation and
the whole service can be used in-process without it.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from qa import answering, doc_ids, documents, retrieval, store
from qa.batching import BatchingEmbedder
from qa.config import SearchMode, Settings
from qa.embedding import Embedder, load_embedder
from qa.errors import IndexMissing, InvalidInput, NotFound, QAError
from qa.filters import Predicate
from qa.indexing import BuildReport, Progress
from qa.jobs import Job, Jobs
from qa.live import LiveIndex
from qa.writer import DocumentChange, Writer


@dataclass(frozen=True)
class SearchResult:
    query: str
    mode: SearchMode
    hits: list[retrieval.Hit]
    took_ms: float


@dataclass(frozen=True)
class AskResult:
    question: str
    mode: SearchMode
    hits: list[retrieval.Hit]
    sentences: list[answering.Sentence]
    answer: tuple[retrieval.Hit, answering.Sentence] | None
    took_ms: float


@dataclass(frozen=True)
class DocumentInfo:
    doc_id: str
    sha256: str
    chunks: int
    metadata: dict[str, Any]
    text: str | None = None


class QAService:
    """Queries from the live index; writes through one :class:`Writer`; rebuilds as background :class:`Jobs`."""

    def __init__(self, settings: Settings, embedder: Embedder) -> None:
        self.settings = settings
        self.embedder = embedder
        self.live = LiveIndex()
        self.writer = Writer(settings, embedder, self.live)
        self.jobs = Jobs()

    @classmethod
    def open(cls, settings: Settings, embedder: Embedder | None = None) -> QAService:
        """A service over the configured model, its queries micro-batched and cached (:mod:`qa.batching`)."""
        inner = embedder or load_embedder(settings)
        batching = BatchingEmbedder(
            inner, wait_ms=settings.query_batch_wait_ms, max_batch=settings.query_batch_max, cache_size=settings.query_cache_size
        )
        return cls(settings, batching)

    # ------------------------------------------------------------ the index
    @property
    def index(self) -> store.Index:
        return self.live.get()

    def load_index(self) -> store.Index:
        index = store.load(self.settings.index_dir, model=self.embedder.name, dim=self.embedder.dim)
        self.live.set(index)
        return index

    def sync(
        self,
        *,
        rebuild: bool = False,
        progress: Progress | None = None,
        docs: list[documents.Document] | None = None,
    ) -> BuildReport:
        """Bring the index in line with the docs folder, embedding only what changed (everything if ``rebuild``)."""
        return self.writer.sync(rebuild=rebuild, progress=progress, docs=docs)

    def ensure_index(self, progress: Progress | None = None) -> BuildReport | None:
        """Load the index, building or updating it first when it is missing or stale.

        A corrupt index or one built by another model is an error for the user
        to resolve, never silently replaced.
        """
        try:
            index = self.load_index()
        except IndexMissing:
            return self.sync(progress=progress)
        docs = documents.read_folder(self.settings.docs_dir)
        now = {d.doc_id: (d.sha256, d.metadata) for d in docs}
        indexed = {k: (v.sha256, v.metadata) for k, v in index.manifest.documents.items()}
        if now != indexed or index.manifest.chunking != asdict(self.writer.params):
            return self.sync(progress=progress, docs=docs)
        return None

    def start_rebuild(self) -> Job:
        """Re-embed the whole docs folder in the background; searches use the old index until it is done."""
        return self.jobs.start("rebuild", lambda progress: self.sync(rebuild=True, progress=progress).counts())

    # ------------------------------------------------------------ documents
    def put_document(self, name: str, data: bytes, metadata: object = None, *, create: bool = False,
                     default_suffix: str | None = None) -> DocumentChange:  # fmt: skip
        return self.writer.put(name, data, metadata, create=create, default_suffix=default_suffix)

    def delete_document(self, name: str) -> DocumentChange:
        return self.writer.delete(name)

    def documents(self) -> list[DocumentInfo]:
        entries = self.index.manifest.documents
        return [DocumentInfo(k, v.sha256, v.chunks, v.metadata) for k, v in sorted(entries.items())]

    def document(self, name: str) -> DocumentInfo:
        """One indexed document with its text as indexed (HTML reduced to text), which chunk offsets index."""
        doc_id = doc_ids.check(name)
        entry = self.index.manifest.documents.get(doc_id)
        if entry is None:
            raise NotFound(f"no document {doc_id!r}")
        try:
            path = doc_ids.path_of(self.settings.docs_dir, doc_id)
            text: str | None = documents.to_text(doc_id, path.read_bytes())
        except (OSError, QAError):
            text = None  # removed or replaced by hand since it was indexed; the index entry still answers
        return DocumentInfo(doc_id, entry.sha256, entry.chunks, entry.metadata, text)

    # ------------------------------------------------------------ queries
    def validate(self, query: str, top_k: int) -> str:
        s = self.settings
        if not query or not query.strip():
            raise InvalidInput("query must not be empty")
        if len(query) > s.max_query_chars:
            raise InvalidInput(f"query is {len(query)} characters; the limit is {s.max_query_chars}")
        if not 1 <= top_k <= s.max_top_k:
            raise InvalidInput(f"top_k must be between 1 and {s.max_top_k}, got {top_k}")
        return query.strip()

    @staticmethod
    def _rows(index: store.Index, where: Predicate | None) -> np.ndarray | None:
        """Chunk rows of the documents ``where`` admits (None: no filter)."""
        if where is None:
            return None
        docs = index.manifest.documents
        rows = [r for d, entry in docs.items() if where(d, entry.metadata) for r in index.doc_rows.get(d, [])]
        return np.asarray(sorted(rows), np.int64)

    def search(
        self, query: str, top_k: int = 5, mode: SearchMode | None = None, where: Predicate | None = None
    ) -> SearchResult:
        """The best passages for ``query``, only from documents ``where`` admits when given (see :mod:`qa.filters`)."""
        query = self.validate(query, top_k)
        mode = mode or self.settings.search_mode
        started = time.perf_counter()
        index = self.index
        hits = retrieval.search(index, self.embedder, query, top_k, mode, only=self._rows(index, where))
        return SearchResult(query, mode, hits, (time.perf_counter() - started) * 1000)

    def ask(
        self, question: str, top_k: int = 5, mode: SearchMode | None = None, where: Predicate | None = None
    ) -> AskResult:
        """Search, then pick the answering sentence of every passage; the best one is the answer."""
        question = self.validate(question, top_k)
        mode = mode or self.settings.search_mode
        started = time.perf_counter()
        index = self.index
        qvec = self.embedder.encode_queries([question])[0]
        hits = retrieval.search(index, self.embedder, question, top_k, mode, qvec=qvec, only=self._rows(index, where))
        sents = answering.best_sentences([h.chunk for h in hits], question, qvec, self.embedder, index.lexical)
        # The passage ranking weighs the whole context, so the answer is the
        # best sentence of the best passage rather than the best sentence anywhere.
        answer = (hits[0], sents[0]) if hits else None
        return AskResult(question, mode, hits, sents, answer, (time.perf_counter() - started) * 1000)

    def stats(self) -> dict[str, object]:
        index = self.index
        return {
            "documents": len(index.manifest.documents),
            "chunks": index.size,
            "model": self.embedder.name,
            "dim": self.embedder.dim,
            "index_created_at": index.manifest.created_at,
        }
