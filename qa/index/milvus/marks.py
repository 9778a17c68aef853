"""Where a rebuild began, and the tombstones deletes leave for it, so it carries every write made while it ran.

A rebuild fills a new collection from the docs folder while other replicas
go on writing the old one; before switching the alias it carries over what
changed since it began. A write shows as a document version that differs
from the one at the start, and a delete as a document gone since the start;
but a document created and then deleted meanwhile leaves no trace, and if
the folder holds it, the rebuild would bring it back. So a rebuild leaves a
marker in the collection at its start, and a writer deleting documents while
a marker is there leaves a tombstone per document and marker. The writer and
the rebuild both hold the lease (``lease.py``) for this, so a delete is
either before the start (the folder's to decide) or after it, tombstoned.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field

from qa.errors import QAError
from qa.index.milvus import layout
from qa.index.milvus.collection import Collection
from qa.index.segment import DocEntry

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Start:
    """Where a rebuild began: the collection behind the alias then, each document's version there, its marker, and
    each document's record there (what the folder the rebuild indexes must agree with: ``agreement.py``)."""

    name: str | None
    versions: dict[str, str]
    token: str
    records: dict[str, DocEntry] = field(default_factory=dict)


def begin(collection: Collection) -> Start:
    """Read the starting point and leave the marker (the caller holds the lease: no write is half done)."""
    name, token = collection.behind(), secrets.token_hex(8)
    if name is None:  # a first build: nobody else can write yet
        return Start(None, {}, token)
    collection.write(name, [layout.mark_entity(token, collection.dim(name))])
    rows = list(collection.query(f"kind == {layout.DOCUMENT}", ["doc_id", "metadata", "info"], name))
    versions = {r["doc_id"]: layout.version_of(r) for r in rows}
    return Start(name, versions, token, {r["doc_id"]: layout.doc_entry(r) for r in rows})


def bury(collection: Collection, doc_ids: list[str]) -> None:
    """Tombstones of ``doc_ids`` for every rebuild under way (the caller holds the lease and deletes them next)."""
    name = collection.behind()
    if not doc_ids or name is None:
        return
    tokens = [r["chunk_id"] for r in collection.query(f"kind == {layout.MARK}", ["chunk_id"], name)]
    dim = collection.dim(name)
    collection.write(name, [layout.tombstone_entity(t, d, dim) for t in tokens for d in doc_ids])


def buried(collection: Collection, start: Start) -> set[str]:
    """The documents deleted since ``start`` (the caller holds the lease)."""
    if start.name is None:
        return set()
    expr = f"kind == {layout.TOMB} and chunk_id == {layout.quoted([start.token])[1:-1]}"
    return {r["doc_id"] for r in collection.query(expr, ["doc_id"], start.name)}


def end(collection: Collection, start: Start) -> None:
    """Remove the marker and its tombstones: deletes stop leaving them once the rebuild is over, done or failed."""
    if start.name is None:
        return
    try:
        collection.delete_matching(
            f"kind in [{layout.MARK}, {layout.TOMB}] and chunk_id == {layout.quoted([start.token])[1:-1]}", start.name
        )
    except QAError:  # the collection is gone (another rebuild dropped it), or Milvus is: deletes leave a few more
        log.warning("could not remove the rebuild marker from %s", start.name, exc_info=True)
