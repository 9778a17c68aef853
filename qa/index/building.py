"""What a write changes in the index: one new segment for the documents it adds or replaces, and deletions.

Only documents that are new or whose text changed are chunked and embedded;
a document whose metadata alone changed moves to the new segment with its
stored vectors; documents that are gone are deleted from their segments.
Everything else stays where it is, untouched, which is what makes a write
cost what it changes. A rebuild (or a change of model or chunking) instead
builds one segment of every document and drops the old ones.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from qa.config import ChunkParams, VectorSpec
from qa.encoder.embedder import Embedder
from qa.index.chunking import Chunk, chunk_document, embedding_windows
from qa.index.lexical import TOKENS_VERSION
from qa.index.segment import DocEntry, Segment
from qa.index.store import Snapshot
from qa.index.view import IndexView
from qa.ingest.folder import Document

Progress = Callable[[int, int], None]
_ENCODE_STEP = 256  # passages per progress update; the embedder batches inside


@dataclass
class BuildReport:
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    chunks: int = 0
    embedded: int = 0
    untouched: int = 0  # documents a one-document write left alone, counted, not listed (it must not visit them)

    @property
    def touched(self) -> bool:
        """Whether the index differs from the previous one (a chunking change re-embeds "unchanged" documents)."""
        return bool(self.added or self.changed or self.removed or self.embedded)

    def counts(self) -> dict[str, int]:
        counts = {k: len(getattr(self, k)) for k in ("added", "changed", "removed", "unchanged")}
        counts["unchanged"] += self.untouched
        return counts | {"chunks": self.chunks, "embedded": self.embedded}


@dataclass
class Change:
    """What to commit: a segment to add (or none), rows and documents to delete per segment, whether to drop all."""

    add: Segment | None
    delete: dict[int, tuple[np.ndarray, frozenset[str]]]
    report: BuildReport
    replace_all: bool = False


def compatible(previous: IndexView, embedder: Embedder, params: ChunkParams) -> bool:
    m = previous.manifest
    return m.model == embedder.name and m.dim == embedder.dim and m.chunking == asdict(params)


def encode_all(embedder: Embedder, texts: list[str], progress: Progress | None = None) -> np.ndarray:
    """Embed passages in steps, filling one preallocated array so memory stays at the vectors plus a step.

    Texts go longest first across the whole corpus, not only within a step,
    so each encoder batch holds similar lengths and pads little; the longest
    batch comes first, so peak memory shows at once rather than at the end.
    """
    out = np.zeros((len(texts), embedder.dim), np.float32)
    order = np.argsort([-len(t) for t in texts], kind="stable")
    if progress and texts:
        progress(0, len(texts))  # the total is known now: a bar or a polled job shows it before the first step ends
    for start in range(0, len(texts), _ENCODE_STEP):
        rows = order[start : start + _ENCODE_STEP]
        out[rows] = embedder.encode_passages([texts[i] for i in rows])
        if progress:
            progress(start + len(rows), len(texts))
    return out


@dataclass
class _Assembly:
    """Documents for one new segment, in order: their chunks, and window vectors either copied or to embed."""

    documents: dict[str, DocEntry] = field(default_factory=dict)
    chunks: list[Chunk] = field(default_factory=list)
    counts: list[int] = field(default_factory=list)  # windows per chunk
    vectors: list[np.ndarray | None] = field(default_factory=list)  # per chunk; None = embed
    texts: list[str] = field(default_factory=list)  # windows to embed, in order

    def copy(self, previous: Snapshot, doc: Document) -> None:
        """``doc`` as ``previous`` holds it (same text), with its stored vectors."""
        rows = previous.doc_rows(doc.doc_id)
        vecs, owners = previous.window_vectors(rows)
        for r in rows:
            mine = vecs[owners == r]
            self.chunks.append(previous.chunks[r])
            self.counts.append(len(mine))
            self.vectors.append(mine)
        self.documents[doc.doc_id] = DocEntry(doc.sha256, len(rows), dict(doc.metadata))

    def embed(self, doc: Document, params: ChunkParams) -> None:
        chunks = chunk_document(doc.doc_id, doc.text, params, doc.layout)
        for chunk in chunks:
            windows = embedding_windows(chunk, params)
            self.chunks.append(chunk)
            self.counts.append(len(windows))
            self.vectors.append(None)
            self.texts.extend(windows)
        self.documents[doc.doc_id] = DocEntry(doc.sha256, len(chunks), dict(doc.metadata))

    def segment(self, embedder: Embedder, spec: VectorSpec, progress: Progress | None) -> Segment | None:
        if not self.documents:
            return None
        fresh = iter(encode_all(embedder, self.texts, progress))
        matrix = np.zeros((sum(self.counts), embedder.dim), np.float32)
        row = 0
        for n, vecs in zip(self.counts, self.vectors, strict=True):
            matrix[row : row + n] = vecs if vecs is not None else [next(fresh) for _ in range(n)]
            row += n
        offsets = np.concatenate([[0], np.cumsum(self.counts)]).astype(np.int64)
        return Segment.build(self.documents, self.chunks, matrix, offsets, embedder.dim, spec)


def _deletions(previous: Snapshot, doc_ids: Sequence[str]) -> dict[int, tuple[np.ndarray, frozenset[str]]]:
    """The rows and documents to delete, per segment of ``previous``."""
    out: dict[int, tuple[list[int], set[str]]] = {}
    for doc_id in doc_ids:
        k = previous.documents.locate(doc_id)
        if k is None:
            continue
        rows, docs = out.setdefault(k, ([], set()))
        rows += previous.segments[k].doc_rows.get(doc_id, [])
        docs.add(doc_id)
    return {k: (np.asarray(sorted(rows), np.int64), frozenset(docs)) for k, (rows, docs) in out.items()}


def sync(
    docs: list[Document],
    embedder: Embedder,
    params: ChunkParams,
    previous: Snapshot | None,
    progress: Progress | None = None,
    *,
    reuse_vectors: bool = True,
    spec: VectorSpec = VectorSpec(),
) -> Change:
    """The change that makes ``previous`` hold exactly ``docs`` (a whole docs folder).

    ``reuse_vectors=False`` re-embeds everything (a rebuild) while still
    reporting changes against ``previous``.
    """
    report = BuildReport()
    old = previous.manifest.documents if previous is not None else {}
    same_space = previous is not None and compatible(previous, embedder, params)  # its vectors can be reused
    whole = (
        previous is None or not same_space or not reuse_vectors or previous.manifest.tokens_version != TOKENS_VERSION
    )
    parts = _Assembly()
    for doc in docs:
        entry = old.get(doc.doc_id)
        same_text = entry is not None and entry.sha256 == doc.sha256
        if entry is None:
            report.added.append(doc.doc_id)
        elif same_text and entry.metadata == doc.metadata:
            report.unchanged.append(doc.doc_id)
            if not whole:
                continue  # stays where it is
        else:
            report.changed.append(doc.doc_id)
        if same_text and same_space and reuse_vectors and previous is not None:
            parts.copy(previous, doc)  # its text is indexed already: only metadata or tokens changed
        else:
            parts.embed(doc, params)
    report.removed = sorted(set(old) - {d.doc_id for d in docs})
    report.embedded = len(parts.texts)
    segment = parts.segment(embedder, spec, progress)
    if whole:
        report.chunks = segment.size if segment is not None else 0
        return Change(segment, {}, report, replace_all=True)
    assert previous is not None
    delete = _deletions(previous, report.changed + report.removed)
    report.chunks = previous.live_size - sum(len(r) for r, _ in delete.values()) + (segment.size if segment else 0)
    return Change(segment, delete, report)


def assemble(
    docs: Sequence[Document], embedder: Embedder, params: ChunkParams, spec: VectorSpec = VectorSpec()
) -> Segment | None:
    """A segment of ``docs`` alone, all embedded: it depends on no index, so it can be built before the writer's turn.

    Building it (term counts, an HNSW graph) is most of a large document's
    write; done here, the writer is held only to store it and commit.
    """
    parts = _Assembly()
    for doc in docs:
        parts.embed(doc, params)
    return parts.segment(embedder, spec, None)


def update(
    previous: Snapshot,
    embedder: Embedder,
    params: ChunkParams,
    *,
    upserts: Sequence[Document] = (),
    removes: Sequence[str] = (),
    progress: Progress | None = None,
    spec: VectorSpec = VectorSpec(),
    built: Segment | None = None,
) -> Change:
    """``previous`` with some documents added or replaced and some removed, without reading the docs folder.

    Only the upserted documents are embedded, unless ``built`` (their
    :func:`assemble`) is given. ``previous`` must have been built with this
    model and chunking (:func:`can_update`).
    """
    if not can_update(previous, embedder, params):
        raise ValueError("the previous index was built with another model or chunking; build from the folder instead")
    report = BuildReport()
    old = previous.manifest.documents
    parts = _Assembly()
    for doc in upserts:
        entry = old.get(doc.doc_id)
        (report.added if entry is None else report.changed).append(doc.doc_id)
        if built is not None:
            continue
        if entry is not None and entry.sha256 == doc.sha256:
            parts.copy(previous, doc)
        else:
            parts.embed(doc, params)
    report.removed = [d for d in removes if d in old]
    report.untouched = len(old) - len(report.changed) - len(report.removed)
    report.embedded = int(built.offsets[-1]) if built is not None else len(parts.texts)
    segment = built if built is not None else parts.segment(embedder, spec, progress)
    delete = _deletions(previous, report.changed + report.removed)
    report.chunks = previous.live_size - sum(len(r) for r, _ in delete.values()) + (segment.size if segment else 0)
    return Change(segment, delete, report)


def can_update(previous: IndexView | None, embedder: Embedder, params: ChunkParams) -> bool:
    return previous is not None and (previous.live_size == 0 or compatible(previous, embedder, params))
