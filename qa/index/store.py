"""The index on disk: one folder per generation, switched atomically through a CURRENT pointer.

    index/
      CURRENT                  name of the live generation (replaced by rename)
      gen-<time>-<rand>/       manifest.json, chunks.jsonl, vectors.faiss, windows.npy, lexical/, bridge/
      .lock                    held by whoever is writing a generation

A generation is complete before CURRENT names it, so readers never see a half
written index and a writer killed at any moment leaves the last good one live.
"""

from __future__ import annotations

import io
import json
import logging
import os
import secrets
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path
from typing import Any

import faiss
import filelock
import numpy as np
from pydantic import TypeAdapter

from qa import durable
from qa.config import VectorSpec
from qa.errors import Conflict, IndexCorrupt, IndexMissing, ModelMismatch
from qa.index import bridge as bridge_
from qa.index import vectors as vectors_
from qa.index.chunking import Chunk
from qa.index.lexical import CJK_CHAR, TOKENS_VERSION, LexicalIndex

FORMAT_VERSION = 1
CURRENT = "CURRENT"
MANIFEST, CHUNKS, VECTORS, WINDOWS = "manifest.json", "chunks.jsonl", "vectors.faiss", "windows.npy"
LEXICAL, BRIDGE = "lexical", "bridge"
REMEDY = "rebuild it with `qa index --rebuild`"
log = logging.getLogger(__name__)


@dataclass
class DocEntry:
    sha256: str
    chunks: int
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class Manifest:
    model: str
    dim: int
    chunking: dict[str, int]
    documents: dict[str, DocEntry] = field(default_factory=dict)
    created_at: str = ""
    format_version: int = FORMAT_VERSION
    tokens_version: int = 1  # of the lexical tokens (qa.index.lexical.TOKENS_VERSION); 1 before it was recorded

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, indent=1)

    @classmethod
    def from_json(cls, raw: str) -> Manifest:
        """Parsed and type-checked: a hand-edited or damaged manifest is a ValueError, not a crash later."""
        return _MANIFEST.validate_json(raw)


_MANIFEST = TypeAdapter(Manifest)


@dataclass
class Index:
    """A loaded generation: chunk records, their window vectors in FAISS, and BM25 over the chunks.

    Vector rows ``offsets[i]:offsets[i + 1]`` are the embedding windows of
    ``chunks[i]``; BM25 row i is ``chunks[i]``.
    """

    manifest: Manifest
    chunks: list[Chunk]
    vectors: faiss.Index
    offsets: np.ndarray
    lexical: LexicalIndex
    bridge: LexicalIndex  # over qa.index.bridge tokens, for questions in Latin letters
    path: Path | None = None
    window_chunk: np.ndarray = field(init=False, repr=False)  # chunk row of every vector row

    def __post_init__(self) -> None:
        self.window_chunk = np.repeat(np.arange(len(self.chunks)), np.diff(self.offsets))
        self.doc_rows: dict[str, list[int]] = {}
        for i, chunk in enumerate(self.chunks):
            self.doc_rows.setdefault(chunk.doc_id, []).append(i)
        self._mapped: tuple[Path, int, int] | None = None  # (file, inode, size) of memory-mapped vectors

    def check_vectors(self) -> None:
        """Raise :class:`IndexCorrupt` if the memory-mapped vector file was cut short since it was loaded.

        Touching a page past the end of a truncated mapping kills the process
        with SIGBUS, which no handler can turn into an error; a stat first
        (microseconds) turns it into a 503 with the remedy instead. Generations
        are never rewritten, so only damage from outside can trip this.
        """
        if self._mapped is None:
            return
        path, inode, size = self._mapped
        try:
            st = os.stat(path)
        except OSError:
            return  # pruned by a newer generation's writer: the mapping still holds the old inode whole
        if st.st_ino == inode and st.st_size != size:
            raise IndexCorrupt(
                f"{path} changed size while it was being served ({size} -> {st.st_size} bytes); {REMEDY}"
            )

    @property
    def size(self) -> int:
        return len(self.chunks)

    @cached_property
    def latin_rows(self) -> np.ndarray:
        """Which chunks are written in Latin letters (almost no CJK): where a Chinese question's glosses may match."""
        return np.array([len(CJK_CHAR.findall(c.text)) < 0.1 * len(c.text) for c in self.chunks], bool)

    def window_vectors(self, chunk_rows: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """Vectors of the given chunks' windows, and the chunk row each belongs to."""
        dim = self.manifest.dim
        parts, owners = [], []
        self.check_vectors()
        for r in chunk_rows:
            a, b = int(self.offsets[r]), int(self.offsets[r + 1])
            if b > a:
                parts.append(self.vectors.reconstruct_n(a, b - a))
                owners.append(np.full(b - a, r))
        if not parts:
            return np.zeros((0, dim), np.float32), np.zeros(0, np.int64)
        return np.vstack(parts).astype(np.float32), np.concatenate(owners)


def new_index(
    manifest: Manifest,
    chunks: list[Chunk],
    vectors: np.ndarray,
    offsets: np.ndarray,
    spec: VectorSpec = VectorSpec(),
    base: faiss.Index | None = None,
) -> Index:
    """An index of these chunks and window vectors, with BM25 built over the chunks (``base``: see :func:`vectors.build`)."""
    index = vectors_.build(vectors, manifest.dim, spec, base)
    manifest.tokens_version = TOKENS_VERSION
    lexical, bridge = lexical_indexes([c.text for c in chunks])
    return Index(manifest, chunks, index, np.asarray(offsets, np.int64), lexical, bridge)


def lexical_indexes(texts: list[str]) -> tuple[LexicalIndex, LexicalIndex]:
    """The lexical and bridge indexes of these chunk texts."""
    return LexicalIndex.build(texts), LexicalIndex.build(texts, bridge_.tokens)


# ----------------------------------------------------------------- writing
@contextmanager
def writer_lock(index_dir: Path, *, timeout: float | None = None) -> Iterator[None]:
    """One writer per index folder, across processes (CLI and server alike).

    Waits for the lock forever (``timeout=None``) or up to ``timeout`` seconds,
    then raises :class:`Conflict`. The lock is a flock, which the kernel drops
    when its holder dies, so a killed writer never leaves the index locked.
    """
    index_dir.mkdir(parents=True, exist_ok=True)
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


def write(index_dir: Path, index: Index) -> Path:
    """Write ``index`` as a new generation and make it live; the caller holds :func:`writer_lock`.

    The rename of CURRENT is the commit. Before it, any failure (a full
    disk) removes what was written and raises, and the previous generation
    stays live; after it, nothing raises: pruning is housekeeping.
    """
    index_dir.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    name = f"gen-{stamp}-{secrets.token_hex(3)}"
    tmp = index_dir / f".tmp-{name}"
    try:
        _write_generation(tmp, index)
        os.replace(tmp, index_dir / name)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if (index_dir / CURRENT).is_dir():  # damage a rebuild is the remedy for: rename() cannot replace a folder
        shutil.rmtree(index_dir / CURRENT)
    try:
        durable.replace(
            index_dir / CURRENT, (name + "\n").encode(), index_dir / f".tmp-{CURRENT}-{secrets.token_hex(3)}"
        )
    except BaseException:
        if _current_name(index_dir) != name:  # the switch did not happen: the new generation is garbage
            shutil.rmtree(index_dir / name, ignore_errors=True)
            raise
        log.warning("generation %s is live, but making the switch durable failed", name, exc_info=True)
    prune(index_dir, keep={name})
    index.path = index_dir / name
    return index.path


def _current_name(index_dir: Path) -> str | None:
    try:
        return (index_dir / CURRENT).read_text().strip()
    except (OSError, ValueError):
        return None


def _write_generation(tmp: Path, index: Index) -> None:
    tmp.mkdir()
    index.manifest.created_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    records = "".join(json.dumps(asdict(c), ensure_ascii=False) + "\n" for c in index.chunks)
    durable.write_file(tmp / CHUNKS, records.encode("utf-8"))
    durable.write_file(tmp / VECTORS, faiss.serialize_index(index.vectors).tobytes())
    offsets = io.BytesIO()
    np.save(offsets, index.offsets)
    durable.write_file(tmp / WINDOWS, offsets.getvalue())
    for name, part in ((LEXICAL, index.lexical), (BRIDGE, index.bridge)):
        part.save(tmp / name)
        for file in (tmp / name).iterdir():
            durable.fsync_file(file)
    durable.write_file(tmp / MANIFEST, index.manifest.to_json().encode("utf-8"))
    durable.fsync_dir(tmp)


def prune(index_dir: Path, keep: set[str] | None = None) -> None:
    """Drop leftovers of failed or killed writers and all but the newest generation besides the live one.

    The caller holds :func:`writer_lock`. One older generation stays so that
    a reader that resolved CURRENT just before the switch can still open what
    it resolved. Never raises: a leftover that cannot go now goes next time.
    """
    keep = keep if keep is not None else {n for n in [_current_name(index_dir)] if n}
    try:
        gens = sorted(p for p in index_dir.glob("gen-*") if p.is_dir() and p.name not in keep)
        for stale in [*index_dir.glob(".tmp-*"), *gens[:-1]]:
            if stale.is_dir():
                shutil.rmtree(stale, ignore_errors=True)
            else:
                stale.unlink(missing_ok=True)
    except OSError:
        log.warning("could not prune %s", index_dir, exc_info=True)


# ----------------------------------------------------------------- reading
def current_path(index_dir: Path) -> Path:
    try:
        name = (index_dir / CURRENT).read_text().strip()
    except FileNotFoundError:
        raise IndexMissing(f"no index in {index_dir}; build one with `qa index`") from None
    except (OSError, ValueError) as exc:
        raise IndexCorrupt(f"cannot read {index_dir / CURRENT}: {exc}; {REMEDY}") from None
    path = index_dir / name
    if not name or "/" in name or not path.is_dir():
        raise IndexCorrupt(f"{index_dir / CURRENT} names a missing generation {name!r}; {REMEDY}")
    return path


def read_manifest(index_dir: Path) -> Manifest:
    path = current_path(index_dir) / MANIFEST
    try:
        return Manifest.from_json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise IndexCorrupt(f"cannot read {path}: {_first_line(exc)}; {REMEDY}") from None


def check_model(manifest: Manifest, model: str, dim: int) -> None:
    if manifest.format_version != FORMAT_VERSION:
        raise IndexCorrupt(f"index format {manifest.format_version} is not {FORMAT_VERSION}; {REMEDY}")
    if manifest.model != model or manifest.dim != dim:
        raise ModelMismatch(
            f"the index was built with model {manifest.model!r} (dim {manifest.dim}) but the configured model is "
            f"{model!r} (dim {dim}); set QA_MODEL={manifest.model!r} or {REMEDY}"
        )


def load(index_dir: Path, *, model: str, dim: int) -> Index:
    """Load the live generation, checking it was built by ``model`` and is intact."""
    path = current_path(index_dir)
    manifest = read_manifest(index_dir)
    check_model(manifest, model, dim)
    try:
        with open(path / CHUNKS, encoding="utf-8") as fh:
            chunks = [_CHUNK.validate_json(line) for line in fh if line.strip()]
        # Memory-mapped: start-up does not read the vectors, and pages come in as searches touch them.
        vectors = faiss.read_index(str(path / VECTORS), faiss.IO_FLAG_MMAP_IFC)
        offsets = np.load(path / WINDOWS, allow_pickle=False)
        if manifest.tokens_version == TOKENS_VERSION:
            lexical, bridge = (
                LexicalIndex.load(path / LEXICAL, len(chunks)),
                LexicalIndex.load(path / BRIDGE, len(chunks)),
            )
        else:  # an index from an earlier qa: its vectors serve as they are, its tokens are made anew
            log.info(
                "re-tokenizing %d passages of %s for this version of qa; the next write saves them", len(chunks), path
            )
            lexical, bridge = lexical_indexes([c.text for c in chunks])
    except Exception as exc:  # noqa: BLE001 - whatever a damaged file makes a reader raise, it means the same
        raise IndexCorrupt(f"cannot read the index in {path}: {_first_line(exc)}; {REMEDY}") from None
    problem = _inconsistency(manifest, chunks, vectors, offsets, dim)
    if problem:
        raise IndexCorrupt(f"the index in {path} is inconsistent ({problem}); {REMEDY}")
    index = Index(manifest, chunks, vectors, offsets, lexical, bridge, path)
    st = os.stat(path / VECTORS)
    index._mapped = (path / VECTORS, st.st_ino, st.st_size)
    return index


_CHUNK = TypeAdapter(Chunk)


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]


def _inconsistency(manifest: Manifest, chunks: list[Chunk], vectors: faiss.Index, offsets: np.ndarray, dim: int) -> str:
    """What does not add up between the files of a generation, or '' when they agree."""
    per_doc: dict[str, int] = {}
    for chunk in chunks:
        per_doc[chunk.doc_id] = per_doc.get(chunk.doc_id, 0) + 1
    if per_doc != {d: e.chunks for d, e in manifest.documents.items() if e.chunks}:
        return f"{len(chunks)} chunks of {len(per_doc)} documents, manifest lists {len(manifest.documents)}"
    if offsets.shape != (len(chunks) + 1,) or not bool(np.all(np.diff(offsets) >= 0)):
        return f"window offsets of shape {offsets.shape} for {len(chunks)} chunks"
    if int(offsets[-1]) != vectors.ntotal or vectors.d != dim:
        return f"{vectors.ntotal} vectors of dim {vectors.d}, offsets say {int(offsets[-1])} of dim {dim}"
    return ""
