"""Every change to the index goes through here: one writer at a time, the docs folder first, then a new commit.

Order is what makes a crash harmless: a document is stored in the docs folder
(atomically) before any index work, and a commit (its new segment and
deletions) goes live only when it is complete. A process killed at any point
restarts on the last complete index with every document it accepted still in
the folder, where the next sync finds it. A write that fails (a full disk) undoes its change to the
folder, so the folder and the index keep agreeing. Writers in this process
queue on a lock; writers in other processes (``qa index``, ``qa watch``) on
the index folder's file lock.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import asdict, dataclass
from typing import Generic, TypeVar

import numpy as np

from qa import durable
from qa.config import Settings
from qa.encoder.embedder import Embedder
from qa.errors import BadDocument, Conflict, IndexMissing, IndexUnusable, NotFound, QAError, TooLarge
from qa.index import building, convert, merging, store
from qa.index.building import BuildReport, Progress
from qa.index.chunking import chunk_document, embedding_windows
from qa.index.lexical import TOKENS_VERSION
from qa.index.live import LiveIndex
from qa.index.segment import Segment
from qa.index.view import IndexView
from qa.ingest import folder, formats, names

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DocumentChange:
    """What a document write did: the id it was stored under and what the index now holds for it."""

    doc_id: str
    chunks: int
    sha256: str | None
    created: bool
    report: BuildReport

    @property
    def index(self) -> dict[str, int]:
        """What the index as a whole went through, as counts."""
        return self.report.counts()


@dataclass(frozen=True)
class Upload:
    """A document checked and converted, not yet stored: everything that can be refused is refused by now."""

    doc: folder.Document
    data: bytes
    windows: list[str]  # what indexing it embeds

    @property
    def doc_id(self) -> str:
        return self.doc.doc_id


class _Ahead:
    """An embedder that answers from vectors computed before the lock was taken, and asks the model otherwise."""

    def __init__(self, inner: Embedder, vectors: dict[str, np.ndarray]) -> None:
        self.inner, self.vectors = inner, vectors
        self.name, self.dim = inner.name, inner.dim

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self.inner.encode_queries(texts)

    def encode_passages(self, texts: Sequence[str]) -> np.ndarray:
        if all(t in self.vectors for t in texts):
            return np.vstack([self.vectors[t] for t in texts]) if texts else np.zeros((0, self.dim), np.float32)
        return self.inner.encode_passages(texts)


V = TypeVar("V", bound=IndexView)


class BaseWriter(ABC, Generic[V]):
    """What every backend's writer does alike: refusals before any write, embedding ahead of the lock, the docs
    folder first, one change for a batch of documents. How a change is stored and read back is each backend's
    (``V`` is its view); :class:`qa.index.backend.IndexWriter` is what the rest of qa sees of it."""

    def __init__(self, settings: Settings, embedder: Embedder, live: LiveIndex) -> None:
        self.settings = settings
        self.embedder = embedder
        self.live = live
        self.params = settings.chunk_params
        self.spec = settings.vector_spec
        self.closed = False  # set when the collection is deleted: later writes must not recreate it
        self.commits = 0  # index changes this writer committed (for /metrics)
        self._lock = threading.Lock()

    @abstractmethod
    def exclusive(self, timeout: float | None = None) -> AbstractContextManager[None]:
        """Hold the writer; give up with :class:`Conflict` after ``timeout`` seconds (None waits)."""

    @abstractmethod
    def on_disk(self) -> V | None:
        """The index as stored now, None when there is none."""

    @abstractmethod
    def load(self) -> V:
        """Serve the stored index as it is."""

    @abstractmethod
    def open(self, progress: Progress | None = None) -> bool:
        """Serve the stored index, building it first only if there is none; True when it lags the docs folder."""

    @abstractmethod
    def destroy(self) -> None:
        """Remove the index for good (deleting a collection); the caller holds :meth:`exclusive`."""

    @abstractmethod
    def sync(
        self,
        *,
        rebuild: bool = False,
        progress: Progress | None = None,
        docs: list[folder.Document] | None = None,
        timeout: float | None = None,
        from_folder: bool = False,
    ) -> BuildReport:
        """Bring the index in line with the docs folder, embedding only what changed (everything if ``rebuild``).

        ``from_folder``: the folder is the truth even where a shared index holds what it does not (Milvus)."""

    def check_folder(self) -> None:
        """Refuse (:class:`~qa.errors.FolderDisagrees`) a rebuild from the docs folder that would lose what the
        index holds. Here the folder is always the truth (every write lands in it first): nothing to refuse."""

    @abstractmethod
    def _apply(
        self,
        upserts: list[folder.Document],
        removes: list[str],
        embedder: Embedder,
        built: Segment | None = None,
    ) -> BuildReport:
        """Index the change to these documents (the docs folder holds it already); the caller holds the writer."""

    # ------------------------------------------------------------ opening
    def ensure(self, progress: Progress | None = None) -> BuildReport | None:
        """Load the index, building or updating it first when it is missing or stale; None when it was current."""
        try:
            index = self.load()
        except IndexMissing:
            return self.sync(progress=progress)
        docs = folder.read_folder(self.settings.docs_dir)
        if self._stale(index, docs):
            return self.sync(progress=progress, docs=docs)
        return None

    def for_reading(self, progress: Progress | None = None) -> BuildReport | None:
        """Ready the index for a read command (``qa ask``, ``qa search``, ``qa mcp``): :meth:`ensure`, since here
        the folder is the truth and a read of a stale index would answer from what the folder no longer holds."""
        return self.ensure(progress)

    def _stale(self, index: IndexView, docs: list[folder.Document]) -> bool:
        """Whether ``index`` differs from the folder's documents (text or metadata) or was chunked otherwise."""
        now = {d.doc_id: (d.sha256, d.metadata) for d in docs}
        indexed = {k: (v.sha256, v.metadata) for k, v in index.manifest.documents.items()}
        outdated = index.manifest.chunking != asdict(self.params) or index.manifest.tokens_version != TOKENS_VERSION
        return now != indexed or outdated

    # ------------------------------------------------------------ one document
    def prepare(self, name: str, data: bytes, metadata: object = None, *, default_suffix: str | None = None) -> Upload:
        """Check and convert a document without touching anything: every refusal happens here, before any write."""
        s = self.settings
        doc_id = names.check(name, default_suffix=default_suffix)
        meta = folder.check_metadata(metadata)
        if len(data) > s.max_document_bytes:
            raise TooLarge(
                f"{doc_id} is {len(data)} bytes; the limit is {s.max_document_bytes} (QA_MAX_DOCUMENT_BYTES)"
            )
        doc = folder.make(doc_id, formats.convert(doc_id, data, s.convert_timeout), meta)
        if not doc.text.strip():
            raise BadDocument(f"{doc_id} has no text to index")
        chunks = chunk_document(doc_id, doc.text, self.params, doc.layout)
        windows = [w for c in chunks for w in embedding_windows(c, self.params)]
        return Upload(doc, data, windows)

    def embed_ahead(self, *uploads: Upload, progress: Progress | None = None) -> dict[str, np.ndarray]:
        """Vectors of the uploads' windows, computed without holding the writer, so other writes go on meanwhile.

        Not of a document whose text is indexed already (only its metadata changes): its stored vectors are used."""
        current = self.live.peek()
        indexed = current.manifest.documents if current is not None else {}
        fresh = [u for u in uploads if u.doc_id not in indexed or indexed[u.doc_id].sha256 != u.doc.sha256]
        windows = list(dict.fromkeys(w for u in fresh for w in u.windows))
        vecs = building.encode_all(self.embedder, windows, progress)
        return dict(zip(windows, vecs, strict=True))

    def _exists(self, doc_id: str) -> bool:
        current = self.live.peek()
        return names.path_of(self.settings.docs_dir, doc_id).exists() or (
            current is not None and doc_id in current.manifest.documents
        )

    def _build_ahead(self, uploads: Sequence[Upload], create: bool, embedder: Embedder) -> Segment | None:
        """The uploads' segment, built before taking the writer; a backend without local segments builds none."""
        return None

    def put_uploads(
        self,
        uploads: Sequence[Upload],
        *,
        create: bool = False,
        timeout: float | None = None,
        ahead: dict[str, np.ndarray] | None = None,
    ) -> list[DocumentChange | QAError]:
        """Store several documents and index them as one change: one commit, one segment, one batch to embed.

        Each document's outcome is in the list, in order: a document that
        cannot land (it exists and ``create`` is set, or its name collides with
        a folder) fails alone, as its error, and the rest land. A failure of
        the index change itself (a full disk, a timeout) raises, and then none
        is stored. Names must be distinct (the caller checks).
        """
        s = self.settings
        embedder = _Ahead(self.embedder, ahead) if ahead else self.embedder
        outcomes: list[DocumentChange | QAError | None] = [None] * len(uploads)
        landing: list[tuple[int, bool, folder.FolderChange]] = []  # (position, existed, its change to the folder)
        what = uploads[0].doc_id if len(uploads) == 1 else f"{len(uploads)} documents"
        built = self._build_ahead(uploads, create, embedder)
        with self.exclusive(s.write_timeout if timeout is None else timeout), durable.disk_errors(f"storing {what}"):
            current = self.on_disk()
            try:
                for i, upload in enumerate(uploads):
                    doc_id = upload.doc_id
                    exists = names.path_of(s.docs_dir, doc_id).exists() or (
                        current is not None and doc_id in current.manifest.documents
                    )
                    if create and exists:
                        outcomes[i] = Conflict(f"{doc_id} already exists; replace it with PUT /documents/{doc_id}")
                        continue
                    change = folder.FolderChange(s.docs_dir, doc_id)
                    try:
                        change.put(upload.data, upload.doc.metadata)
                    except BadDocument as exc:
                        change.undo()
                        outcomes[i] = exc
                        continue
                    except BaseException:  # a full disk halfway through this one: undo it, then all
                        change.undo()
                        raise
                    landing.append((i, exists, change))
                docs = [uploads[i].doc for i, _, _ in landing]
                if built is None or list(built.documents) != [d.doc_id for d in docs]:
                    built = None  # another write changed what lands: build under the lock after all
                report = None
                if landing:
                    report = self._apply(docs, [], embedder, built) if built else self._apply(docs, [], embedder)
            except BaseException:
                for _, _, change in reversed(landing):
                    change.undo()
                raise
            for _, _, change in landing:
                change.keep()
        if report is not None:
            documents = self.live.get().manifest.documents
            for i, existed, _ in landing:
                entry = documents[uploads[i].doc_id]
                outcomes[i] = DocumentChange(uploads[i].doc_id, entry.chunks, entry.sha256, not existed, report)
        return [o for o in outcomes if o is not None]

    def delete(self, name: str, *, timeout: float | None = None) -> DocumentChange:
        """Remove a document's file, metadata and passages; if indexing fails, the file is put back."""
        s = self.settings
        doc_id = names.check(name)
        with self.exclusive(s.write_timeout if timeout is None else timeout), durable.disk_errors(f"deleting {doc_id}"):
            current = self.on_disk()
            indexed = current is not None and doc_id in current.manifest.documents
            with folder.staged(s.docs_dir, doc_id) as change:
                if not change.remove() and not indexed:
                    raise NotFound(f"no document {doc_id!r}")
                report = self._apply([], [doc_id], self.embedder)
        return DocumentChange(doc_id, 0, None, False, report)


class Writer(BaseWriter[store.Snapshot]):
    """The local store's writer: segments and commits in QA_INDEX_DIR, one writer across processes (a file lock)."""

    def __init__(self, settings: Settings, embedder: Embedder, live: LiveIndex) -> None:
        super().__init__(settings, embedder, live)
        self.merger = merging.Merger(self)
        # After each commit: merging small or much-deleted segments in the background (tests may turn it off).
        self.on_commit: Callable[[store.Snapshot], None] | None = self.merger.consider

    @contextmanager
    def exclusive(self, timeout: float | None = None) -> Iterator[None]:
        """Hold both locks; give up with :class:`Conflict` after ``timeout`` seconds (None waits)."""
        started = time.monotonic()
        if not self._lock.acquire(timeout=-1 if timeout is None else timeout):
            raise Conflict("another write is in progress (a rebuild or a document update); try again later")
        try:
            if self.closed:
                raise NotFound(f"the collection of {self.settings.docs_dir} was deleted")
            left = None if timeout is None else max(0.0, timeout - (time.monotonic() - started))
            with store.writer_lock(self.settings.index_dir, timeout=left):
                yield
        finally:
            self._lock.release()

    def on_disk(self) -> store.Snapshot | None:
        """The live commit on disk: the view in memory unless another process committed since (then only its
        new segments are loaded)."""
        current = self.live.peek()
        known = current if isinstance(current, store.Snapshot) else None
        try:
            path = store.current_path(self.settings.index_dir)
        except IndexMissing:
            return None
        if known is not None and known.path == path:
            return known
        return self._load(known=known)

    def _load(self, known: store.Snapshot | None = None) -> store.Snapshot:
        """The live commit, a format-1 index converted first (once)."""
        where, model, dim = self.settings.index_dir, self.embedder.name, self.embedder.dim
        convert.upgrade(where, model=model, dim=dim)
        return store.load(where, model=model, dim=dim, known=known)

    def _commit(self, previous: store.Snapshot | None, change: building.Change) -> store.Snapshot:
        base = previous or store.empty(self.embedder.name, self.embedder.dim, asdict(self.params))
        drop = set(range(len(base.segments))) if change.replace_all else set()
        view = store.commit(
            self.settings.index_dir,
            base,
            add=[change.add] if change.add is not None else [],
            delete=change.delete,
            drop=drop,
            model=(self.embedder.name, self.embedder.dim),
            chunking=asdict(self.params),
        )
        self.live.set(view)
        self.commits += 1
        if self.on_commit is not None:
            self.on_commit(view)
        return view

    # ------------------------------------------------------------ opening
    def load(self) -> store.Snapshot:
        """Serve the live commit on disk as it is."""
        index = self._load()
        self.live.set(index)
        return index

    def open(self, progress: Progress | None = None) -> bool:
        """Serve the index on disk, building it first only if there is none; True when it lags the docs folder.

        A corrupt index or one built by another model is an error for the user
        to resolve, never silently replaced. Leftovers of killed writers are
        cleaned here, when no other writer holds the index.
        """
        try:
            index = self.load()
        except IndexMissing:
            self.sync(progress=progress)
            return False
        self._clean_leftovers()
        return self._stale(index, folder.read_folder(self.settings.docs_dir))

    def _clean_leftovers(self) -> None:
        try:
            with store.writer_lock(self.settings.index_dir, timeout=0):
                store.prune(self.settings.index_dir)
                folder.clean_leftovers(self.settings.docs_dir)
        except Conflict:
            pass  # another writer is at work; it prunes after its own write
        except OSError:
            log.warning("could not clean leftovers in %s", self.settings.index_dir, exc_info=True)

    def destroy(self) -> None:
        """Remove the index for good (deleting a collection); the caller holds :meth:`exclusive`."""
        shutil.rmtree(self.settings.index_dir)

    # ------------------------------------------------------------ whole folder
    def sync(
        self,
        *,
        rebuild: bool = False,
        progress: Progress | None = None,
        docs: list[folder.Document] | None = None,
        timeout: float | None = None,
        from_folder: bool = False,
    ) -> BuildReport:
        """Bring the index in line with the docs folder, embedding only what changed (everything if ``rebuild``);
        ``from_folder`` changes nothing: the folder is always the truth here."""
        with self.exclusive(timeout), durable.disk_errors("updating the index"):
            try:
                previous = self.on_disk()
            except IndexUnusable:
                if not rebuild:
                    raise
                previous = None  # a rebuild is the remedy for a damaged index, so it must not need it
            if docs is None:
                docs = folder.read_folder(self.settings.docs_dir)
            change = building.sync(
                docs, self.embedder, self.params, previous, progress, reuse_vectors=not rebuild, spec=self.spec
            )
            if (
                change.add is not None
                or change.delete
                or (change.replace_all and (previous is None or previous.segments))
            ):
                self._commit(previous, change)
            else:
                assert previous is not None  # with no index, the change replaces all, and commits above
                self.live.set(previous)
        return change.report

    # ------------------------------------------------------------ one document
    def _apply(
        self,
        upserts: list[folder.Document],
        removes: list[str],
        embedder: Embedder,
        built: Segment | None = None,
    ) -> BuildReport:
        """Commit the change; ``built``: the upserts' segment, made before the lock (:meth:`_build_ahead`)."""
        previous = self.on_disk()
        if previous is None or not building.can_update(previous, embedder, self.params):
            # No usable index to patch: build from the folder, which already holds the change.
            docs = folder.read_folder(self.settings.docs_dir)
            change = building.sync(docs, embedder, self.params, previous, spec=self.spec)
        else:
            change = building.update(
                previous, embedder, self.params, upserts=upserts, removes=removes, spec=self.spec, built=built
            )
        self._commit(previous, change)
        return change.report

    def _build_ahead(self, uploads: Sequence[Upload], create: bool, embedder: Embedder) -> Segment | None:
        """The segment of the uploads that will likely land, built before taking the lock (None if there are none).

        Likely: if another write changes which land meanwhile, it is not used and the segment is built under the lock.
        """
        current = self.live.peek()
        indexed = current.manifest.documents if current is not None else {}
        if any(u.doc_id in indexed and indexed[u.doc_id].sha256 == u.doc.sha256 for u in uploads):
            return None  # same text: its stored vectors are copied under the lock, nothing is embedded
        landing = [u.doc for u in uploads if not (create and self._exists(u.doc_id))]
        return building.assemble(landing, embedder, self.params, self.spec) if landing else None
