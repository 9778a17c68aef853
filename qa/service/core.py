"""The core object of one collection: its settings, the loaded model, the live index and the one writer.

It is the one way in for every front end (HTTP, CLI, MCP, the watcher): queries
are checked here and answered by :mod:`qa.search`; every write passes through
:meth:`QAService.prepare`, :meth:`~QAService.embed` and :meth:`~QAService.store`
(or :meth:`~QAService.write_later`, a background :class:`Jobs` entry, when it is
large), which the :class:`qa.index.writer.Writer` carries out. What it returns
are the result types the front ends render; none of them is HTTP.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Any

from qa.config import SearchMode, Settings
from qa.encoder.batching import BatchingEmbedder, CachedPassages
from qa.encoder.embedder import Embedder, load_embedder
from qa.errors import BadDocument, InvalidInput, NotFound, QAError
from qa.index import backend
from qa.index.backend import IndexView
from qa.index.building import BuildReport, Progress
from qa.index.chunking import Chunk
from qa.index.live import LiveIndex
from qa.index.writer import DocumentChange, Upload
from qa.ingest import folder, names
from qa.search import answering, english, lexicon, reader, retrieval
from qa.search.filters import Predicate
from qa.search.retrieval import Hit
from qa.search.translated import EnglishView
from qa.service import listing
from qa.service.changes import Batch, NewDocument, Written, change_data
from qa.service.channel import EnglishChannel
from qa.service.jobs import Job, Jobs
from qa.translate.loader import LazyTranslator


@dataclass(frozen=True)
class SearchResult:
    query: str
    mode: SearchMode
    results: list[Hit]  # none when the first is below min_relevance
    took_ms: float
    min_relevance: float = 0.0
    not_found: str | None = None  # why nothing answers, when nothing does


@dataclass(frozen=True)
class Answer:
    """The answer to a question: the best sentence of the best passage, with where it stands."""

    text: str
    start: int
    end: int
    score: float  # the answering model's probability for this sentence among its passage's
    doc_id: str
    chunk_id: str
    relevance: float  # its passage's
    span: answering.Span | None = None
    translation: str | None = None  # the sentence in English, for a question in Latin letters (translate_answer)


@dataclass(frozen=True)
class AskResult:
    question: str
    mode: SearchMode
    answer: Answer | None  # None below min_relevance: not_found says why
    results: list[Hit]  # the nearest passages, each with its answering sentence, whatever their relevance
    took_ms: float
    min_relevance: float = 0.0
    not_found: str | None = None


def not_found(hits: Sequence[Hit], min_relevance: float) -> str | None:
    """Why the passages found do not answer, in words a person or an agent can act on; None when the first does."""
    if not hits:
        return "Not found in your documents: no passage matches."
    if hits[0].relevance < min_relevance:
        return (
            f"Not found in your documents: the nearest passage's relevance {hits[0].relevance:.2f} is below "
            f"min_relevance {min_relevance:.2f}."
        )
    return None


@dataclass(frozen=True)
class DocumentInfo:
    doc_id: str
    sha256: str
    chunks: int
    metadata: dict[str, Any]
    text: str | None = None
    bytes: int | None = None  # the file in the docs folder now; None when it has gone
    modified: str | None = None  # its modification time, ISO 8601 UTC


def _on_disk(docs_dir: Path, doc_id: str) -> tuple[int | None, str | None]:
    try:
        st = (docs_dir / doc_id).stat()
    except OSError:
        return None, None
    return st.st_size, datetime.fromtimestamp(st.st_mtime, timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class PassageInfo:
    """One indexed passage found by its id, with its document's metadata (no scores: nothing was asked)."""

    chunk: Chunk
    metadata: dict[str, Any]


@dataclass(frozen=True)
class _Query:
    """What a search and an ask both start from: the checked text, the mode, one index for the whole request."""

    text: str
    mode: SearchMode
    index: IndexView
    started: float

    def took_ms(self) -> float:
        return (time.perf_counter() - self.started) * 1000


class QAService:
    """Queries from the live index; writes through one :class:`Writer`; rebuilds as background :class:`Jobs`."""

    def __init__(
        self,
        settings: Settings,
        embedder: Embedder,
        translator: LazyTranslator | None = None,
        reader_: reader.LazyReader | None = None,
    ) -> None:
        self.settings = settings
        self.embedder = embedder
        self.translator = translator or LazyTranslator(settings)
        self.live = LiveIndex()
        self.writer = backend.open_writer(settings, embedder, self.live)
        self.live.follow(self.writer.on_disk)
        self.jobs = Jobs(settings.index_dir / "jobs.json")  # kept across restarts (see qa.service.jobs)
        self.sentences = CachedPassages(embedder, settings.sentence_cache_size)
        self.channel = (  # passages in English, filled in the background (qa.service.channel); off by default
            EnglishChannel(settings, embedder, self.live, self.translator.translate_passages)
            if settings.translate_passages
            else None
        )
        self.reader = reader_ or reader.LazyReader(settings, embedder)  # shared by a process's collections

    @classmethod
    def open(cls, settings: Settings, embedder: Embedder | None = None) -> QAService:
        """A service over the configured model, its queries micro-batched and cached (:mod:`qa.encoder.batching`)."""
        inner = embedder or load_embedder(settings)
        batching = BatchingEmbedder(
            inner,
            wait_ms=settings.query_batch_wait_ms,
            max_batch=settings.query_batch_max,
            cache_size=settings.query_cache_size,
        )
        return cls(settings, batching)

    @property
    def index(self) -> IndexView:
        return self.live.get()

    def start(self, progress: Progress | None = None) -> Job | None:
        """Serve the index on disk at once (building it first only if there is none).

        If the docs folder changed while no server ran (files dropped in, a
        write cut short by a crash), a background job brings the index up to
        date while searches are answered from the index as it was.
        """
        stale = self.writer.open(progress)
        self.start_channel()
        # The first question in English should not wait for the dictionary. Only once the index opened: a
        # damaged one ends the process, and a thread still building the table in C++ then aborts it (exit 134).
        lexicon.warm()
        if stale:
            return self.jobs.start("sync", lambda progress: self.sync(progress=progress).counts())
        return None

    def start_rebuild(self, *, from_folder: bool = False) -> Job:
        """Re-embed the whole docs folder in the background; searches use the old index until it is done.

        Refused at once when the folder lacks what a shared index holds (``from_folder`` overrides); the job checks
        again when it starts, since other replicas may write until then."""
        if not from_folder:
            self.writer.check_folder()
        return self.jobs.start(
            "rebuild", lambda progress: self.sync(rebuild=True, progress=progress, from_folder=from_folder).counts()
        )

    # ------------------------------------------------------------ writes: the one way in (see qa.service.changes)
    def prepare(self, items: Sequence[NewDocument], *, create: bool = False, single: bool = False) -> Batch:
        """Check and convert each document without touching anything; one that is refused (or named twice) is its
        error, in its place. ``single``: a request of one document, whose refusal is raised here, at once."""
        prepared: list[Upload | QAError] = []
        seen: set[str] = set()
        for item in items:
            try:
                upload = self.writer.prepare(item.name, item.data, item.metadata, default_suffix=item.default_suffix)
            except QAError as exc:
                if single:
                    raise
                prepared.append(exc)
                continue
            if upload.doc_id in seen:
                prepared.append(BadDocument(f"{upload.doc_id} appears more than once in this request"))
                continue
            seen.add(upload.doc_id)
            prepared.append(upload)
        return Batch([i.name for i in items], prepared, create, single=single)

    def in_background(self, batch: Batch) -> bool:
        """Whether the batch is too large to write while a client waits (``QA_MAX_SYNC_WINDOWS``): :meth:`write_later`."""
        return batch.windows > self.settings.max_sync_windows

    def embed(self, batch: Batch, progress: Progress | None = None) -> Batch:
        """The batch with its vectors, computed without holding the writer, so other writes go on meanwhile."""
        return replace(batch, vectors=self.writer.embed_ahead(*batch.uploads, progress=progress))

    def store(self, batch: Batch, *, timeout: float | None = None) -> Written:
        """Store the batch's documents and index them as one change, waiting at most ``timeout`` seconds for the
        writer (``QA_WRITE_TIMEOUT`` when None). A document that cannot land fails alone, in its place; a failure
        of the index change itself raises, and then none is stored (see ``Writer.put_uploads``)."""
        uploads = batch.uploads  # none when every document was refused: then the writer is not even waited for
        landed = iter(
            self.writer.put_uploads(uploads, create=batch.create, timeout=timeout, ahead=batch.vectors)
            if uploads
            else []
        )
        written = Written(batch.names, [next(landed) if isinstance(p, Upload) else p for p in batch.prepared])
        self._changed()
        return written

    def write(self, batch: Batch, *, progress: Progress | None = None, timeout: float | None = None) -> Written:
        """:meth:`embed` (unless done) then :meth:`store`, in this thread: searchable when this returns."""
        return self.store(batch if batch.vectors is not None else self.embed(batch, progress), timeout=timeout)

    def write_later(self, batch: Batch) -> Job:
        """:meth:`write` in a background job; until it succeeds none of the documents is stored or searchable.

        The result is plain data: a single document's change (``single``), or each document's outcome."""

        def work(progress: Progress) -> dict[str, Any]:
            written = self.write(batch, progress=progress)
            return change_data(written.single()) if batch.single else written.to_data()

        return self.jobs.start("document" if batch.single else "documents", work)

    def put(
        self,
        name: str,
        data: bytes,
        metadata: object = None,
        *,
        create: bool = False,
        default_suffix: str | None = None,
        timeout: float | None = None,
    ) -> DocumentChange:
        """Store one document and index it, searchable when this returns: a batch of one, its refusal raised."""
        batch = self.prepare([NewDocument(name, data, metadata, default_suffix)], create=create, single=True)
        return self.write(batch, timeout=timeout).single()

    def delete(self, name: str, *, timeout: float | None = None) -> DocumentChange:
        """Remove a document's file, metadata and passages (see ``Writer.delete``)."""
        change = self.writer.delete(name, timeout=timeout)
        self._changed()  # its passages leave the channel with the commit; their English is forgotten after
        return change

    def sync(
        self,
        *,
        rebuild: bool = False,
        progress: Progress | None = None,
        timeout: float | None = None,
        from_folder: bool = False,
    ) -> BuildReport:
        """Bring the index in line with the docs folder, embedding only what changed (everything if ``rebuild``);
        ``from_folder``: even where a shared index (Milvus) holds what the folder does not (see ``Writer.sync``)."""
        report = self.writer.sync(rebuild=rebuild, progress=progress, timeout=timeout, from_folder=from_folder)
        self._changed()
        return report

    def ensure(self, progress: Progress | None = None) -> BuildReport | None:
        """Load the index, first building or updating it when it is missing or lags the folder; None when current."""
        report = self.writer.ensure(progress)
        self._changed()
        return report

    def for_reading(self, progress: Progress | None = None) -> BuildReport | None:
        """Load the index for a read command (``qa ask``, ``qa search``, ``qa mcp``): as :meth:`ensure` where the docs
        folder is the truth; where a shared index is the truth (Milvus), only read it (see ``Writer.for_reading``)."""
        report = self.writer.for_reading(progress)
        self._changed()
        return report

    def start_channel(self) -> None:
        """Start translating passages in the background, when ``QA_TRANSLATE_PASSAGES`` is on (:meth:`start` does)."""
        if self.channel is not None:
            self.channel.start()

    def _changed(self) -> None:
        if self.channel is not None:
            self.channel.changed()

    def close(self) -> None:
        """Stop the background work that belongs to this collection (its English channel's backfill)."""
        if self.channel is not None:
            self.channel.close()

    # ------------------------------------------------------------ documents
    def documents(self) -> list[DocumentInfo]:
        entries, docs = self.index.manifest.documents, self.settings.docs_dir
        return [
            DocumentInfo(k, v.sha256, v.chunks, v.metadata, None, *_on_disk(docs, k))
            for k, v in sorted(entries.items())
        ]

    def list_documents(self, *, limit: int | None, cursor: str | None, sort: str, q: str | None) -> listing.Page:
        """One page of :meth:`documents` (see :mod:`qa.service.listing`)."""
        return listing.page(self.documents(), limit=limit, cursor=cursor, sort=sort, q=q)

    def document(self, name: str) -> DocumentInfo:
        """One indexed document with its text as indexed (HTML reduced to text), which chunk offsets index."""
        doc_id = names.check(name)
        entry = self.index.manifest.documents.get(doc_id)
        if entry is None:
            raise NotFound(f"no document {doc_id!r}")
        # None when removed or replaced by hand since it was indexed; the index entry still answers.
        text = folder.read_text(self.settings.docs_dir, doc_id)
        return DocumentInfo(doc_id, entry.sha256, entry.chunks, entry.metadata, text)

    def passage(self, chunk_id: str) -> PassageInfo:
        """One passage by its chunk_id (``<doc_id>#<hash>``), as a search returned it, for front ends that fetch by id."""
        index = self.index
        doc_id = chunk_id.rpartition("#")[0]
        for row in index.doc_rows(doc_id):
            chunk = index.chunks[row]
            if chunk.chunk_id == chunk_id:
                return PassageInfo(chunk, dict(index.manifest.documents[doc_id].metadata))
        raise NotFound(f"no passage {chunk_id!r}; its document may have changed since it was found, so search again")

    # ------------------------------------------------------------ queries
    def _query(self, text: str, top_k: int, mode: SearchMode | None) -> _Query:
        s = self.settings
        if not text or not text.strip():
            raise InvalidInput("query must not be empty")
        if len(text) > s.max_query_chars:
            raise InvalidInput(f"query is {len(text)} characters; the limit is {s.max_query_chars}")
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:  # the tokenizer cannot take it: refuse it here, alone
            raise InvalidInput(
                f"query contains a lone surrogate (U+{ord(text[exc.start]):04X}), which is not text"
            ) from None
        if not 1 <= top_k <= s.max_top_k:
            raise InvalidInput(f"top_k must be between 1 and {s.max_top_k}, got {top_k}")
        return _Query(text.strip(), mode or s.search_mode, self.index, time.perf_counter())

    def _min_relevance(self, given: float | None) -> float:
        if given is None:
            return self.settings.min_relevance
        if not 0.0 <= given <= 1.0:
            raise InvalidInput(f"min_relevance must be between 0 and 1, got {given}")
        return given

    def search(
        self,
        query: str,
        top_k: int = 5,
        mode: SearchMode | None = None,
        where: Predicate | None = None,
        min_relevance: float | None = None,
    ) -> SearchResult:
        """The best passages for ``query``, only from documents ``where`` admits when given (see
        :mod:`qa.search.filters`); none, with the reason, when the first is below ``min_relevance`` (the setting
        when None). The threshold gates the question, not each passage: a right passage ranked second often
        reads lower than it deserves, and a client that wants a floor per passage filters on ``relevance``."""
        q = self._query(query, top_k, mode)
        threshold = self._min_relevance(min_relevance)
        prepared = retrieval.prepare(q.index, q.text, self._question_translator())
        hits = retrieval.search(q.index, self.embedder, prepared, top_k, q.mode, where=where, english=self._view(q))
        reason = not_found(hits, threshold)
        return SearchResult(q.text, q.mode, hits if reason is None else [], q.took_ms(), threshold, reason)

    def ask(
        self,
        question: str,
        top_k: int = 5,
        mode: SearchMode | None = None,
        where: Predicate | None = None,
        min_relevance: float | None = None,
    ) -> AskResult:
        """Search, then pick the answering sentence of every passage; the first passage's is the answer, unless
        its relevance is below ``min_relevance`` (the setting when None): then "not found in your documents"."""
        q = self._query(question, top_k, mode)
        threshold = self._min_relevance(min_relevance)
        prepared = retrieval.prepare(q.index, q.text, self._question_translator())
        qvec = self.embedder.encode_queries([prepared.dense_text])[0]
        channel = self._view(q)
        hits = retrieval.search(
            q.index, self.embedder, prepared, top_k, q.mode, qvec=qvec, where=where, english=channel
        )
        asked = retrieval.question(q.index, prepared)
        # The passage ranking weighs the whole context, so the answer is the
        # best sentence of the best passage rather than the best sentence anywhere.
        reason = not_found(hits, threshold)
        # The reader costs a model pass over the first passage: only for an answer that will be shown.
        read = partial(self.reader.start, q.text) if self.settings.reader and reason is None else None
        english = prepared.translation is not None
        sents = answering.best_sentences(
            [h.chunk for h in hits], asked, qvec, self.sentences, read, reader.mix(english)
        )
        hits = [replace(h, sentence=s) for h, s in zip(hits, sents, strict=True)]
        answer = None
        if reason is None:
            best, sent = hits[0], sents[0]
            translation = self.translate_answer(q.text, sent.text)
            answer = Answer(
                sent.text,
                sent.start,
                sent.end,
                sent.score,
                best.doc_id,
                best.chunk_id,
                best.relevance,
                sent.span,
                translation,
            )
        return AskResult(q.text, q.mode, answer, hits, q.took_ms(), threshold, reason)

    def _view(self, q: _Query) -> EnglishView | None:
        """The English channel over the index this request searches, when it is on and built for that index."""
        return self.channel.view(q.index) if self.channel is not None else None

    def _question_translator(self) -> Callable[[str], str | None] | None:
        """What puts a Chinese question in English for the passages in Latin letters, when that is turned on."""
        return self.translator.translate_one if self.settings.translate_questions else None

    def translate_answer(self, question: str, sentence: str) -> str | None:
        """``sentence`` in English when ``question`` is in Latin letters and a translation model is installed."""
        if not self.settings.translate_answers or not english.applies(question):
            return None
        return self.translator.translate_one(sentence)

    def stats(self) -> dict[str, object]:
        index = self.index
        return {
            "documents": len(index.manifest.documents),
            "chunks": index.live_size,
            "model": self.embedder.name,
            "dim": self.embedder.dim,
            "index_created_at": index.manifest.created_at,
            "translation": asdict(self.channel.progress()) if self.channel is not None else None,
        }
