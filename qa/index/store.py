"""The index on disk: immutable segments, listed by a commit that CURRENT names, switched atomically.

    index/
      CURRENT                 name of the live commit (replaced by rename: the commit point)
      commit-<n>-<rand>.json  format, model, chunking, and the segments with their deletions
      seg-<time>-<rand>/      an immutable segment (qa.index.segment)
      seg-<time>-<rand>.seg   a small one, packed into one file
      deletes/<seg>-<rand>.json  rows and documents of a segment that later writes removed
      .lock                   held by whoever is writing

A write costs what it changes: a new segment for the documents it adds or
replaces, a new deletions file for each segment it removes rows from, and a
small commit; nothing else is read, copied or rewritten. Everything is
fsynced before CURRENT names the commit, so readers never see half a write
and a writer killed at any moment leaves the last good commit live. The
fsyncs are what a small write costs, so there are as few as that order
allows: each new file once (a small segment is one file), the folders that
gained names once, before the switch, and CURRENT's rename once after. A merge
(qa.index.merging) rewrites small or much-deleted segments into one, in the
background, through the same kind of commit.

Format 1 (one folder per generation, before segments) is converted once, on
first open, with a log line. Format 2 (segments are folders) is read as it
is; its next commit is written as format 3, which adds packed segments.
"""

from __future__ import annotations

import json
import logging
import secrets
import shutil
from bisect import bisect_right
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path
from typing import Any

import faiss
import filelock
import numpy as np
from pydantic import TypeAdapter

from qa import durable
from qa.errors import Conflict, IndexCorrupt, IndexMissing, ModelMismatch
from qa.index.bridge import tokens as bridge_tokens
from qa.index.chunking import Chunk
from qa.index.lexical import TOKENS_VERSION, tokenize
from qa.index.postings import Field
from qa.index.segment import DocEntry, Segment

__all__ = ["DocEntry", "Manifest", "Snapshot", "commit", "current_path", "load", "prune", "writer_lock"]
FORMAT_VERSION = 3
READABLE = (1, 2, FORMAT_VERSION)  # 1 only to convert it (qa.index.convert); 2 has no packed segments, else the same
CURRENT = "CURRENT"
DELETES = "deletes"
REMEDY = "rebuild it with `qa index --rebuild`"
WINDOWS_PER_CHUNK = 4  # windows fetched per wanted chunk, since several windows of a chunk may come first
log = logging.getLogger(__name__)


@dataclass
class SegmentRef:
    name: str
    deletes: str | None = None  # file under deletes/, or None when nothing was removed from it


@dataclass
class Commit:
    model: str
    dim: int
    chunking: dict[str, int]
    segments: list[SegmentRef] = field(default_factory=list)
    created_at: str = ""
    tokens_version: int = TOKENS_VERSION
    format_version: int = FORMAT_VERSION


_COMMIT = TypeAdapter(Commit)
_DELETES = TypeAdapter(dict[str, list[Any]])


class Documents(Mapping[str, DocEntry]):
    """The live documents of a view, looked up segment by segment (no corpus-sized map is built per write)."""

    def __init__(self, segments: list[Segment], gone: list[frozenset[str]]) -> None:
        self._segments, self._gone = segments, gone

    def locate(self, doc_id: str) -> int | None:
        for k in range(len(self._segments) - 1, -1, -1):
            if doc_id in self._segments[k].documents and doc_id not in self._gone[k]:
                return k
        return None

    def __getitem__(self, doc_id: str) -> DocEntry:
        k = self.locate(doc_id)
        if k is None:
            raise KeyError(doc_id)
        return self._segments[k].documents[doc_id]

    def __iter__(self) -> Iterator[str]:
        for segment, gone in zip(self._segments, self._gone, strict=True):
            yield from (d for d in segment.documents if d not in gone)

    def __len__(self) -> int:
        return sum(len(s.documents) - len(g) for s, g in zip(self._segments, self._gone, strict=True))


@dataclass
class Manifest:
    """What a view is: the model and chunking it was built with, and its live documents."""

    model: str
    dim: int
    chunking: dict[str, int]
    documents: Mapping[str, DocEntry]
    created_at: str = ""
    tokens_version: int = TOKENS_VERSION
    format_version: int = FORMAT_VERSION


class _Chunks:
    """``index.chunks[r]`` across segments."""

    def __init__(self, index: Snapshot) -> None:
        self._index = index

    def __getitem__(self, row: int) -> Chunk:
        k, local = self._index.locate(row)
        return self._index.segments[k].chunks[local]

    def __len__(self) -> int:
        return self._index.size


class Snapshot:
    """One commit of the local store, opened: some segments, what was deleted from each, and the corpus-wide BM25
    over them. Immutable: a write makes a new snapshot (sharing the unchanged segments) and swaps it in.

    Rows are numbered across the view (segment after segment); a deleted row
    keeps its number, scores nothing and is never returned.
    """

    def __init__(
        self,
        commit: Commit,
        segments: list[Segment],
        deleted: list[tuple[np.ndarray, frozenset[str]]],
        path: Path | None,
    ) -> None:
        self.commit, self.segments, self.path = commit, segments, path
        self.deleted_rows = [rows for rows, _ in deleted]
        self.gone_docs = [docs for _, docs in deleted]
        self.bases = np.concatenate([[0], np.cumsum([s.size for s in segments])]).astype(np.int64)
        self.live_masks = []
        for segment, rows in zip(segments, self.deleted_rows, strict=True):
            mask = np.ones(segment.size, bool)
            mask[rows] = False
            self.live_masks.append(mask)
        self.documents = Documents(segments, self.gone_docs)  # the manifest's, with its segment lookup
        self.manifest = Manifest(
            commit.model, commit.dim, commit.chunking, self.documents, commit.created_at, commit.tokens_version
        )
        self.chunks = _Chunks(self)

    @property
    def size(self) -> int:
        return int(self.bases[-1])

    def locate(self, row: int) -> tuple[int, int]:
        k = bisect_right(self.bases, row) - 1
        return k, row - int(self.bases[k])

    @cached_property
    def lexical(self) -> Field:
        parts = [
            (s.lexical, int(b), m) for s, b, m in zip(self.segments, self.bases[:-1], self.live_masks, strict=True)
        ]
        return Field(parts, self.size, tokenize)

    @cached_property
    def bridge(self) -> Field:
        parts = [(s.bridge, int(b), m) for s, b, m in zip(self.segments, self.bases[:-1], self.live_masks, strict=True)]
        return Field(parts, self.size, bridge_tokens)

    @cached_property
    def live(self) -> np.ndarray:
        return np.concatenate(self.live_masks) if self.segments else np.zeros(0, bool)

    @cached_property
    def latin_rows(self) -> np.ndarray:
        return np.concatenate([s.latin for s in self.segments]) if self.segments else np.zeros(0, bool)

    @property
    def live_size(self) -> int:
        return sum(int(m.sum()) for m in self.live_masks)

    def chunks_of(self, rows: Sequence[int]) -> list[Chunk]:
        return [self.chunks[r] for r in rows]

    def rows_of(self, doc_ids: Sequence[str]) -> list[int]:
        return [r for d in doc_ids for r in self.doc_rows(d)]

    def doc_rows(self, doc_id: str) -> list[int]:
        k = self.documents.locate(doc_id)
        if k is None:
            return []
        return [int(self.bases[k]) + r for r in self.segments[k].doc_rows.get(doc_id, [])]

    def check_vectors(self) -> None:
        """A vector file cut short while served would kill the process with SIGBUS: refuse instead."""
        try:
            for segment in self.segments:
                segment.check_vectors()
        except OSError as exc:
            raise IndexCorrupt(f"{exc}; {REMEDY}") from None

    def check_terms(self) -> None:
        """A term-count file cut short while served would kill the process with SIGBUS: refuse instead."""
        try:
            for segment in self.segments:
                segment.check_terms()
        except OSError as exc:
            raise IndexCorrupt(f"{exc}; {REMEDY}") from None

    def window_vectors(self, rows: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """Vectors of the given rows' windows, and the (view) row each belongs to."""
        parts, owners = [], []
        for row in rows:
            k, local = self.locate(row)
            vecs, _ = self.segments[k].window_vectors([local])
            parts.append(vecs)
            owners.append(np.full(len(vecs), row))
        if not parts:
            return np.zeros((0, self.commit.dim), np.float32), np.zeros(0, np.int64)
        return np.vstack(parts), np.concatenate(owners)

    def dense(self, qvec: np.ndarray, depth: int, only: np.ndarray | None = None) -> dict[int, float]:
        """The best window score of the ``depth`` nearest live chunks (among rows ``only``), best first."""
        found: list[tuple[float, int]] = []
        for k, segment in enumerate(self.segments):
            allowed = self._allowed(k, only)
            if allowed is not None and len(allowed) == 0:
                continue
            windows = _search(segment, qvec, depth * WINDOWS_PER_CHUNK, allowed, self._deleted_windows(k))
            base = int(self.bases[k])
            found += [(score, base + int(segment.window_chunk[w])) for score, w in windows]
        found.sort(key=lambda sw: -sw[0])
        best: dict[int, float] = {}
        for score, row in found:
            if row not in best:
                best[row] = score
                if len(best) == depth:
                    break
        return best

    def _deleted_windows(self, k: int) -> np.ndarray:
        """Window vectors of segment ``k``'s deleted rows (worked out once per view)."""
        cache: dict[int, np.ndarray] = self.__dict__.setdefault("_deleted_windows_cache", {})
        if k not in cache:
            offsets, rows = self.segments[k].offsets, self.deleted_rows[k]
            cache[k] = _windows_of(offsets, rows)
        return cache[k]

    def _allowed(self, k: int, only: np.ndarray | None) -> np.ndarray | None:
        """Local rows of segment ``k`` a filtered search may return; None: every live row."""
        if only is None:
            return None
        base, size = int(self.bases[k]), self.segments[k].size
        local = only[(only >= base) & (only < base + size)] - base
        allowed: np.ndarray = local[self.live_masks[k][local]]
        return allowed

    def dense_of(self, qvec: np.ndarray, rows: list[int]) -> dict[int, float]:
        """The best window score of each of ``rows``."""
        vecs, owners = self.window_vectors(rows)
        out: dict[int, float] = {}
        for row, score in zip(owners.tolist(), (vecs @ qvec).tolist(), strict=True):
            out[row] = max(out.get(row, -1.0), score)
        return out


def _windows_of(offsets: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """The window ids of the given chunk rows (a chunk's windows are ``offsets[r]`` to ``offsets[r + 1]``)."""
    if not len(rows):
        return np.zeros(0, np.int64)
    return np.concatenate([np.arange(offsets[r], offsets[r + 1]) for r in rows]).astype(np.int64)


def _search(
    segment: Segment, qvec: np.ndarray, k: int, rows: np.ndarray | None, gone: np.ndarray
) -> list[tuple[float, int]]:
    """(score, window) of the ``k`` nearest windows of a segment: only of ``rows``, else any but the ``gone`` windows."""
    selector: faiss.IDSelector | None = None
    total = segment.vectors.ntotal
    if rows is not None:
        windows = _windows_of(segment.offsets, rows)
        selector, total = faiss.IDSelectorBatch(windows), len(windows)
    elif len(gone):
        selector, total = faiss.IDSelectorNot(faiss.IDSelectorBatch(gone)), total - len(gone)
    k = min(k, total)
    if k <= 0:
        return []
    hnsw = getattr(segment.vectors, "hnsw", None)
    if hnsw is not None:  # HNSW returns at most efSearch results, so search at least as deep as asked
        # faiss's own stubs lack SearchParametersHNSW, which its module has
        params = faiss.SearchParametersHNSW(efSearch=max(hnsw.efSearch, k))  # type: ignore[attr-defined]
        if selector is not None:
            params.sel = selector
    elif selector is not None:
        params = faiss.SearchParameters()
        params.sel = selector
    else:
        params = None
    segment.check_vectors()
    scores, ids = segment.vectors.search(qvec.reshape(1, -1).astype(np.float32), k, params=params)
    return [(float(s), int(w)) for s, w in zip(scores[0], ids[0], strict=True) if w >= 0]


def empty(model: str, dim: int, chunking: dict[str, int]) -> Snapshot:
    return Snapshot(Commit(model, dim, chunking), [], [], None)


# ------------------------------------------------------------------ writing
def make_folder(path: Path) -> None:
    """``path`` as a folder, created if missing; something else in its place is an error saying what to remove."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        what = "a file" if path.is_file() else "not a folder"
        raise IndexCorrupt(
            f"{path} is {what}, so no index can be written there; remove it, or choose another --index (QA_INDEX_DIR)"
        ) from None


@contextmanager
def writer_lock(index_dir: Path, *, timeout: float | None = None) -> Iterator[None]:
    """One writer per index folder, across processes (CLI and server alike).

    Waits for the lock forever (``timeout=None``) or up to ``timeout`` seconds,
    then raises :class:`Conflict`. The lock is a flock, which the kernel drops
    when its holder dies, so a killed writer never leaves the index locked.
    """
    make_folder(index_dir)
    # The file stays: unlinking it while another process waits on its inode would let two writers in.
    lock = filelock.UnixFileLock(
        index_dir / ".lock", timeout=-1 if timeout is None else timeout, thread_local=False, preserve_lock_file=True
    )
    try:
        lock.acquire(poll_interval=0.05)
    except filelock.Timeout:
        raise Conflict(f"another writer is updating the index in {index_dir}; try again later") from None
    try:
        yield
    finally:
        lock.release()


def commit(
    index_dir: Path,
    previous: Snapshot,
    *,
    add: Sequence[Segment] = (),
    delete: dict[int, tuple[np.ndarray, frozenset[str]]] | None = None,
    drop: set[int] | frozenset[int] = frozenset(),
    model: tuple[str, int] | None = None,
    chunking: dict[str, int] | None = None,
    add_deletes: Sequence[tuple[np.ndarray, frozenset[str]]] = (),
) -> Snapshot:
    """Write a new commit: ``previous``'s segments but ``drop`` (by position), more deletions on some, ``add``
    (with ``add_deletes`` of its own, for a merge that rows were deleted from while it ran).

    The caller holds :func:`writer_lock`. New segments and deletion files are
    written and fsynced first; the rename of CURRENT is the commit point.
    Before it, a failure (a full disk) removes what was written and raises,
    and the previous commit stays live; after it, nothing raises.
    """
    delete = delete or {}
    make_folder(index_dir)
    make_folder(index_dir / DELETES)
    written: list[Path] = []
    deletions = 0  # files written under deletes/
    name = f"commit-{secrets.token_hex(6)}.json"
    try:
        refs, segments, deleted = [], [], []
        for k, (segment, ref) in enumerate(zip(previous.segments, previous.commit.segments, strict=True)):
            if k in drop:
                continue
            rows, docs = previous.deleted_rows[k], previous.gone_docs[k]
            if k in delete:
                more_rows, more_docs = delete[k]
                rows, docs = np.union1d(rows, more_rows).astype(np.int64), docs | more_docs
                deletes = f"{segment.name}-{secrets.token_hex(4)}.json"
                ref = SegmentRef(segment.name, deletes)
                path = index_dir / DELETES / deletes
                _write_deletes(path, rows, docs)
                written.append(path)
                deletions += 1
            refs.append(ref)
            segments.append(segment)
            deleted.append((rows, docs))
        for j, segment in enumerate(add):
            written.append(segment.write(index_dir))
            rows, docs = add_deletes[j] if j < len(add_deletes) else (np.zeros(0, np.int64), frozenset())
            ref = SegmentRef(segment.name)
            if len(rows) or docs:  # a merge that rows were deleted from while it ran
                ref.deletes = f"{segment.name}-{secrets.token_hex(4)}.json"
                path = index_dir / DELETES / ref.deletes
                _write_deletes(path, rows, docs)
                written.append(path)
                deletions += 1
            refs.append(ref)
            segments.append(segment)
            deleted.append((np.asarray(rows, np.int64), frozenset(docs)))
        if deletions:
            durable.fsync_dir(index_dir / DELETES)
        old = previous.commit
        name_dim = model or (old.model, old.dim)
        stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
        new = Commit(name_dim[0], name_dim[1], chunking or old.chunking, refs, stamp)
        durable.write_file(index_dir / name, _COMMIT.dump_json(new, indent=1))
        written.append(index_dir / name)
        durable.fsync_dir(index_dir)  # the new segments' names and the commit's, before CURRENT may name them
        if (index_dir / CURRENT).is_dir():  # damage a rebuild is the remedy for: rename() cannot replace a folder
            shutil.rmtree(index_dir / CURRENT)
        durable.replace(
            index_dir / CURRENT, (name + "\n").encode(), index_dir / f".tmp-{CURRENT}-{secrets.token_hex(3)}"
        )
    except BaseException:
        if _current_name(index_dir) != name:  # not committed: what was written is garbage
            for path in written:
                shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
            raise
        log.warning("commit %s is live, but making the switch durable failed", name, exc_info=True)
    view = Snapshot(new, segments, [(r, frozenset(d)) for r, d in deleted], index_dir / name)
    prune(index_dir, keep={name, previous.path.name if previous.path else ""})
    return view


def _write_deletes(path: Path, rows: np.ndarray, docs: frozenset[str]) -> None:
    durable.write_file(
        path, json.dumps({"rows": rows.tolist(), "documents": sorted(docs)}, ensure_ascii=False).encode()
    )


def _current_name(index_dir: Path) -> str | None:
    try:
        return (index_dir / CURRENT).read_text().strip()
    except (OSError, ValueError):
        return None


def _referenced(index_dir: Path, commit_name: str) -> set[str]:
    try:
        c = _COMMIT.validate_json((index_dir / commit_name).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return set()
    return {commit_name} | {r.name for r in c.segments} | {r.deletes for r in c.segments if r.deletes}


def prune(index_dir: Path, keep: set[str] | None = None) -> None:
    """Remove what neither the live commit nor the one before it uses, and leftovers of killed writers.

    The caller holds :func:`writer_lock`. The previous commit stays readable
    for a reader that resolved CURRENT just before the switch. Never raises:
    what cannot go now goes next time.
    """
    try:
        names = keep if keep is not None else {n for n in [_current_name(index_dir)] if n}
        used = set().union(*(_referenced(index_dir, n) for n in names if n)) if names else set()
        for path in [
            *index_dir.glob(".tmp-*"),
            *index_dir.glob("commit-*"),
            *index_dir.glob("seg-*"),
            *index_dir.glob("gen-*"),
        ]:
            if path.name not in used:
                shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
        for path in (index_dir / DELETES).glob("*") if (index_dir / DELETES).is_dir() else []:
            if path.name not in used:
                path.unlink(missing_ok=True)
    except OSError:
        log.warning("could not prune %s", index_dir, exc_info=True)


# ------------------------------------------------------------------ reading
def current_path(index_dir: Path) -> Path:
    """The live commit file."""
    try:
        name = (index_dir / CURRENT).read_text().strip()
    except FileNotFoundError:
        raise IndexMissing(f"no index in {index_dir}; build one with `qa index`") from None
    except NotADirectoryError:
        make_folder(index_dir)  # says what is in the way
        raise
    except (OSError, ValueError) as exc:
        raise IndexCorrupt(f"cannot read {index_dir / CURRENT}: {exc}; {REMEDY}") from None
    path = index_dir / name
    if not name or "/" in name or not path.exists():
        raise IndexCorrupt(f"{index_dir / CURRENT} names a missing commit {name!r}; {REMEDY}")
    return path


def read_manifest(index_dir: Path) -> Commit:
    path = current_path(index_dir)
    if path.is_dir():  # format 1: a generation folder, which qa.index.convert.upgrade turns into segments first
        raise IndexCorrupt(f"{path} is a format-1 index, which this version reads only to convert it; {REMEDY}")
    try:
        return _COMMIT.validate_json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise IndexCorrupt(f"cannot read {path}: {_first_line(exc)}; {REMEDY}") from None


def check_model(commit_: Commit, model: str, dim: int) -> None:
    if commit_.format_version not in READABLE:
        raise IndexCorrupt(f"index format {commit_.format_version} is not {FORMAT_VERSION}; {REMEDY}")
    if commit_.model != model or commit_.dim != dim:
        raise ModelMismatch(
            f"the index was built with model {commit_.model!r} (dim {commit_.dim}) but the configured model is "
            f"{model!r} (dim {dim}); set QA_MODEL={commit_.model!r} or {REMEDY}"
        )


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]


def load(index_dir: Path, *, model: str, dim: int, known: Snapshot | None = None) -> Snapshot:
    """Load the live commit, checking it was built by ``model`` and is intact.

    Segments that ``known`` (a view already in memory) holds are reused, so
    following another process's write loads only what it added.
    """
    path = current_path(index_dir)
    commit_ = read_manifest(index_dir)
    check_model(commit_, model, dim)
    have = {s.name: s for s in known.segments} if known is not None else {}
    segments, deleted = [], []
    try:
        for ref in commit_.segments:
            segments.append(have.get(ref.name) or Segment.load(index_dir / ref.name))
            if ref.deletes:
                data = _DELETES.validate_json((index_dir / DELETES / ref.deletes).read_text(encoding="utf-8"))
                deleted.append((np.asarray(data["rows"], np.int64), frozenset(data["documents"])))
            else:
                deleted.append((np.zeros(0, np.int64), frozenset()))
    except Exception as exc:  # noqa: BLE001 - whatever a damaged file makes a reader raise, it means the same
        raise IndexCorrupt(f"cannot read the index in {index_dir}: {_first_line(exc)}; {REMEDY}") from None
    for segment, (rows, docs) in zip(segments, deleted, strict=True):
        if (len(rows) and (rows.min() < 0 or rows.max() >= segment.size)) or not docs <= set(segment.documents):
            raise IndexCorrupt(f"the deletions of {segment.name} name rows or documents it does not have; {REMEDY}")
    return Snapshot(commit_, segments, deleted, path)
