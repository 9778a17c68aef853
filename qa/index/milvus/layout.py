"""What a qa collection looks like in Milvus: one entity per embedded window, one per document, one for its state.

    id "w:<chunk_id>:<k>"  kind 0  a window: its vector, its passage (chunk id, document, offsets, page,
                                  section, the document's metadata, its version), and on window 0 the text
    id "d:<doc_id>"        kind 1  a document: sha256, passage count, metadata, and a version every write of
                                  it renews (a reader keeps that version's windows; a rebuild compares
                                  versions to find what was written while it ran)
    id "s:"                kind 2  the collection: model, dim, chunking, tokens version, and a stamp that
                                  every write renews, which other processes poll to follow writes
    id "c:<token>"         kind 3  a writer's claim on the collection while it writes (see ``lease.py``)
    id "r:<token>"         kind 4  a rebuild under way, since its start (see ``marks.py``; the token in chunk_id)
    id "t:<token>:<doc>"   kind 5  a document deleted while that rebuild ran (the token in chunk_id)

Keeping documents and state in the collection itself means an alias switch
(a rebuild) swaps all three at once. Document and state entities carry a zero
vector (inner product: they score 0) and every search filters on ``kind``.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import numpy as np

from qa.index.chunking import Chunk
from qa.index.lexical import CJK_CHAR
from qa.index.milvus.terms import PLACEHOLDER
from qa.index.segment import DocEntry

WINDOW, DOCUMENT, STATE, CLAIM, MARK, TOMB = 0, 1, 2, 3, 4, 5
STATE_ID = "s:"
FORMAT = 1  # of this layout, recorded in the state entity
LONG = 65535  # Milvus' longest VARCHAR, in bytes
PASSAGE_FIELDS = ["chunk_id", "doc_id", "start", "end", "page", "section", "text"]
FIELDS = ["id", "kind", "vector", "doc_id", "chunk_id", "window", *PASSAGE_FIELDS[2:], "metadata", "info"]


@dataclass
class State:
    model: str
    dim: int
    chunking: dict[str, int]
    tokens_version: int
    created_at: str = ""
    stamp: str = field(default_factory=lambda: secrets.token_hex(8))
    format: int = FORMAT
    lexical: str = "process"  # where BM25 lives (QA_MILVUS_LEXICAL): "milvus" adds the sparse field and stats

    def renewed(self) -> State:
        stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
        return State(self.model, self.dim, self.chunking, self.tokens_version, stamp, lexical=self.lexical)

    def entity(self) -> dict[str, Any]:
        row = _entity(STATE_ID, STATE, np.zeros(self.dim, np.float32), info=self.__dict__.copy())
        return row | ({"sparse": dict(PLACEHOLDER)} if self.lexical == "milvus" else {})


def schema(dim: int, sparse: bool = False) -> Any:
    """The collection's fields; ``sparse``: also each passage's BM25 term weights (``terms.py``)."""
    from pymilvus import DataType, MilvusClient

    s = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    s.add_field("id", DataType.VARCHAR, is_primary=True, max_length=2048)
    s.add_field("kind", DataType.INT8)
    s.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
    s.add_field("doc_id", DataType.VARCHAR, max_length=1024)
    s.add_field("chunk_id", DataType.VARCHAR, max_length=1100)
    s.add_field("window", DataType.INT32)
    s.add_field("start", DataType.INT64)
    s.add_field("end", DataType.INT64)
    s.add_field("page", DataType.INT32)  # 0: unknown
    s.add_field("section", DataType.VARCHAR, max_length=LONG)
    s.add_field("text", DataType.VARCHAR, max_length=LONG)
    s.add_field("metadata", DataType.JSON)
    s.add_field("info", DataType.JSON)
    if sparse:
        s.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    return s


def _entity(id_: str, kind: int, vector: np.ndarray, **fields: Any) -> dict[str, Any]:
    row = {"id": id_, "kind": kind, "vector": vector.astype(np.float32).tolist(), "doc_id": "", "chunk_id": ""}
    row |= {"window": 0, "start": 0, "end": 0, "page": 0, "section": "", "text": "", "metadata": {}, "info": {}}
    return row | fields


def is_latin(text: str) -> bool:
    """A passage mostly in Latin letters (what cross-lingual ranking asks)."""
    return len(CJK_CHAR.findall(text)) < 0.1 * len(text)


def window_id(chunk_id: str, k: int) -> str:
    return f"w:{chunk_id}:{k}"


def record_id(doc_id: str) -> str:
    return f"d:{doc_id}"


def document_entities(
    doc_id: str,
    entry: DocEntry,
    chunks: list[Chunk],
    vectors: list[np.ndarray],
    dim: int,
    weights: list[dict[int, float]] | None = None,
) -> list[dict[str, Any]]:
    """The entities of one document: a window per vector row of each chunk (``vectors[i]``: chunk i's), and its record.

    ``weights[i]``: chunk i's BM25 term weights, on its window 0 (the one that carries the text), when BM25 lives
    in Milvus."""
    rows = []
    version = secrets.token_hex(8)  # on the record and every window: readers keep only the record's version's
    for i, (chunk, vecs) in enumerate(zip(chunks, vectors, strict=True)):
        for k, vec in enumerate(vecs):
            rows.append(
                _entity(
                    window_id(chunk.chunk_id, k),
                    WINDOW,
                    vec,
                    doc_id=doc_id,
                    chunk_id=chunk.chunk_id,
                    window=k,
                    start=chunk.start,
                    end=chunk.end,
                    page=chunk.page or 0,
                    section=chunk.section or "",
                    text=chunk.text if k == 0 else "",  # BM25 needs the passage once, not once per window
                    metadata=entry.metadata,
                    info={"version": version},
                )
            )
            if weights is not None and k == 0:  # the other windows and the record: a placeholder
                rows[-1]["sparse"] = weights[i]
                rows[-1]["info"]["latin"] = is_latin(chunk.text)  # searches return no text: what they need of it

    info = {"sha256": entry.sha256, "chunks": entry.chunks, "version": version}
    rows.append(
        _entity(
            record_id(doc_id), DOCUMENT, np.zeros(dim, np.float32), doc_id=doc_id, metadata=entry.metadata, info=info
        )
    )
    if weights is not None:
        rows = [r if "sparse" in r else r | {"sparse": dict(PLACEHOLDER)} for r in rows]
    return rows


def claim_entity(token: str, dim: int, info: dict[str, Any]) -> dict[str, Any]:
    return _entity(f"c:{token}", CLAIM, np.zeros(dim, np.float32), info=info)


def mark_entity(token: str, dim: int) -> dict[str, Any]:
    return _entity(f"r:{token}", MARK, np.zeros(dim, np.float32), chunk_id=token)


def tombstone_entity(token: str, doc_id: str, dim: int) -> dict[str, Any]:
    return _entity(f"t:{token}:{doc_id}", TOMB, np.zeros(dim, np.float32), chunk_id=token, doc_id=doc_id)


def chunk_of(row: dict[str, Any]) -> Chunk:
    return Chunk(
        row["chunk_id"],
        row["doc_id"],
        int(row["start"]),
        int(row["end"]),
        row["text"],
        row["page"] or None,
        row["section"] or None,
    )


def version_of(row: dict[str, Any]) -> str:
    """The write a document record or window comes from ("" for those written before versions were kept)."""
    return str((row.get("info") or {}).get("version", ""))


def doc_entry(row: dict[str, Any]) -> DocEntry:
    return DocEntry(row["info"]["sha256"], int(row["info"]["chunks"]), dict(row["metadata"] or {}))


def state_of(row: dict[str, Any]) -> State:
    info = row["info"]
    return State(
        info["model"],
        int(info["dim"]),
        dict(info["chunking"]),
        int(info["tokens_version"]),
        info.get("created_at", ""),
        info["stamp"],
        int(info.get("format", FORMAT)),
        str(info.get("lexical", "process")),
    )


def quoted(values: list[str]) -> str:
    """A list literal for a Milvus filter (JSON's string escapes are Milvus')."""
    return json.dumps(values, ensure_ascii=False)
