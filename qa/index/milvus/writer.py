"""The writer of the Milvus backend: a :class:`~qa.index.writer.BaseWriter`, storing entities instead of segments.

What stays the writer's own: the docs folder first, one writer at a time, a
document write embedding only that document. What differs is storage: a
document write upserts its entities and then deletes its stale ones (so a
search never finds it missing halfway), a whole build fills a new Milvus
collection and then switches the alias, and the collection's state entity
is renewed last, so another process following it sees the write complete.

Writers in different processes take turns through a lease held in the
collection (``lease.py``), as local writers do through a file lock: Milvus has
no compare-and-set, so without one two replicas replacing one document could
interleave (each reading the stale ids before the other's rows land) and leave
its passages mixed or missing, and two state renewals could hide one write
from a follower. A lease is held only while Milvus is written: embedding comes
before it. A rebuild fills its new collection without the lease, so writes
through other replicas go on meanwhile; it reads its starting point under the
lease (so no write is half before it), and at the end takes the lease with
priority, copies into the new collection every document whose version changed
in the old one since it began (or deletes it there, tombstoned or gone:
``marks.py``), and switches the alias.

Milvus is the source of truth, not this machine's docs folder: another qa
process may have written documents this folder never saw. So opening never
syncs the folder into an existing collection, a read command (``qa ask``) only
reads it, and ``qa index`` syncs only a folder that holds what Milvus holds, or
one made the truth (``from_folder``; ``agreement.py``).
"""

from __future__ import annotations

import logging
import secrets
import shutil
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict

import numpy as np

from qa import durable
from qa.config import Settings
from qa.encoder.embedder import Embedder
from qa.errors import Conflict, IndexCorrupt, IndexMissing, IndexUnusable, NotFound, QAError
from qa.index import building
from qa.index.building import BuildReport, Progress
from qa.index.chunking import Chunk, chunk_document, embedding_windows
from qa.index.lexical import TOKENS_VERSION
from qa.index.live import LiveIndex
from qa.index.milvus import agreement, layout, lease, marks
from qa.index.milvus.client import where
from qa.index.milvus.collection import Collection
from qa.index.milvus.layout import State
from qa.index.milvus.records import Records, read_all
from qa.index.milvus.remote import RemoteView
from qa.index.milvus.terms import Delta, Terms, Totals
from qa.index.milvus.view import MilvusView, Part, check, passages
from qa.index.segment import DocEntry, Segment
from qa.index.writer import BaseWriter
from qa.ingest import folder
from qa.ingest.folder import Document

MARKER = "MILVUS"  # in QA_INDEX_DIR: names the Milvus collection, so the catalog finds collections as it does locally
_STEP = 1024  # windows embedded and written per step of a whole build
View = MilvusView | RemoteView  # BM25 in the process, or in Milvus too (QA_MILVUS_LEXICAL)
log = logging.getLogger(__name__)


def _read(collection: Collection, state: State) -> View:
    return RemoteView.read(collection, state) if state.lexical == "milvus" else MilvusView.read(collection, state)


class MilvusWriter(BaseWriter[View]):
    def __init__(self, settings: Settings, embedder: Embedder, live: LiveIndex) -> None:
        super().__init__(settings, embedder, live)  # no merger: Milvus compacts its own segments
        self.collection = Collection(settings)  # connects now: a bad URI or token fails at start, in one line
        self._following = threading.Lock()
        self.owner = secrets.token_hex(8)  # this writer's claims: its own lock, not the lease, serializes them
        self._lease: lease.Lease | None = None

    @contextmanager
    def exclusive(self, timeout: float | None = None, *, leased: bool = True) -> Iterator[None]:
        """One writer at a time: this process' lock, then (``leased``) the collection's lease across processes."""
        started = time.monotonic()
        if not self._lock.acquire(timeout=-1 if timeout is None else timeout):
            raise Conflict("another write is in progress (a rebuild or a document update); try again later")
        try:
            if self.closed:
                raise NotFound(f"the collection of {self.settings.docs_dir} was deleted")
            if not leased:
                yield
                return
            with self._leased(None if timeout is None else max(0.0, timeout - (time.monotonic() - started))):
                yield
        finally:
            self._lock.release()

    @contextmanager
    def _leased(self, timeout: float | None, *, priority: bool = False) -> Iterator[lease.Lease | None]:
        """The collection's lease, unless this writer holds it already or there is no collection yet to write."""
        if self._lease is not None or not self.collection.exists():
            yield self._lease
            return
        self._lease = lease.acquire(self.collection, self.owner, timeout, priority=priority)
        try:
            yield self._lease
        finally:
            held, self._lease = self._lease, None
            held.release()

    # ------------------------------------------------------------ reading
    def _state(self) -> State | None:
        if not self.collection.exists():
            return None
        state = self.collection.state()
        if state is None:
            raise IndexCorrupt(
                f"Milvus collection {self.collection.alias!r} has no state entity; rebuild it with `qa index --rebuild`"
            )
        check(state, self.embedder.name, self.embedder.dim, self.collection.alias)
        return state

    def load(self) -> View:
        """Read the collection (its passages for BM25, or only its records when BM25 is in Milvus) and serve it."""
        if not self.collection.exists():
            raise IndexMissing(
                f"no Milvus collection {self.collection.alias!r} at {where(self.settings)}; build one with `qa index`"
            )
        self.collection.check_dim(self.embedder.dim)
        self.collection.load()
        state = self._state()
        assert state is not None
        if state.lexical == "milvus":
            name = self.collection.behind()
            assert name is not None
            self.collection.load_stats(name)
        view = _read(self.collection, state)
        self.live.set(view)
        return view

    def on_disk(self) -> View | None:
        """The collection as it is now: the view in memory if nothing was written since, else that view caught up."""
        current = self.live.peek()
        state = self._state()
        if state is None:
            return None
        if isinstance(current, MilvusView) and current.state.stamp == state.stamp:
            return current
        if isinstance(current, RemoteView) and current.state.stamp == state.stamp and not current.full:
            return current  # a full one (it met SEEN passages) is replaced by an empty one
        if state.lexical == "milvus":  # records and totals: nothing to catch up on
            return RemoteView.read(self.collection, state)
        with self._following:
            if not isinstance(current, MilvusView) or current.manifest.chunking != state.chunking:
                return MilvusView.read(self.collection, state)
            return self._catch_up(current, state)

    def _catch_up(self, current: MilvusView, state: State) -> MilvusView:
        """``current`` with what other writers changed: only the passages of documents written since are read."""
        now, versions = read_all(self.collection)
        old = current.manifest.documents
        fresh = sorted(d for d, v in versions.items() if current.versions.get(d) != v or old.get(d) != now[d])
        gone = (set(old) - set(now)) | {d for d in fresh if d in old}
        chunks: list[Chunk] = []
        for i in range(0, len(fresh), 256):
            expr = f"kind == {layout.WINDOW} and window == 0 and doc_id in {layout.quoted(fresh[i : i + 256])}"
            chunks += passages(self.collection, expr, versions)
        return current.changed(state, now, gone, chunks, versions)

    def open(self, progress: Progress | None = None) -> bool:
        """Serve the collection; build it from the docs folder only if there is none (never sync into an existing one)."""
        try:
            self.load()
        except IndexMissing:
            self.sync(progress=progress)
        return False

    def for_reading(self, progress: Progress | None = None) -> None:
        """Serve the collection as it is: a read command changes nothing in Milvus, where the folder is one replica's
        copy (syncing it would drop what other replicas wrote), nor builds a missing collection (a mistyped
        collection or URI would be filled from this folder, minutes of embedding, by a question)."""
        try:
            self.load()
        except IndexMissing as exc:
            raise IndexMissing(f"{exc} (asking and searching only read Milvus, they never build it)") from None

    def check_folder(self) -> None:
        """Refuse now a rebuild from the docs folder that its start would refuse (``agreement.py``), so a request
        answers 409 at once rather than with a job that fails; the start checks again, under the lease."""
        if self.collection.exists():
            stored, _ = read_all(self.collection)
            docs = folder.read_folder(self.settings.docs_dir)
            agreement.require(stored, docs, self.settings.docs_dir, self.collection.alias, rebuild=True)

    def destroy(self) -> None:
        self.collection.drop()
        shutil.rmtree(self.settings.index_dir, ignore_errors=True)

    # ------------------------------------------------------------ writing
    def sync(
        self,
        *,
        rebuild: bool = False,
        progress: Progress | None = None,
        docs: list[Document] | None = None,
        timeout: float | None = None,
        from_folder: bool = False,
    ) -> BuildReport:
        """Bring the collection in line with the docs folder: changed documents only, or everything into a new
        collection behind the alias (``rebuild``, a first build, another model or chunking).

        Either is refused (:class:`~qa.errors.FolderDisagrees`, ``agreement.py``) when the folder differs from what
        the collection holds (other replicas' writes would be deleted, reverted or brought back), unless
        ``from_folder`` makes the folder the truth. So a sync of a folder that agrees changes nothing but the
        tokenization version: on Milvus, single documents are written with ``qa add`` / ``qa delete``."""
        with self.exclusive(timeout, leased=False):  # a build takes the lease only to switch (see the docstring)
            try:
                previous = self.on_disk()
            except IndexUnusable:
                if not rebuild:
                    raise
                previous = None
            moved = previous is not None and previous.state.lexical != self.settings.milvus_lexical
            if rebuild or moved or previous is None or not building.compatible(previous, self.embedder, self.params):
                began = self._start(timeout)  # before the folder is read: any write later than this is carried over
                docs = folder.read_folder(self.settings.docs_dir) if docs is None else docs
                report = _plan(_every(previous), docs)
                self._build(docs, report, progress, began=began, agree=not from_folder)
                return report
            docs = folder.read_folder(self.settings.docs_dir) if docs is None else docs
            with self._leased(timeout):
                previous = self.on_disk()  # again: another process may have written before the lease was ours
                assert previous is not None
                stored = _every(previous)
                if not from_folder:  # checked under the lease: no write through another replica falls after it
                    alias = self.collection.alias
                    agreement.require(stored, docs, self.settings.docs_dir, alias, rebuild=False)
                report = _plan(stored, docs)
                if report.touched or previous.manifest.tokens_version != TOKENS_VERSION:
                    wanted = set(report.added) | set(report.changed)
                    upserts = [d for d in docs if d.doc_id in wanted]
                    self._write(previous, upserts, report.removed, self.embedder, report, progress)
                else:
                    self.live.set(previous)
                    report.chunks = previous.live_size
        return report

    def _apply(
        self, upserts: list[Document], removes: list[str], embedder: Embedder, built: Segment | None = None
    ) -> BuildReport:
        """``built`` is always None: Milvus indexes what it is sent, so nothing is built ahead (no ``_build_ahead``)."""
        previous = self.on_disk()
        if previous is None or not building.can_update(previous, embedder, self.params):
            docs = folder.read_folder(self.settings.docs_dir)
            report = BuildReport(added=[d.doc_id for d in docs])
            self._build(docs, report, None, embedder)
            return report
        report = BuildReport()
        old = previous.manifest.documents
        if isinstance(previous, RemoteView):  # one read for the records this asks about, not one each
            previous.records.fetch([*(d.doc_id for d in upserts), *removes])
        for doc in upserts:
            (report.added if doc.doc_id not in old else report.changed).append(doc.doc_id)
        report.removed = [d for d in removes if d in old]
        report.untouched = len(old) - len(report.changed) - len(report.removed)
        self._write(previous, upserts, report.removed, embedder, report, None)
        return report

    def _state_now(self, lexical: str | None = None) -> State:
        """A new state: of the collection's BM25 place (``lexical``), or the configured one for a new collection."""
        lexical = lexical or self.settings.milvus_lexical
        return State(self.embedder.name, self.embedder.dim, asdict(self.params), TOKENS_VERSION, lexical=lexical)

    def _write(
        self,
        previous: View,
        upserts: list[Document],
        removes: list[str],
        embedder: Embedder,
        report: BuildReport,
        progress: Progress | None,
    ) -> None:
        """Upsert and delete documents in the collection behind the alias, then renew its state and the view."""
        old = previous.manifest.documents
        ids = [*(d.doc_id for d in upserts), *removes]  # their records as they were: one read, not one each
        before = previous.records.fetch(ids) if isinstance(previous, RemoteView) else {}
        pieces = [self._piece(previous, doc) for doc in upserts]
        texts = [w for _, _, windows in pieces for ws in windows if isinstance(ws, list) for w in ws]
        fresh = iter(building.encode_all(embedder, texts, progress))
        report.embedded = len(texts)
        try:
            written, added, stats = self._store(previous, pieces, fresh, removes, embedder)
        except BaseException:
            self._renew_anyway(previous.state.lexical)
            raise
        state = self._state_now(previous.state.lexical)
        self.collection.write(None, [state.entity()])  # last: other processes follow once the write is whole
        view: View
        if isinstance(previous, RemoteView):
            assert stats is not None
            view = RemoteView(
                self.collection, previous.name, state, previous.records.changed(before, written, removes), stats.totals
            )
        else:
            gone = {d.doc_id for d in upserts if d.doc_id in old} | set(removes)
            documents = {d: e for d, e in old.items() if d not in gone} | {d: e for d, (e, _) in written.items()}
            versions = {d: v for d, v in previous.versions.items() if d not in gone} | {
                d: v for d, (_, v) in written.items()
            }
            view = previous.changed(state, documents, gone, added, versions)
        report.chunks = view.live_size
        self.live.set(view)

    def _store(
        self,
        previous: View,
        pieces: list[tuple[Document, list[Chunk], list[np.ndarray | list[str]]]],
        fresh: Iterator[np.ndarray],
        removes: list[str],
        embedder: Embedder,
    ) -> tuple[dict[str, tuple[DocEntry, str]], list[Chunk], _Stats | None]:
        """Write each document's entities, then delete ``removes``: each document written's record and version, the
        passages added, and the statistics when BM25 lives in Milvus."""
        old = previous.manifest.documents
        written: dict[str, tuple[DocEntry, str]] = {}
        added: list[Chunk] = []
        stats = _Stats(self.collection, previous) if isinstance(previous, RemoteView) else None
        for doc, chunks, windows in pieces:
            if self._lease is not None:
                self._lease.check()
            vectors = [w if isinstance(w, np.ndarray) else np.vstack([next(fresh) for _ in w]) for w in windows]
            entry = DocEntry(doc.sha256, len(chunks), dict(doc.metadata))
            weights = stats.replace(doc.doc_id, chunks) if stats is not None else None
            rows = layout.document_entities(doc.doc_id, entry, chunks, vectors, embedder.dim, weights)
            stale = set(self.collection.window_ids(doc.doc_id)) if doc.doc_id in old else set()
            self.collection.write(None, rows)  # the new entities first: a search never finds the document missing
            self.collection.delete_ids(sorted(stale - {r["id"] for r in rows}))
            if stats is not None:
                stats.commit()
            written[doc.doc_id] = entry, layout.version_of(rows[-1])
            added += chunks
        if self._lease is not None and removes:
            self._lease.check()
        if stats is not None:
            for doc_id in removes:
                stats.replace(doc_id, [])
        marks.bury(self.collection, removes)  # first: a rebuild under way must not bring them back
        self.collection.delete_documents(removes)
        if stats is not None:
            stats.commit()
        return written, added, stats

    def _renew_anyway(self, lexical: str) -> None:
        """After a write failed midway (Milvus failed, or the lease lapsed: 409), renew the state all the same.

        The documents written before the failure are stored (each whole, in its old version or its new one) though
        the write answers an error: renewed, every process (this one too) reads what is stored, not what it served."""
        try:
            self.collection.write(None, [self._state_now(lexical).entity()])
        except QAError:
            log.warning("could not renew the state of %s after a failed write", self.collection.alias, exc_info=True)

    def _piece(self, previous: View, doc: Document) -> tuple[Document, list[Chunk], list[np.ndarray | list[str]]]:
        """A document's chunks and, per chunk, its stored window vectors when its text is indexed already (only
        metadata changed), else the windows to embed."""
        entry = previous.manifest.documents.get(doc.doc_id)
        if entry is not None and entry.sha256 == doc.sha256:
            chunks = [previous.chunks[r] for r in previous.doc_rows(doc.doc_id)]
            stored: dict[str, list[tuple[int, np.ndarray]]] = {}
            for chunk_id, k, vec in self.collection.window_vectors([c.chunk_id for c in chunks]):
                stored.setdefault(chunk_id, []).append((k, vec))
            kept: list[np.ndarray | list[str]] = [
                np.vstack([v for _, v in sorted(stored[c.chunk_id], key=lambda kv: kv[0])]) for c in chunks
            ]
            return doc, chunks, kept
        chunks = chunk_document(doc.doc_id, doc.text, self.params, doc.layout)
        return doc, chunks, [embedding_windows(c, self.params) for c in chunks]

    def _start(self, timeout: float | None) -> marks.Start:
        """A build's starting point, read under the lease: a write another replica has under way lands whole before
        it (the folder's to replace) or whole after (carried over), never half of each."""
        with self._leased(timeout, priority=True):
            return marks.begin(self.collection)

    def _build(
        self,
        docs: list[Document],
        report: BuildReport,
        progress: Progress | None,
        embedder: Embedder | None = None,
        *,
        began: marks.Start | None = None,
        agree: bool = False,
    ) -> None:
        """Every document into a new collection, then the alias switched to it: searches see the old one until then.

        What other processes wrote meanwhile (since ``began``; the caller holds the lease when None) is carried over
        just before the switch. ``agree``: first refuse ``docs`` unless they are what the old collection held at
        ``began`` (what was written before the start would otherwise be lost)."""
        began = marks.begin(self.collection) if began is None else began
        try:
            if agree and began.name is not None:
                agreement.require(began.records, docs, self.settings.docs_dir, self.collection.alias, rebuild=True)
            self._fill_and_switch(docs, report, progress, embedder or self.embedder, began)
        finally:
            marks.end(self.collection, began)

    def _fill_and_switch(
        self,
        docs: list[Document],
        report: BuildReport,
        progress: Progress | None,
        embedder: Embedder,
        began: marks.Start,
    ) -> None:
        state = self._state_now()
        name = self.collection.create(state)
        plan = [(doc, chunk_document(doc.doc_id, doc.text, self.params, doc.layout)) for doc in docs]
        weigh = None
        if state.lexical == "milvus":  # every passage's terms first: its weights need the corpus' average length
            counted = {c.chunk_id: Terms.of(c.text) for _, chunks in plan for c in chunks}
            delta = Delta()
            delta.add(counted.values())
            avg = Totals.of(None).plus(delta).avg()
            weigh = lambda c: counted[c.chunk_id].weights(avg)  # noqa: E731
        total = sum(len(embedding_windows(c, self.params)) for _, chunks in plan for c in chunks)
        done = 0
        documents: dict[str, DocEntry] = {}
        versions: dict[str, str] = {}
        chunks_all: list[Chunk] = []
        if progress and total:
            progress(0, total)
        batch: list[tuple[Document, list[Chunk]]] = []
        for i, (doc, chunks) in enumerate(plan):
            batch.append((doc, chunks))
            windows = sum(len(embedding_windows(c, self.params)) for _, cs in batch for c in cs)
            if windows >= _STEP or i == len(plan) - 1:
                done += self._fill(name, batch, embedder, (documents, versions), chunks_all, weigh)
                batch = []
                if progress:
                    progress(done, total)
        if weigh is not None:
            self.collection.apply(name, delta, built=True)
        with self._leased(None, priority=True) as held:
            replayed = self._replay(began, held.name, name) if held is not None else False
            self.collection.flush(name)
            if held is not None:
                held.check()  # a write after a lapsed lease could fall between the copy and the switch
            self.collection.switch(name)
        self._mark()
        report.embedded = total
        if replayed:  # the new collection holds what other processes wrote meanwhile: read it whole
            self.live.set(_read(self.collection, state))
            report.chunks = self.live.get().live_size
            return
        report.chunks = len(chunks_all)
        if weigh is not None:
            records = Records(self.collection, name, count=len(documents))  # none kept: a replica holds no corpus
            self.live.set(RemoteView(self.collection, name, state, records, self.collection.totals(name)))
            return
        chunks_all.sort(key=lambda c: (c.doc_id, c.start, c.chunk_id))
        self.live.set(
            MilvusView(
                self.collection,
                state,
                documents,
                [Part.build(chunks_all)],
                [np.ones(len(chunks_all), bool)],
                versions,
            )
        )

    def _replay(self, began: marks.Start, old: str, new: str) -> bool:
        """Carry into ``new`` what was written to ``old`` since the build began (holding the lease, so nothing more
        is): documents written or deleted meanwhile, as stored (nothing is embedded again)."""
        now = self.collection.versions(old)
        written = sorted(d for d, v in now.items() if began.versions.get(d) != v)
        deleted = sorted((set(began.versions) | marks.buried(self.collection, began)) - set(now))
        weigh = None
        if self.collection.sparse(new):  # the statistics follow what is carried over
            delta = Delta()
            delta.add((Terms.of(c.text) for c in self._stored(new, written + deleted)), -1)
            delta.add(Terms.of(c.text) for c in self._stored(old, written))
            avg = self.collection.totals(new).plus(delta).avg()
            weigh = lambda text: Terms.of(text).weights(avg)  # noqa: E731
        self.collection.copy_documents(written, old, new, weigh)
        self.collection.delete_documents(deleted, new)
        if weigh is not None:
            self.collection.apply(new, delta)
        return bool(written or deleted)

    def _stored(self, name: str, doc_ids: list[str]) -> list[Chunk]:
        """The passages of ``doc_ids`` in collection ``name``, of each one's version there."""
        versions = self.collection.versions(name)
        out: list[Chunk] = []
        for i in range(0, len(doc_ids), 256):
            expr = f"kind == {layout.WINDOW} and window == 0 and doc_id in {layout.quoted(doc_ids[i : i + 256])}"
            rows = self.collection.query(expr, [*layout.PASSAGE_FIELDS, "info"], name)
            out += [layout.chunk_of(r) for r in rows if versions.get(r["doc_id"]) == layout.version_of(r)]
        return out

    def _fill(
        self,
        name: str,
        batch: list[tuple[Document, list[Chunk]]],
        embedder: Embedder,
        into: tuple[dict[str, DocEntry], dict[str, str]],
        out: list[Chunk],
        weigh: Callable[[Chunk], dict[int, float]] | None = None,
    ) -> int:
        texts = [w for _, chunks in batch for c in chunks for w in embedding_windows(c, self.params)]
        vecs = iter(building.encode_all(embedder, texts))
        rows = []
        for doc, chunks in batch:
            vectors = [np.vstack([next(vecs) for _ in embedding_windows(c, self.params)]) for c in chunks]
            entry = DocEntry(doc.sha256, len(chunks), dict(doc.metadata))
            weights = [weigh(c) for c in chunks] if weigh is not None else None
            written = layout.document_entities(doc.doc_id, entry, chunks, vectors, embedder.dim, weights)
            into[0][doc.doc_id], into[1][doc.doc_id] = entry, layout.version_of(written[-1])
            rows += written
            out += chunks
        self.collection.write(name, rows)
        return len(texts)

    def _mark(self) -> None:
        """A small file in QA_INDEX_DIR naming the collection: the catalog lists collections by these folders."""
        d = self.settings.index_dir
        d.mkdir(parents=True, exist_ok=True)
        durable.write_file(d / MARKER, f"{self.settings.milvus_uri} {self.collection.alias}\n".encode())


class _Stats:
    """A write's changes to BM25's statistics when they live in Milvus (the writer holds the lease): the weights of
    a document's new passages, and the statistics updated once its entities are written."""

    def __init__(self, collection: Collection, view: RemoteView) -> None:
        self.collection, self.name, self.versions = collection, view.name, view.versions
        self.totals = collection.totals(view.name)  # as stored now: another replica may have written since the view
        self.pending = Delta()

    def replace(self, doc_id: str, chunks: list[Chunk]) -> list[dict[int, float]]:
        """Count the document's stored passages out and ``chunks`` in; the weights of ``chunks``."""
        if doc_id in self.versions:
            expr = f"kind == {layout.WINDOW} and window == 0 and doc_id == {layout.quoted([doc_id])[1:-1]}"
            self.pending.add((Terms.of(c.text) for c in passages(self.collection, expr, self.versions)), -1)
        new = [Terms.of(c.text) for c in chunks]
        self.pending.add(new)
        avg = self.totals.plus(self.pending).avg()
        return [t.weights(avg) for t in new]

    def commit(self) -> None:
        self.totals = self.collection.apply(self.name, self.pending)
        self.pending = Delta()


def _every(view: View | None) -> dict[str, DocEntry]:
    """Every document record of ``view``, in one pass (a replica with BM25 in Milvus reads them only when asked)."""
    return dict(view.manifest.documents.items()) if view is not None else {}


def _plan(old: Mapping[str, DocEntry], docs: list[Document]) -> BuildReport:
    """What bringing the collection (its records ``old``) in line with ``docs`` adds, changes, keeps and removes."""
    report = BuildReport()
    for doc in docs:
        entry = old.get(doc.doc_id)
        if entry is None:
            report.added.append(doc.doc_id)
        elif entry.sha256 == doc.sha256 and entry.metadata == doc.metadata:
            report.unchanged.append(doc.doc_id)
        else:
            report.changed.append(doc.doc_id)
    report.removed = sorted(set(old) - {d.doc_id for d in docs})
    return report
