"""One immutable segment of an index: some documents' chunks, their window vectors and their term counts.

    seg-<id>/
      segment.json      the documents it holds (sha256, metadata, chunk count), its size, format
      chunks.jsonl      one chunk per line; row i is line i
      vectors.faiss     window vectors (flat, or HNSW when large), memory-mapped when loaded
      windows.npy       offsets: rows offsets[i]:offsets[i+1] of the vectors are chunk i's windows
      lexical/ bridge/  term counts for BM25 (qa.index.postings), over lexical and bridge tokens
    seg-<id>.seg        a small segment (up to PACKED_MAX_WINDOWS windows): the same files in one (qa.index.packed)

A segment is written whole under a temporary name, fsynced and renamed; it
is never changed afterwards. A folder costs an fsync per file and folder,
about twenty; one file costs one, which is what makes a one-document write
cheap. Large segments stay folders, so their vectors and term counts are
memory-mapped rather than read at start-up. What a later write removes from
a segment is recorded in the commit that lists it (qa.index.store), and a
merge rewrites live rows into a new segment.
"""

from __future__ import annotations

import io
import json
import os
import secrets
import shutil
import time
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import faiss
import numpy as np
from pydantic import TypeAdapter

from qa import durable
from qa.config import VectorSpec
from qa.index import bridge, packed, vectors
from qa.index.chunking import Chunk
from qa.index.lexical import CJK_CHAR, tokenize
from qa.index.mapped import Watched
from qa.index.postings import Postings

SEGMENT, CHUNKS, VECTORS, WINDOWS = "segment.json", "chunks.jsonl", "vectors.faiss", "windows.npy"
LEXICAL, BRIDGE = "lexical", "bridge"
PACKED = ".seg"  # the name's suffix of a segment packed into one file
PACKED_MAX_WINDOWS = 4096  # 6 MB of vectors at 384 dimensions: read whole at load, as a flat search reads them anyway
_CHUNK = TypeAdapter(Chunk)


@dataclass
class DocEntry:
    sha256: str
    chunks: int
    metadata: dict[str, Any] = field(default_factory=dict)


_DOCS = TypeAdapter(dict[str, DocEntry])


def new_name(windows: int | None = None) -> str:
    """A fresh segment name; one of ``windows`` window vectors or fewer is packed into one file (None: a folder)."""
    small = windows is not None and windows <= PACKED_MAX_WINDOWS
    return f"seg-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{secrets.token_hex(4)}" + (PACKED if small else "")


@dataclass(eq=False)
class Segment:
    """A loaded (or just built) segment. Rows are its chunks in order; documents' rows are contiguous."""

    name: str
    documents: dict[str, DocEntry]
    chunks: list[Chunk]
    offsets: np.ndarray
    vectors: faiss.Index
    lexical: Postings
    bridge: Postings
    mapped: Watched = field(default_factory=Watched)  # its memory-mapped vector file, as it was when mapped
    terms: Watched = field(default_factory=Watched)  # its memory-mapped term counts, likewise

    @classmethod
    def build(
        cls,
        documents: dict[str, DocEntry],
        chunks: list[Chunk],
        window_vectors: np.ndarray,
        offsets: np.ndarray,
        dim: int,
        spec: VectorSpec,
    ) -> Segment:
        texts = [c.text for c in chunks]
        return cls(
            new_name(len(window_vectors)),
            documents,
            chunks,
            np.asarray(offsets, np.int64),
            vectors.build(window_vectors, dim, spec),
            Postings.build(tokenize(t) for t in texts),
            Postings.build(bridge.tokens(t) for t in texts),
        )

    @property
    def size(self) -> int:
        return len(self.chunks)

    @cached_property
    def window_chunk(self) -> np.ndarray:
        """The chunk row of every window vector."""
        return np.repeat(np.arange(self.size), np.diff(self.offsets))

    @cached_property
    def doc_rows(self) -> dict[str, list[int]]:
        rows: dict[str, list[int]] = {}
        for i, chunk in enumerate(self.chunks):
            rows.setdefault(chunk.doc_id, []).append(i)
        return rows

    @cached_property
    def latin(self) -> np.ndarray:
        """Which chunks are written in Latin letters (almost no CJK)."""
        return np.array([len(CJK_CHAR.findall(c.text)) < 0.1 * len(c.text) for c in self.chunks], bool)

    def check_vectors(self) -> None:
        """Raise OSError if the memory-mapped vector file changed size since it was loaded (SIGBUS otherwise)."""
        self.mapped.check()

    def check_terms(self) -> None:
        """Raise OSError if a memory-mapped term-count file changed size since it was loaded (SIGBUS otherwise)."""
        self.terms.check()

    def window_vectors(self, rows: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """Vectors of the given rows' windows, and the row each belongs to."""
        self.check_vectors()
        parts, owners = [], []
        for r in rows:
            a, b = int(self.offsets[r]), int(self.offsets[r + 1])
            if b > a:
                parts.append(self.vectors.reconstruct_n(a, b - a))
                owners.append(np.full(b - a, r))
        if not parts:
            return np.zeros((0, self.vectors.d), np.float32), np.zeros(0, np.int64)
        return np.vstack(parts).astype(np.float32), np.concatenate(owners)

    # ------------------------------------------------------------------ disk
    @property
    def is_packed(self) -> bool:
        return self.name.endswith(PACKED)

    def write(self, index_dir: Path) -> Path:
        """Write this segment whole under ``index_dir`` and return its path; nothing is visible until the rename.

        Its name in ``index_dir`` is durable once the caller fsyncs that folder, which a commit does anyway
        before it switches CURRENT (qa.index.store.commit), so it is not done here a second time.
        """
        tmp = index_dir / f".tmp-{self.name}"
        try:
            if self.is_packed:
                durable.write_file(tmp, packed.pack(self._parts()))
            else:
                self._write_folder(tmp)
            os.replace(tmp, index_dir / self.name)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True) if tmp.is_dir() else tmp.unlink(missing_ok=True)
            raise
        return index_dir / self.name

    def _info(self) -> bytes:
        info = {"documents": _DOCS.dump_python(self.documents), "chunks": self.size, "windows": int(self.offsets[-1])}
        return json.dumps(info, ensure_ascii=False).encode("utf-8")

    def _records(self) -> bytes:
        return "".join(json.dumps(asdict(c), ensure_ascii=False) + "\n" for c in self.chunks).encode("utf-8")

    def _parts(self) -> dict[str, bytes]:
        """The folder's files as bytes, by their path in the folder (what a packed segment holds)."""
        offsets = io.BytesIO()
        np.save(offsets, self.offsets)
        parts = {
            CHUNKS: self._records(),
            VECTORS: faiss.serialize_index(self.vectors).tobytes(),
            WINDOWS: offsets.getvalue(),
        }
        for name, postings in ((LEXICAL, self.lexical), (BRIDGE, self.bridge)):
            parts |= {f"{name}/{file}": data for file, data in postings.parts().items()}
        return parts | {SEGMENT: self._info()}

    def _write_folder(self, tmp: Path) -> None:
        """File by file, each fsynced, so a large segment is never all in memory twice."""
        tmp.mkdir()
        durable.write_file(tmp / CHUNKS, self._records())
        durable.write_file(tmp / VECTORS, faiss.serialize_index(self.vectors).tobytes())
        offsets = io.BytesIO()
        np.save(offsets, self.offsets)
        durable.write_file(tmp / WINDOWS, offsets.getvalue())
        for name, postings in ((LEXICAL, self.lexical), (BRIDGE, self.bridge)):
            postings.save(tmp / name)
            for file in postings.files(tmp / name):
                durable.fsync_file(file)
            durable.fsync_dir(tmp / name)
        durable.write_file(tmp / SEGMENT, self._info())
        durable.fsync_dir(tmp)

    @classmethod
    def load(cls, path: Path) -> Segment:
        """A folder memory-maps the vectors and the term counts (start-up reads neither); a packed file is read."""
        if path.name.endswith(PACKED):
            return cls._load_packed(path)
        folder = path
        info = json.loads((folder / SEGMENT).read_text(encoding="utf-8"))
        with open(folder / CHUNKS, encoding="utf-8") as fh:
            chunks = [_CHUNK.validate_json(line) for line in fh if line.strip()]
        index = faiss.read_index(str(folder / VECTORS), faiss.IO_FLAG_MMAP_IFC)
        offsets = np.load(folder / WINDOWS, allow_pickle=False)
        vectors_, terms = Watched(), Watched()
        vectors_.add(folder / VECTORS)
        lexical, bridge_ = Postings.load(folder / LEXICAL), Postings.load(folder / BRIDGE)
        for file in [*lexical.files(folder / LEXICAL), *bridge_.files(folder / BRIDGE)]:
            if file.suffix == ".npy":
                terms.add(file)
        documents = _DOCS.validate_python(info["documents"])
        return cls(folder.name, documents, chunks, offsets, index, lexical, bridge_, vectors_, terms)._checked()

    @classmethod
    def _load_packed(cls, path: Path) -> Segment:
        parts = packed.read(path)
        info = json.loads(bytes(parts[SEGMENT]).decode("utf-8"))
        lines = bytes(parts[CHUNKS]).decode("utf-8").splitlines()
        chunks = [_CHUNK.validate_json(line) for line in lines if line.strip()]
        index = faiss.deserialize_index(np.frombuffer(parts[VECTORS], np.uint8))
        offsets = np.load(io.BytesIO(parts[WINDOWS]), allow_pickle=False)
        lexical, bridge_ = (
            Postings.from_parts({k.split("/", 1)[1]: v for k, v in parts.items() if k.startswith(name + "/")})
            for name in (LEXICAL, BRIDGE)
        )
        documents = _DOCS.validate_python(info["documents"])
        return cls(path.name, documents, chunks, offsets, index, lexical, bridge_)._checked()

    def _checked(self) -> Segment:
        problem = self.inconsistency()
        if problem:
            raise ValueError(problem)
        return self

    def inconsistency(self) -> str:
        """What does not add up between the files of this segment, or '' when they agree."""
        per_doc: dict[str, int] = {}
        for chunk in self.chunks:
            per_doc[chunk.doc_id] = per_doc.get(chunk.doc_id, 0) + 1
        if per_doc != {d: e.chunks for d, e in self.documents.items() if e.chunks}:
            return f"{self.size} chunks of {len(per_doc)} documents, the segment lists {len(self.documents)}"
        if self.offsets.shape != (self.size + 1,) or not bool(np.all(np.diff(self.offsets) >= 0)):
            return f"window offsets of shape {self.offsets.shape} for {self.size} chunks"
        if int(self.offsets[-1]) != self.vectors.ntotal:
            return f"{self.vectors.ntotal} vectors, offsets say {int(self.offsets[-1])}"
        if self.lexical.size != self.size or self.bridge.size != self.size:
            return f"term counts for {self.lexical.size} rows, {self.size} chunks"
        return ""
