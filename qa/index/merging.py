"""Keep an index few-segmented: merge small or much-deleted segments into one, in the background.

Every write adds a segment, and a search visits every segment, so segments
are merged as they accumulate: past :data:`MAX_SEGMENTS`, the smallest are
rewritten into one (the large ones stay, so a big corpus is not rewritten
for a small write), and a segment that has lost :data:`DELETED_SHARE` of its
rows to replaces and deletes is rewritten without them. The rewrite reads
stored vectors (nothing is embedded) and runs without holding the writer;
only the commit takes the lock, and applies the deletions made meanwhile.
Searches go on against the old segments until that commit.
"""

from __future__ import annotations

import logging
import threading
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from qa.config import Settings, VectorSpec
from qa.index import store
from qa.index.chunking import Chunk
from qa.index.segment import DocEntry, Segment

if TYPE_CHECKING:
    from qa.index.live import LiveIndex

log = logging.getLogger(__name__)
MAX_SEGMENTS = 8
DELETED_SHARE = 0.3


def plan(view: store.Snapshot) -> list[str]:
    """Names of the segments worth merging now (none: nothing to do)."""
    segments = view.segments
    live = [int(m.sum()) for m in view.live_masks]
    heavy = {s.name for s, n in zip(segments, live, strict=True) if s.size and 1 - n / s.size >= DELETED_SHARE}
    picked = set(heavy)
    if len(segments) > MAX_SEGMENTS:
        smallest = sorted(range(len(segments)), key=lambda k: live[k])
        picked |= {segments[k].name for k in smallest[: len(segments) - MAX_SEGMENTS // 2]}
    if len(picked) < 2 and not heavy:
        return []
    return [s.name for s in segments if s.name in picked]


@dataclass
class _Merged:
    segment: Segment
    origin: dict[str, np.ndarray]  # segment name -> new row of each of its rows (-1: not carried over)


def _rewrite(view: store.Snapshot, names: list[str], spec: VectorSpec) -> _Merged:
    """The live rows of the named segments as one new segment, and where each old row went."""
    documents: dict[str, DocEntry] = {}
    chunks: list[Chunk] = []
    parts, counts = [], []
    origin: dict[str, np.ndarray] = {}
    for k, segment in enumerate(view.segments):
        if segment.name not in names:
            continue
        rows = np.flatnonzero(view.live_masks[k])
        mapping = np.full(segment.size, -1, np.int64)
        mapping[rows] = np.arange(len(chunks), len(chunks) + len(rows))
        origin[segment.name] = mapping
        vecs, owners = segment.window_vectors(rows.tolist())
        for r in rows.tolist():
            chunks.append(segment.chunks[r])
            mine = vecs[owners == r]
            parts.append(mine)
            counts.append(len(mine))
        gone = view.gone_docs[k]
        documents |= {d: e for d, e in segment.documents.items() if d not in gone}
    dim = view.commit.dim
    matrix = np.vstack(parts).astype(np.float32) if parts else np.zeros((0, dim), np.float32)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return _Merged(Segment.build(documents, chunks, matrix, offsets, dim, spec), origin)


def _commit(index_dir: Path, current: store.Snapshot, before: store.Snapshot, merged: _Merged) -> store.Snapshot | None:
    """Replace the merged segments in ``current`` (the caller holds the lock); None if another merge got there first."""
    names = set(merged.origin)
    positions = {s.name: k for k, s in enumerate(current.segments) if s.name in names}
    if set(positions) != names:
        return None
    late_rows: list[np.ndarray] = []
    late_docs: set[str] = set()
    for name, k in positions.items():  # rows deleted while the merge ran
        b = next(j for j, s in enumerate(before.segments) if s.name == name)
        newly = np.setdiff1d(current.deleted_rows[k], before.deleted_rows[b])
        late_rows.append(merged.origin[name][newly])
        late_docs |= current.gone_docs[k] - before.gone_docs[b]
    rows = np.concatenate(late_rows) if late_rows else np.zeros(0, np.int64)
    rows = rows[rows >= 0]
    return store.commit(
        index_dir,
        current,
        add=[merged.segment],
        drop=set(positions.values()),
        add_deletes=[(np.sort(rows), frozenset(late_docs))],
    )


class Merging(Protocol):
    """What a merge needs of the local store's writer (which owns a :class:`Merger`, so this module cannot import it)."""

    settings: Settings
    spec: VectorSpec
    live: LiveIndex

    def exclusive(self, timeout: float | None = None) -> AbstractContextManager[None]: ...

    def on_disk(self) -> store.Snapshot | None: ...


class Merger:
    """Runs at most one merge at a time for a writer, on a thread of its own; :meth:`consider` after each commit."""

    def __init__(self, writer: Merging) -> None:
        self.writer = writer
        self._running = threading.Lock()
        self.merges = 0

    def consider(self, view: store.Snapshot) -> None:
        if plan(view) and self._running.acquire(blocking=False):
            threading.Thread(target=self._run, args=(view,), name="qa-merge", daemon=True).start()

    def _run(self, view: store.Snapshot) -> None:
        try:
            self.merge(view)
        except Exception:  # a merge is housekeeping: log it, the index stays as it was
            log.exception("merging segments of %s failed", self.writer.settings.index_dir)
        finally:
            self._running.release()

    def merge(self, view: store.Snapshot) -> store.Snapshot | None:
        """Merge what :func:`plan` picks in ``view`` now (synchronously) and commit it."""
        names = plan(view)
        if not names:
            return None
        merged = _rewrite(view, names, self.writer.spec)
        with self.writer.exclusive(None):
            current = self.writer.on_disk()
            if current is None:
                return None
            result = _commit(self.writer.settings.index_dir, current, view, merged)
            if result is not None:
                self.writer.live.set(result)
                self.merges += 1
                log.info("merged %d segments into %s (%d chunks)", len(names), merged.segment.name, merged.segment.size)
        return result
