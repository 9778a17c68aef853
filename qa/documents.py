"""Reading source documents from a docs folder: which files count, how they decode, and their ids and hashes.

A document's id is its path relative to the docs folder with '/' separators,
so ids are stable across machines and double as the file's location.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)
TEXT_SUFFIXES = (".txt", ".md")


@dataclass(frozen=True)
class Document:
    doc_id: str
    text: str
    sha256: str


def decode(data: bytes) -> str:
    """UTF-8 with an optional BOM dropped; raises UnicodeDecodeError otherwise.

    Line endings are kept as they are so chunk offsets index the file's own text.
    """
    text = data.decode("utf-8")
    return text[1:] if text.startswith("\ufeff") else text


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _is_hidden(rel: Path) -> bool:
    return any(part.startswith(".") for part in rel.parts)


def iter_paths(docs_dir: Path) -> list[Path]:
    """Document files under ``docs_dir``, recursively, sorted; hidden files and folders skipped."""
    if not docs_dir.is_dir():
        return []
    return sorted(
        p
        for p in docs_dir.rglob("*")
        if p.suffix.lower() in TEXT_SUFFIXES and p.is_file() and not _is_hidden(p.relative_to(docs_dir))
    )


def read_document(docs_dir: Path, path: Path) -> Document | None:
    """The document at ``path``, or None (with a warning naming it) when it is not valid UTF-8."""
    doc_id = path.relative_to(docs_dir).as_posix()
    try:
        text = decode(path.read_bytes())
    except UnicodeDecodeError as exc:
        log.warning("skipping %s: not valid UTF-8 (%s)", doc_id, exc.reason)
        return None
    except OSError as exc:
        log.warning("skipping %s: %s", doc_id, exc)
        return None
    return Document(doc_id=doc_id, text=text, sha256=content_hash(text))


def read_folder(docs_dir: Path) -> list[Document]:
    docs = (read_document(docs_dir, p) for p in iter_paths(docs_dir))
    return [d for d in docs if d is not None]
