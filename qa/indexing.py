"""Build an index generation from documents, re-embedding only what changed.

A document whose content hash, model and chunking match the previous
generation keeps its chunks and stored vectors; everything else is chunked
and embedded afresh. The result is a complete in-memory :class:`Index` that
:mod:`qa.store` writes as a new generation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np

from qa.chunking import Chunk, ChunkParams, chunk_document
from qa.documents import Document
from qa.embedding import Embedder
from qa.store import DocEntry, Index, Manifest, new_index

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
        return bool(self.added or self.changed or self.removed)

    def counts(self) -> dict[str, int]:
        return {k: len(getattr(self, k)) for k in ("added", "changed", "removed", "unchanged")} | {
            "chunks": self.chunks,
            "embedded": self.embedded,
        }


def _reusable(previous: Index | None, embedder: Embedder, params: ChunkParams) -> dict[str, list[int]]:
    """Rows of the previous index per doc_id, when its vectors can be reused at all."""
    if previous is None:
        return {}
    m = previous.manifest
    if m.model != embedder.name or m.dim != embedder.dim or m.chunking != asdict(params):
        return {}
    rows: dict[str, list[int]] = {}
    for i, chunk in enumerate(previous.chunks):
        rows.setdefault(chunk.doc_id, []).append(i)
    return rows


def encode_all(embedder: Embedder, texts: list[str], progress: Progress | None = None) -> np.ndarray:
    """Embed passages in steps, filling one preallocated array so memory stays at the vectors plus a step."""
    out = np.zeros((len(texts), embedder.dim), np.float32)
    for start in range(0, len(texts), _ENCODE_STEP):
        part = texts[start : start + _ENCODE_STEP]
        out[start : start + len(part)] = embedder.encode_passages(part)
        if progress:
            progress(start + len(part), len(texts))
    return out


def build(
    docs: list[Document],
    embedder: Embedder,
    params: ChunkParams,
    previous: Index | None = None,
    progress: Progress | None = None,
) -> tuple[Index, BuildReport]:
    report = BuildReport()
    reuse = _reusable(previous, embedder, params)
    old_docs = previous.manifest.documents if previous else {}
    chunks: list[Chunk] = []
    kept_rows: list[tuple[int, int]] = []  # (position in new chunks, row in previous)
    fresh: list[int] = []  # positions in new chunks that need embedding
    entries: dict[str, DocEntry] = {}
    for doc in docs:
        old = old_docs.get(doc.doc_id)
        if old and old.sha256 == doc.sha256 and doc.doc_id in reuse:
            report.unchanged.append(doc.doc_id)
            for row in reuse[doc.doc_id]:
                kept_rows.append((len(chunks), row))
                chunks.append(previous.chunks[row])  # type: ignore[union-attr]
            entries[doc.doc_id] = DocEntry(doc.sha256, len(reuse[doc.doc_id]))
            continue
        (report.changed if old else report.added).append(doc.doc_id)
        new = chunk_document(doc.doc_id, doc.text, params)
        fresh.extend(range(len(chunks), len(chunks) + len(new)))
        chunks.extend(new)
        entries[doc.doc_id] = DocEntry(doc.sha256, len(new))
    report.removed = sorted(set(old_docs) - set(entries))

    vectors = np.zeros((len(chunks), embedder.dim), np.float32)
    if kept_rows:
        vectors[[p for p, _ in kept_rows]] = previous.reconstruct([r for _, r in kept_rows])  # type: ignore[union-attr]
    if fresh:
        vectors[fresh] = encode_all(embedder, [chunks[i].text for i in fresh], progress)
    report.chunks, report.embedded = len(chunks), len(fresh)
    manifest = Manifest(model=embedder.name, dim=embedder.dim, chunking=asdict(params), documents=entries)
    return new_index(manifest, chunks, vectors), report
