"""The file types qa reads, and how each one's bytes become the text that is chunked and searched.

This is the one place a new format goes: add its suffix and converter to
:data:`CONVERTERS`. Offsets of every passage index the text returned here,
which is also what ``GET /documents/{id}`` returns, so a converter must be
deterministic.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import PurePosixPath

from qa.errors import BadDocument
from qa.ingest import html, isolation


def decode(data: bytes) -> str:
    """UTF-8 with an optional BOM dropped; raises UnicodeDecodeError otherwise.

    Line endings are kept as they are so chunk offsets index the file's own text.
    """
    text = data.decode("utf-8")
    return text[1:] if text.startswith("\ufeff") else text


def _utf8(doc_id: str, data: bytes) -> str:
    try:
        text = decode(data)
    except UnicodeDecodeError as exc:
        raise BadDocument(f"{doc_id} is not valid UTF-8 ({exc.reason} at byte {exc.start})") from None
    if "\x00" in text:
        raise BadDocument(f"{doc_id} contains NUL characters; is it a binary file?")
    return text


def _plain(doc_id: str, data: bytes) -> str:
    return _utf8(doc_id, data)


def _html(doc_id: str, data: bytes) -> str:
    return html.to_text(_utf8(doc_id, data))


# suffix -> converter of a file's bytes into its searchable text
CONVERTERS: dict[str, Callable[[str, bytes], str]] = {
    ".txt": _plain,
    ".md": _plain,
    ".html": _html,
    ".htm": _html,
}
SUFFIXES: tuple[str, ...] = tuple(CONVERTERS)
# Converted in the worker process of :mod:`qa.ingest.isolation` once larger than this: parsing them is Python
# work that would hold the server's interpreter lock; a small one is cheaper to parse here than to send.
ISOLATED = {".html": 16_384, ".htm": 16_384}
CONVERT_TIMEOUT = 120.0


def suffix_of(name: str) -> str:
    return PurePosixPath(name).suffix.lower()


def is_document(name: str) -> bool:
    """Whether a file of this name is one qa reads (by its suffix)."""
    return suffix_of(name) in CONVERTERS


def to_text(doc_id: str, data: bytes) -> str:
    """The searchable text of a file's bytes, by the file type its id names; :class:`BadDocument` when unreadable.

    Runs here; :func:`convert` is the same, kept out of this process where that matters.
    """
    try:
        return CONVERTERS[suffix_of(doc_id)](doc_id, data)
    except RecursionError:
        raise BadDocument(f"{doc_id} is nested too deeply to read") from None


def convert(doc_id: str, data: bytes, timeout: float = CONVERT_TIMEOUT) -> str:
    """:func:`to_text`, in the converter process for file types that take real parsing (see :data:`ISOLATED`)."""
    if len(data) > ISOLATED.get(suffix_of(doc_id), len(data)):
        return isolation.run(to_text, doc_id, data, timeout=timeout, what=doc_id)
    return to_text(doc_id, data)
