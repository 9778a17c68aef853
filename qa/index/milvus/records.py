"""Each document's record in a Milvus collection (sha256, passage count, metadata, version): all of them at once,
or, for a replica that holds nothing of the corpus, only those its searches meet.

A replica with BM25 in Milvus (:class:`~qa.index.milvus.remote.RemoteView`) used to read every record to open:
193 s and 57 MB at a million windows on milvus-lite (docs/performance.md), so its start and memory grew with the
corpus after all. What a search needs is the record of each document it returns (its version, to keep only that
write's windows, and its metadata, to show), so :class:`Records` reads those by id, in one call per search for
the documents not met yet, and keeps at most ``CACHED``. What needs every record (a listing, a filter, a sync)
pages through the collection when asked, as the open used to.
"""

from __future__ import annotations

import threading
from collections.abc import ItemsView, Iterable, Iterator, Mapping
from typing import Any

from qa.index.milvus import layout
from qa.index.milvus.collection import RECORD, Collection
from qa.index.segment import DocEntry

CACHED = 50_000  # records a view keeps; past this many it forgets them all (a few MB, whatever the corpus)
Known = tuple[DocEntry, str] | None  # a record and its version, or None: no such document


def read_all(collection: Collection, name: str | None = None) -> tuple[dict[str, DocEntry], dict[str, str]]:
    """Each document's record and version (of collection ``name``, or the one behind the alias)."""
    rows = list(collection.query(f"kind == {layout.DOCUMENT}", RECORD, name))
    return {r["doc_id"]: layout.doc_entry(r) for r in rows}, {r["doc_id"]: layout.version_of(r) for r in rows}


def _known(row: dict[str, Any] | None) -> Known:
    return (layout.doc_entry(row), layout.version_of(row)) if row is not None else None


class Records(Mapping[str, DocEntry]):
    """The document records of collection ``name``, read as they are asked for (the mapping a view's manifest holds).

    A view is a moment of the collection: a write through this process makes a new view whose records are the old
    ones with what it wrote (:meth:`changed`), so a search never reads back what this replica just wrote; another
    replica's write renews the state, and the view that follows it starts with none known. A record read later
    than the view may be newer than the view: its search then keeps that newer version's windows, whole, never a
    mix of two (each window carries its write's version).
    """

    def __init__(
        self, collection: Collection, name: str, known: dict[str, Known] | None = None, count: int | None = None
    ) -> None:
        self._collection, self._name = collection, name
        self._known: dict[str, Known] = dict(known or {})
        self._count = count  # how many documents, once counted (a write through this view adjusts it)
        self._lock = threading.Lock()  # searches run in parallel threads
        self.versions = _Versions(self)

    def fetch(self, doc_ids: Iterable[str]) -> dict[str, Known]:
        """The records of ``doc_ids``: those not known yet read in one call (by id), then kept."""
        wanted = list(dict.fromkeys(doc_ids))
        with self._lock:
            out = {d: self._known[d] for d in wanted if d in self._known}
        missing = [d for d in wanted if d not in out]
        if missing:
            found = self._collection.records(self._name, missing)
            read = {d: _known(found.get(d)) for d in missing}
            with self._lock:
                if len(self._known) + len(read) > CACHED:
                    self._known = {}
                self._known.update(read)
            out |= read
        return out

    def known(self, doc_id: str) -> Known:
        return self.fetch([doc_id])[doc_id]

    def changed(
        self, before: Mapping[str, Known], written: Mapping[str, tuple[DocEntry, str]], removed: Iterable[str]
    ) -> Records:
        """These records after a write through this process: ``written`` (record and version) stored, ``removed``
        gone; ``before``: the records of both as they were (:meth:`fetch` before the write), for the count."""
        removed = set(removed)
        with self._lock:
            known, count = dict(self._known), self._count
        if count is not None:
            count += sum(before[d] is None for d in written) - sum(before[d] is not None for d in removed)
        known |= dict(written)
        known |= dict.fromkeys(removed)
        return Records(self._collection, self._name, known, count)

    # ------------------------------------------------------------ the Mapping
    def __getitem__(self, doc_id: str) -> DocEntry:
        found = self.known(doc_id)
        if found is None:
            raise KeyError(doc_id)
        return found[0]

    def __contains__(self, doc_id: object) -> bool:
        return isinstance(doc_id, str) and self.known(doc_id) is not None

    def __len__(self) -> int:
        if self._count is None:
            self._count = self._collection.count(f"kind == {layout.DOCUMENT}", self._name)
        return self._count

    def __iter__(self) -> Iterator[str]:
        return (doc_id for doc_id, _ in self.scan())

    def items(self) -> _Items:
        return _Items(self)

    def scan(self) -> Iterator[tuple[str, DocEntry]]:
        """Every record, paged from the collection (nothing is kept: a listing or a sync reads the corpus' records,
        a replica does not hold them)."""
        rows = self._collection.query(f"kind == {layout.DOCUMENT}", RECORD, self._name)
        for r in rows:
            yield r["doc_id"], layout.doc_entry(r)


class _Items(ItemsView[str, DocEntry]):
    """``records.items()``: one pass over the collection, not a read per key."""

    def __init__(self, records: Records) -> None:
        super().__init__(records)
        self._records = records

    def __iter__(self) -> Iterator[tuple[str, DocEntry]]:
        return self._records.scan()


class _Versions(Mapping[str, str]):
    """Each document's version, from the same records (what a view compares a window's version with)."""

    def __init__(self, records: Records) -> None:
        self._records = records

    def __getitem__(self, doc_id: str) -> str:
        found = self._records.known(doc_id)
        if found is None:
            raise KeyError(doc_id)
        return found[1]

    def __iter__(self) -> Iterator[str]:
        return iter(self._records)

    def __len__(self) -> int:
        return len(self._records)
