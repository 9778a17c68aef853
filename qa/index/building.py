"""Build an index generation from documents, re-embedding only what changed.

A document whose content hash, model and chunking match the previous
generation keeps its chunks and stored vectors; everything else is chunked
and embedded afresh. The result is a complete in-memory :class:`Index` that
:mod:`qa.index.store` writes as a new generation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from qa.config import ChunkParams, VectorSpec
from qa.encoder.embedder import Embedder
from qa.index.chunking import Chunk, chunk_document, embedding_windows
from qa.index.store import DocEntry, Index, Manifest, new_index
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

    @property
    def touched(self) -> bool:
        """Whether the index differs from the previous one (a chunking change re-embeds "unchanged" documents)."""
        return bool(self.added or self.changed or self.removed or self.embedded)

    def counts(self) -> dict[str, int]:
        return {k: len(getattr(self, k)) for k in ("added", "changed", "removed", "unchanged")} | {
            "chunks": self.chunks,
            "embedded": self.embedded,
        }


def _compatible(previous: Index, embedder: Embedder, params: ChunkParams) -> bool:
    m = previous.manifest
    return m.model == embedder.name and m.dim == embedder.dim and m.chunking == asdict(params)


def _reusable(previous: Index | None, embedder: Embedder, params: ChunkParams) -> dict[str, list[int]]:
    """Chunk rows of the previous index per doc_id, when its vectors can be reused at all."""
    return previous.doc_rows if previous is not None and _compatible(previous, embedder, params) else {}


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
    """Chunks and their window vectors in order, some copied from the previous index, some to embed."""

    chunks: list[Chunk] = field(default_factory=list)
    counts: list[int] = field(default_factory=list)  # windows per chunk
    vectors: list[np.ndarray | None] = field(default_factory=list)  # per chunk; None = embed
    texts: list[str] = field(default_factory=list)  # windows to embed, in order

    def reuse(self, previous: Index, rows: list[int]) -> None:
        vecs, owners = previous.window_vectors(rows)
        for r in rows:
            mine = vecs[owners == r]
            self.chunks.append(previous.chunks[r])
            self.counts.append(len(mine))
            self.vectors.append(mine)

    def add(self, chunks: list[Chunk], params: ChunkParams) -> None:
        for chunk in chunks:
            windows = embedding_windows(chunk, params)
            self.chunks.append(chunk)
            self.counts.append(len(windows))
            self.vectors.append(None)
            self.texts.extend(windows)

    def matrix(self, embedder: Embedder, progress: Progress | None) -> np.ndarray:
        fresh = iter(encode_all(embedder, self.texts, progress))
        out = np.zeros((sum(self.counts), embedder.dim), np.float32)
        row = 0
        for n, vecs in zip(self.counts, self.vectors):
            out[row : row + n] = vecs if vecs is not None else [next(fresh) for _ in range(n)]
            row += n
        return out


def build(
    docs: list[Document],
    embedder: Embedder,
    params: ChunkParams,
    previous: Index | None = None,
    progress: Progress | None = None,
    *,
    reuse_vectors: bool = True,
    spec: VectorSpec = VectorSpec(),
) -> tuple[Index, BuildReport]:
    """An index of exactly ``docs`` (a whole docs folder): documents the previous index had and ``docs`` lacks are removed.

    ``reuse_vectors=False`` re-embeds everything (a rebuild) while still
    reporting changes against ``previous``.
    """
    return _build(docs, [], embedder, params, previous, progress, reuse_vectors, spec)


def update(
    previous: Index,
    embedder: Embedder,
    params: ChunkParams,
    *,
    upserts: Sequence[Document] = (),
    removes: Sequence[str] = (),
    progress: Progress | None = None,
    spec: VectorSpec = VectorSpec(),
) -> tuple[Index, BuildReport]:
    """``previous`` with some documents added or replaced and some removed, without reading the docs folder.

    Only the upserted documents are embedded. ``previous`` must have been
    built with this model and chunking (:func:`can_update`).
    """
    if not can_update(previous, embedder, params):
        raise ValueError("the previous index was built with another model or chunking; build from the folder instead")
    new_ids = {d.doc_id for d in upserts}
    keep = [d for d in previous.manifest.documents if d not in new_ids and d not in set(removes)]
    return _build(list(upserts), keep, embedder, params, previous, progress, True, spec)


def can_update(previous: Index | None, embedder: Embedder, params: ChunkParams) -> bool:
    return previous is not None and (previous.size == 0 or _compatible(previous, embedder, params))


def _build(
    docs: list[Document],
    keep: list[str],
    embedder: Embedder,
    params: ChunkParams,
    previous: Index | None,
    progress: Progress | None,
    reuse_vectors: bool = True,
    spec: VectorSpec = VectorSpec(),
) -> tuple[Index, BuildReport]:
    """Chunks of ``keep`` (doc ids copied from ``previous`` as they are) then of ``docs`` (reused when unchanged)."""
    report = BuildReport()
    reuse = _reusable(previous, embedder, params) if reuse_vectors else {}
    old_docs = previous.manifest.documents if previous else {}
    parts = _Assembly()
    entries: dict[str, DocEntry] = {}
    for doc_id in keep:
        assert previous is not None
        parts.reuse(previous, reuse.get(doc_id, []))
        entries[doc_id] = old_docs[doc_id]
    for doc in docs:
        old = old_docs.get(doc.doc_id)
        same_text = old is not None and old.sha256 == doc.sha256
        # The report describes content; `embedded` says what it cost. New metadata alone is a change to write.
        bucket = (
            report.added
            if old is None
            else report.unchanged
            if same_text and old.metadata == doc.metadata
            else report.changed
        )
        bucket.append(doc.doc_id)
        if previous is not None and same_text and doc.doc_id in reuse:
            parts.reuse(previous, reuse[doc.doc_id])
            entries[doc.doc_id] = DocEntry(doc.sha256, len(reuse[doc.doc_id]), dict(doc.metadata))
            continue
        new = chunk_document(doc.doc_id, doc.text, params, doc.layout)
        parts.add(new, params)
        entries[doc.doc_id] = DocEntry(doc.sha256, len(new), dict(doc.metadata))
    report.removed = sorted(set(old_docs) - set(entries))
    report.unchanged += keep
    report.chunks, report.embedded = len(parts.chunks), len(parts.texts)
    vectors = parts.matrix(embedder, progress)
    offsets = np.concatenate([[0], np.cumsum(parts.counts)]).astype(np.int64)
    manifest = Manifest(model=embedder.name, dim=embedder.dim, chunking=asdict(params), documents=entries)
    # Only new documents after all the old ones, in order: the old vector index can grow instead of being rebuilt.
    n_old = previous.size if previous is not None else 0
    appended = previous is not None and reuse_vectors and parts.chunks[:n_old] == previous.chunks and not report.changed
    base = previous.vectors if appended and previous is not None else None
    return new_index(manifest, parts.chunks, vectors, offsets, spec, base), report
