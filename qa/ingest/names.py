"""Which names a document may have, so that no name given over HTTP can escape the docs folder.

A document id is its path below the docs folder with '/' separators. Names
are refused rather than silently rewritten: a client that sent ``../x`` has a
bug it should hear about, and a rewritten name could collide with another
document.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path

from qa.errors import BadDocument, UnsupportedType
from qa.ingest.formats import SUFFIXES, suffix_of

MAX_ID_CHARS = 255
MAX_SEGMENT_BYTES = 200  # the file-system limit is 255: room for the hidden temporary and backup names
# Control, format (bidi overrides, zero-width), surrogate, private-use and
# unassigned characters, and line/paragraph separators: invisible or
# misleading in a name, and some are refused by file systems.
_REFUSED_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}


def check(name: str, *, default_suffix: str | None = None) -> str:
    """The canonical id for ``name`` (NFC), or :class:`BadDocument` / :class:`UnsupportedType` saying why not.

    With ``default_suffix``, a name whose last part has no suffix gets it (JSON
    documents may be named ``faq``); otherwise the suffix must be one qa reads.
    """
    if not isinstance(name, str) or not name:
        raise BadDocument("a document needs a name (doc_id or a file name)")
    if "\x00" in name:
        raise BadDocument("document names may not contain NUL")
    name = unicodedata.normalize("NFC", name)
    if len(name) > MAX_ID_CHARS:
        raise BadDocument(f"document name is {len(name)} characters; the limit is {MAX_ID_CHARS}")
    odd = sorted({f"U+{ord(ch):04X}" for ch in name if unicodedata.category(ch) in _REFUSED_CATEGORIES})
    if odd:
        raise BadDocument(f"document name {name!r} contains control or invisible characters ({', '.join(odd)})")
    if "\\" in name:
        raise BadDocument(f"document name {name!r} contains a backslash; use '/' between folders")
    if name.startswith("/"):
        raise BadDocument(f"document name {name!r} is absolute; give a path inside the docs folder")
    parts = name.split("/")
    for part in parts:
        if part in ("", ".", ".."):
            raise BadDocument(f"document name {name!r} has an empty, '.' or '..' part")
        if part.startswith("."):
            raise BadDocument(f"document name {name!r} has a hidden part {part!r}; names may not start with '.'")
        if part != part.strip():
            raise BadDocument(f"document name {name!r} has a part with leading or trailing spaces")
        if len(part.encode("utf-8")) > MAX_SEGMENT_BYTES:
            raise BadDocument(f"a part of document name {name!r} is longer than {MAX_SEGMENT_BYTES} bytes")
    suffix = suffix_of(parts[-1])
    if not suffix and default_suffix:
        name, suffix = name + default_suffix, default_suffix
    if suffix not in SUFFIXES:
        raise UnsupportedType(
            f"{name!r}: qa reads {', '.join(SUFFIXES)} files, not {suffix or 'files without a suffix'}"
        )
    return name


def path_of(docs_dir: Path, doc_id: str) -> Path:
    """The file of ``doc_id`` inside ``docs_dir``, verified not to leave it even through symlinks."""
    doc_id = check(doc_id)
    root = docs_dir.resolve()
    path = (root / doc_id).resolve()
    if not path.is_relative_to(root) or path == root:
        raise BadDocument(f"document name {doc_id!r} resolves outside the docs folder")
    return root / doc_id
