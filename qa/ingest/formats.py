"""The file types qa reads, and how each one's bytes become the text that is chunked and searched.

This is the one place a new format goes: add its suffix and converter to
:data:`CONVERTERS`. A converter returns an :class:`Extracted`: the text,
which every passage offset indexes and ``GET /documents/{id}`` returns, and
where its pages and headings are. It must be deterministic.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import PurePosixPath

from qa.errors import BadDocument, QAError
from qa.ingest import html, isolation, pdf, word
from qa.ingest.layout import Extracted

_MD_HEADING = re.compile(r"^ {0,3}#{1,6}[ \t]+(.+?)[ \t#]*$", re.MULTILINE)


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


def _plain(doc_id: str, data: bytes) -> Extracted:
    return Extracted(_utf8(doc_id, data))


def _markdown(doc_id: str, data: bytes) -> Extracted:
    text = _utf8(doc_id, data)
    return Extracted(text, headings=tuple((m.start(), m.end(), m.group(1)) for m in _MD_HEADING.finditer(text)))


def _html(doc_id: str, data: bytes) -> Extracted:
    return html.extract(_utf8(doc_id, data))


# suffix -> converter of a file's bytes into its searchable text
CONVERTERS: dict[str, Callable[[str, bytes], Extracted]] = {
    ".txt": _plain,
    ".md": _markdown,
    ".html": _html,
    ".htm": _html,
    ".pdf": pdf.extract,
    ".docx": word.extract,
}
SUFFIXES: tuple[str, ...] = tuple(CONVERTERS)
# Converted in the worker process of :mod:`qa.ingest.isolation` once larger than this: parsing them is Python
# work that would hold the server's interpreter lock (and a PDF or DOCX may be hostile: a bomb, a parser bug);
# a small HTML page is cheaper to parse here than to send.
ISOLATED = {".html": 16_384, ".htm": 16_384, ".pdf": 0, ".docx": 0}
CONVERT_TIMEOUT = 120.0


def suffix_of(name: str) -> str:
    return PurePosixPath(name).suffix.lower()


def is_document(name: str) -> bool:
    """Whether a file of this name is one qa reads (by its suffix)."""
    return suffix_of(name) in CONVERTERS


def extract(doc_id: str, data: bytes) -> Extracted:
    """The searchable text of a file's bytes, by the file type its id names; :class:`BadDocument` when unreadable.

    Runs here; :func:`convert` is the same, kept out of this process where that matters.
    """
    try:
        return CONVERTERS[suffix_of(doc_id)](doc_id, data)
    except RecursionError:
        raise BadDocument(f"{doc_id} is nested too deeply to read") from None
    except (QAError, MemoryError):
        raise
    except Exception as exc:  # noqa: BLE001 - a parser's own error on a hostile file is the file's fault: a 400
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        raise BadDocument(f"{doc_id} could not be read ({type(exc).__name__}: {first})") from None


def convert(doc_id: str, data: bytes, timeout: float = CONVERT_TIMEOUT) -> Extracted:
    """:func:`extract`, in the converter process for file types that take real parsing (see :data:`ISOLATED`)."""
    if len(data) > ISOLATED.get(suffix_of(doc_id), len(data)):
        return isolation.run(extract, doc_id, data, timeout=timeout, what=doc_id)
    return extract(doc_id, data)
