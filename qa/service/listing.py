"""One page of a collection's document list: filtered by a query, sorted, and continued with a cursor.

The cursor names the last document shown (its sort key and doc_id), not a
position, so a page never repeats or skips a document when others are added
or deleted meanwhile. Size and date come from the docs folder (what is on
disk now); a document whose file has gone reports neither and sorts first.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from qa.errors import InvalidInput

SortKey = Literal["name", "size", "date", "passages"]
SORTS: tuple[str, ...] = ("name", "-name", "size", "-size", "date", "-date", "passages", "-passages")


@dataclass(frozen=True)
class Page:
    documents: list[Any]  # DocumentInfo, in order
    total: int  # documents that match the query, over all pages
    passages: int  # their passages
    next_cursor: str | None


def _key(doc: Any, sort: str) -> Any:
    field = sort.lstrip("-")
    if field == "name":
        return doc.doc_id
    if field == "size":
        return doc.bytes if doc.bytes is not None else -1
    if field == "date":
        return doc.modified or ""
    return doc.chunks


def _matches(doc: Any, words: list[str]) -> bool:
    values = [doc.doc_id, *(f"{k} {v}" for k, v in (doc.metadata or {}).items())]
    haystack = " ".join(values).lower()
    return all(w in haystack for w in words)


def _encode(key: Any, doc_id: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([key, doc_id], ensure_ascii=False).encode()).decode().rstrip("=")


def _decode(cursor: str) -> tuple[Any, str]:
    try:
        key, doc_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        assert isinstance(doc_id, str)
        return key, doc_id
    except Exception:  # noqa: BLE001 - anything unreadable is the same mistake
        raise InvalidInput("cursor: not one this server gave; start again without it") from None


def page(docs: Sequence[Any], *, limit: int | None, cursor: str | None, sort: str, q: str | None) -> Page:
    """The documents after ``cursor`` in ``sort`` order (``-`` first: descending), ``limit`` of them (None: all)."""
    if sort not in SORTS:
        raise InvalidInput(f"sort must be one of {', '.join(SORTS)}, got {sort!r}")
    words = (q or "").lower().split()
    found = [d for d in docs if _matches(d, words)] if words else list(docs)
    descending = sort.startswith("-")
    found.sort(key=lambda d: (_key(d, sort), d.doc_id), reverse=descending)
    start = 0
    if cursor:
        after = tuple(_decode(cursor))
        for start, d in enumerate(found):  # noqa: B007 - the first one past the cursor
            here = (_key(d, sort), d.doc_id)
            if (here < after) if descending else (here > after):
                break
        else:
            start = len(found)
    shown = found[start:] if limit is None else found[start : start + limit]
    more = limit is not None and start + limit < len(found)
    last = shown[-1] if shown and more else None
    cursor_out = _encode(_key(last, sort), last.doc_id) if last is not None else None
    return Page(shown, len(found), sum(d.chunks for d in found), cursor_out)
