"""What searches read on the Milvus backend: a :class:`qa.index.backend.IndexView`, as :class:`qa.index.store.Snapshot` is.

Vectors stay in Milvus, and dense search is a Milvus search. Passages and
their BM25 term counts live in the process, as qa's own postings over qa's
own tokens (jieba words, CJK bigrams, stems): Milvus' BM25 with its jieba
analyzer ranks differently enough to cost recall (README, Scaling out), and
hybrid ranking needs every passage's BM25 share of the query's ceiling, which
Milvus does not give. A view is immutable: a write makes a new one from the
old, adding a part for what it wrote and masking what it replaced, so
following a write costs what it changed, not the corpus.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from qa.errors import IndexCorrupt, ModelMismatch
from qa.index import bridge
from qa.index.chunking import Chunk
from qa.index.lexical import CJK_CHAR, tokenize
from qa.index.milvus import layout
from qa.index.milvus.collection import Collection
from qa.index.milvus.layout import State
from qa.index.milvus.records import read_all
from qa.index.postings import Field, Postings
from qa.index.segment import DocEntry
from qa.index.store import WINDOWS_PER_CHUNK, Manifest

MAX_PARTS = 8  # past this many, a new view re-tokenizes its live passages into one part


@dataclass(frozen=True)
class Part:
    """Passages written together, with their term counts (never changed; replaced rows are masked)."""

    chunks: list[Chunk]
    lexical: Postings
    bridge: Postings
    latin: np.ndarray

    @classmethod
    def build(cls, chunks: list[Chunk]) -> Part:
        texts = [c.text for c in chunks]
        latin = np.array([len(CJK_CHAR.findall(t)) < 0.1 * len(t) for t in texts], bool)
        return cls(
            chunks,
            Postings.build([tokenize(t) for t in texts]),
            Postings.build([bridge.tokens(t) for t in texts]),
            latin,
        )


class _Chunks:
    def __init__(self, view: MilvusView) -> None:
        self._view = view

    def __getitem__(self, row: int) -> Chunk:
        k, local = self._view.locate(row)
        return self._view.parts[k].chunks[local]

    def __len__(self) -> int:
        return self._view.size


def check(state: State, model: str, dim: int, alias: str) -> None:
    if state.format != layout.FORMAT:
        raise IndexCorrupt(
            f"Milvus collection {alias!r} has layout {state.format}, not {layout.FORMAT}; rebuild it with `qa index --rebuild`"
        )
    if state.model != model or state.dim != dim:
        raise ModelMismatch(
            f"Milvus collection {alias!r} (QA_MILVUS_COLLECTION) was built with model {state.model!r} (dim {state.dim}) "
            f"but the configured model is {model!r} (dim {dim}); set QA_MODEL={state.model!r} or rebuild it with "
            "`qa index --rebuild`"
        )


def passages(collection: Collection, expr: str, versions: Mapping[str, str]) -> list[Chunk]:
    """The passages matching ``expr`` of each document's version in ``versions``, and no other.

    A reader that meets a write halfway (its new windows upserted, its stale
    ones not yet deleted) so never mixes two versions of a document; what it
    misses of the new one it reads once the write renews the state.
    """
    rows = collection.query(expr, [*layout.PASSAGE_FIELDS, "info"])
    return [layout.chunk_of(r) for r in rows if versions.get(r["doc_id"]) == layout.version_of(r)]


class MilvusView:
    """A view of a Milvus collection. Rows are numbered across parts; masked rows score nothing."""

    def __init__(
        self,
        collection: Collection,
        state: State,
        documents: dict[str, DocEntry],
        parts: list[Part],
        masks: list[np.ndarray],
        versions: dict[str, str],
    ) -> None:
        self.collection, self.state, self.parts, self.masks = collection, state, parts, masks
        self.versions = versions  # each document's version its passages are of (see records)
        self.bases = np.concatenate([[0], np.cumsum([len(p.chunks) for p in parts])]).astype(np.int64)
        self.manifest = Manifest(
            state.model, state.dim, state.chunking, documents, state.created_at, state.tokens_version
        )
        self.chunks = _Chunks(self)

    @classmethod
    def read(cls, collection: Collection, state: State) -> MilvusView:
        """The whole collection: every document record and passage (window 0 carries the text)."""
        documents, versions = read_all(collection)
        chunks = passages(collection, f"kind == {layout.WINDOW} and window == 0", versions)
        chunks.sort(key=lambda c: (c.doc_id, c.start, c.chunk_id))
        part = Part.build(chunks)
        return cls(collection, state, documents, [part], [np.ones(len(chunks), bool)], versions)

    def changed(
        self,
        state: State,
        documents: dict[str, DocEntry],
        gone: set[str],
        chunks: list[Chunk],
        versions: dict[str, str],
    ) -> MilvusView:
        """This view with the passages of documents ``gone`` (removed or replaced) masked and ``chunks`` added;
        ``documents`` and ``versions`` are the new view's whole."""
        masks = []
        for part, mask in zip(self.parts, self.masks, strict=True):
            if gone & {c.doc_id for c in part.chunks}:
                mask = mask & np.array([c.doc_id not in gone for c in part.chunks], bool)
            masks.append(mask)
        parts = list(self.parts)
        if chunks:
            parts.append(Part.build(sorted(chunks, key=lambda c: (c.doc_id, c.start, c.chunk_id))))
            masks.append(np.ones(len(chunks), bool))
        if len(parts) > MAX_PARTS:
            live = [c for p, m in zip(parts, masks, strict=True) for c, keep in zip(p.chunks, m, strict=True) if keep]
            parts, masks = [Part.build(live)], [np.ones(len(live), bool)]
        return MilvusView(self.collection, state, documents, parts, masks, versions)

    # ------------------------------------------------------------ the IndexView protocol
    @property
    def size(self) -> int:
        return int(self.bases[-1])

    @property
    def live_size(self) -> int:
        return sum(int(m.sum()) for m in self.masks)

    def locate(self, row: int) -> tuple[int, int]:
        k = bisect_right(self.bases, row) - 1
        return k, row - int(self.bases[k])

    @cached_property
    def lexical(self) -> Field:
        return Field(
            [(p.lexical, int(b), m) for p, b, m in zip(self.parts, self.bases[:-1], self.masks, strict=True)],
            self.size,
            tokenize,
        )

    @cached_property
    def bridge(self) -> Field:
        parts = [(p.bridge, int(b), m) for p, b, m in zip(self.parts, self.bases[:-1], self.masks, strict=True)]
        return Field(parts, self.size, bridge.tokens)

    @cached_property
    def live(self) -> np.ndarray:
        return np.concatenate(self.masks) if self.parts else np.zeros(0, bool)

    @cached_property
    def latin_rows(self) -> np.ndarray:
        return np.concatenate([p.latin for p in self.parts]) if self.parts else np.zeros(0, bool)

    @cached_property
    def _rows(self) -> dict[str, int]:
        """Live row of each chunk id (what Milvus' hits name)."""
        live = self.live
        return {self.chunks[r].chunk_id: r for r in np.flatnonzero(live).tolist()}

    @cached_property
    def _doc_rows(self) -> dict[str, list[int]]:
        out: dict[str, list[int]] = {}
        for r in np.flatnonzero(self.live).tolist():
            out.setdefault(self.chunks[r].doc_id, []).append(r)
        return out

    def doc_rows(self, doc_id: str) -> list[int]:
        return list(self._doc_rows.get(doc_id, []))

    def chunks_of(self, rows: Sequence[int]) -> list[Chunk]:
        return [self.chunks[r] for r in rows]

    def rows_of(self, doc_ids: Sequence[str]) -> list[int]:
        return [r for d in doc_ids for r in self.doc_rows(d)]

    def check_vectors(self) -> None:
        """Nothing is memory-mapped here: Milvus holds the vectors."""

    def check_terms(self) -> None:
        """Nothing is memory-mapped here: the term counts are built in memory."""

    def dense(self, qvec: np.ndarray, depth: int, only: np.ndarray | None = None) -> dict[int, float]:
        """The best window score of the ``depth`` nearest live chunks (among rows ``only``), best first."""
        allowed: set[int] | None = None
        doc_ids: list[str] | None = None
        if only is not None:
            allowed = set(only.tolist())
            doc_ids = sorted({self.chunks[r].doc_id for r in allowed})
        best: dict[int, float] = {}
        for chunk_id, score in self.collection.search(qvec, depth * WINDOWS_PER_CHUNK, doc_ids):
            row = self._rows.get(chunk_id)  # None: written since this view (it joins with the next one)
            if row is None or row in best or (allowed is not None and row not in allowed):
                continue
            best[row] = score
            if len(best) == depth:
                break
        return best

    def dense_of(self, qvec: np.ndarray, rows: list[int]) -> dict[int, float]:
        """The best window score of each of ``rows``."""
        if not rows:
            return {}
        return best_windows(self.collection, self.manifest, qvec, {r: self.chunks[r] for r in rows})


def best_windows(
    collection: Collection, manifest: Manifest, qvec: np.ndarray, chunks: dict[int, Chunk], name: str | None = None
) -> dict[int, float]:
    """The best window score of each passage of ``chunks`` (by row), in one search over just their windows."""
    wanted = {c.chunk_id: r for r, c in chunks.items()}
    step = max(1, manifest.chunking.get("window", 100) - manifest.chunking.get("window_overlap", 30))
    # At least their window count; a passage read without its text counts by its offsets.
    depth = sum((len(c.text) or c.end - c.start) // step + 2 for c in chunks.values())
    out: dict[int, float] = {}
    for chunk_id, score in collection.search(qvec, depth, chunk_ids=sorted(wanted), name=name):
        row = wanted[chunk_id]
        out[row] = max(out.get(row, -1.0), score)
    return out
