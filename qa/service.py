"""The core object a server or CLI holds: settings, the loaded model and the live index.

It validates requests, answers searches from the current index and swaps in a
new generation under a lock, so the HTTP layer stays a thin translation and
the whole service can be used in-process without it.
"""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass

from qa import answering, documents, indexing, retrieval, store
from qa.chunking import ChunkParams
from qa.config import SearchMode, Settings
from qa.embedding import Embedder, load_embedder
from qa.errors import IndexMissing, InvalidInput
from qa.indexing import BuildReport, Progress


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


class QAService:
    def __init__(self, settings: Settings, embedder: Embedder) -> None:
        self.settings = settings
        self.embedder = embedder
        self._index: store.Index | None = None
        self._swap = threading.Lock()  # guards self._index

    @classmethod
    def open(cls, settings: Settings, embedder: Embedder | None = None) -> QAService:
        return cls(settings, embedder or load_embedder(settings))

    # ------------------------------------------------------------ the index
    @property
    def chunk_params(self) -> ChunkParams:
        s = self.settings
        return ChunkParams(
            size=s.chunk_size,
            overlap=s.chunk_overlap,
            min_paragraph=s.min_paragraph,
            window=s.window_size,
            window_overlap=s.window_overlap,
        )

    @property
    def index(self) -> store.Index:
        with self._swap:
            if self._index is None:
                raise IndexMissing("the index is not loaded yet")
            return self._index

    def _set_index(self, index: store.Index) -> None:
        with self._swap:
            self._index = index

    def load_index(self) -> store.Index:
        index = store.load(self.settings.index_dir, model=self.embedder.name, dim=self.embedder.dim)
        self._set_index(index)
        return index

    def sync(
        self,
        *,
        rebuild: bool = False,
        progress: Progress | None = None,
        docs: list[documents.Document] | None = None,
    ) -> BuildReport:
        """Bring the index in line with the docs folder, embedding only what changed (everything if ``rebuild``)."""
        s = self.settings
        with store.writer_lock(s.index_dir):
            previous = None
            if not rebuild:
                try:
                    previous = store.load(s.index_dir, model=self.embedder.name, dim=self.embedder.dim)
                except IndexMissing:
                    previous = None
            if docs is None:
                docs = documents.read_folder(s.docs_dir)
            index, report = indexing.build(docs, self.embedder, self.chunk_params, previous, progress)
            # A chunking change re-chunks every document, so it shows up as touched too.
            if report.touched or previous is None:
                store.write(s.index_dir, index)
            else:
                index = previous
        self._set_index(index)
        return report

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
        stale = {d.doc_id: d.sha256 for d in docs} != {k: v.sha256 for k, v in index.manifest.documents.items()}
        if stale or index.manifest.chunking != asdict(self.chunk_params):
            return self.sync(progress=progress, docs=docs)
        return None

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

    def search(self, query: str, top_k: int = 5, mode: SearchMode | None = None) -> SearchResult:
        query = self.validate(query, top_k)
        mode = mode or self.settings.search_mode
        started = time.perf_counter()
        hits = retrieval.search(self.index, self.embedder, query, top_k, mode)
        return SearchResult(query, mode, hits, (time.perf_counter() - started) * 1000)

    def ask(self, question: str, top_k: int = 5, mode: SearchMode | None = None) -> AskResult:
        """Search, then pick the answering sentence of every passage; the best one is the answer."""
        question = self.validate(question, top_k)
        mode = mode or self.settings.search_mode
        started = time.perf_counter()
        index = self.index
        qvec = self.embedder.encode_queries([question])[0]
        hits = retrieval.search(index, self.embedder, question, top_k, mode, qvec=qvec)
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
