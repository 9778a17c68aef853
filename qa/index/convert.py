"""Indexes written before segments (format 1: one folder per generation) become one segment, once.

The generation's chunks, window vectors and documents are kept as they are
(nothing is embedded again); its BM25 is rebuilt as term counts, which format
1 did not store. The old generation is removed by the next prune.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import faiss
import numpy as np
from pydantic import TypeAdapter

from qa.errors import IndexCorrupt
from qa.index import bridge, store
from qa.index.chunking import Chunk
from qa.index.lexical import tokenize
from qa.index.postings import Postings
from qa.index.segment import DocEntry, Segment, new_name

log = logging.getLogger(__name__)
_CHUNK = TypeAdapter(Chunk)
_DOCS = TypeAdapter(dict[str, DocEntry])


def upgrade(index_dir: Path, *, model: str, dim: int) -> None:
    """Convert a format-1 index to segments in place, once, under the writer lock; a current index is left alone.

    It runs before :func:`qa.index.store.load`, which knows only the current format: the conversion sits above
    the store it writes into rather than inside it.
    """
    path = store.current_path(index_dir)
    if not path.is_dir():
        return
    commit_ = read_manifest_v1(path)
    store.check_model(commit_, model, dim)
    with store.writer_lock(index_dir):
        if store.current_path(index_dir) == path:  # another process may have converted it meanwhile
            from_v1(index_dir, path, commit_)


def read_manifest_v1(path: Path) -> store.Commit:
    try:
        data = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
        return store.Commit(
            data["model"], int(data["dim"]), dict(data["chunking"]), [], data.get("created_at", ""), format_version=1
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise IndexCorrupt(f"cannot read {path / 'manifest.json'}: {exc}; {store.REMEDY}") from None


def from_v1(index_dir: Path, path: Path, commit_: store.Commit) -> store.Snapshot:
    """Convert generation ``path`` into a segment and commit it; the caller holds the writer lock."""
    log.warning(
        "converting the index in %s to format %d (once; nothing is embedded again)", index_dir, store.FORMAT_VERSION
    )
    try:
        data = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
        documents = _DOCS.validate_python(data["documents"])
        with open(path / "chunks.jsonl", encoding="utf-8") as fh:
            chunks = [_CHUNK.validate_json(line) for line in fh if line.strip()]
        vectors = faiss.read_index(str(path / "vectors.faiss"))
        offsets = np.load(path / "windows.npy", allow_pickle=False)
    except Exception as exc:  # noqa: BLE001 - a damaged format-1 index: the remedy is the same
        raise IndexCorrupt(f"cannot read the index in {path}: {exc}; {store.REMEDY}") from None
    texts = [c.text for c in chunks]
    segment = Segment(
        new_name(vectors.ntotal),
        documents,
        chunks,
        np.asarray(offsets, np.int64),
        vectors,
        Postings.build(tokenize(t) for t in texts),
        Postings.build(bridge.tokens(t) for t in texts),
    )
    problem = segment.inconsistency()
    if problem:
        raise IndexCorrupt(f"the index in {path} is inconsistent ({problem}); {store.REMEDY}")
    base = store.empty(commit_.model, commit_.dim, commit_.chunking)
    return store.commit(index_dir, base, add=[segment])
