"""The docs folder: which files are documents, their metadata, and writing them safely.

A document's id is its path relative to the docs folder with '/' separators,
so ids are stable across machines and double as the file's location. The
folder is the source of truth: an index can always be rebuilt from it, so a
document is written here (atomically) before it is indexed.

Metadata lives beside the documents in a hidden sidecar folder,
``.qa/metadata/<doc_id>.json``, so it survives rebuilds like the text does.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qa import durable
from qa.errors import BadDocument, QAError
from qa.ingest import formats, names
from qa.ingest.layout import Extracted

log = logging.getLogger(__name__)
METADATA_DIR = Path(".qa") / "metadata"
MAX_METADATA_BYTES = 16_384
Metadata = dict[str, Any]


@dataclass(frozen=True)
class Document:
    doc_id: str
    text: str
    sha256: str
    metadata: Metadata = field(default_factory=dict)
    layout: Extracted | None = None  # where its pages and headings are, for citations; None: plain text


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def make(doc_id: str, text: str | Extracted, metadata: Metadata | None = None) -> Document:
    """A document of this text (or converted text, with its pages and headings)."""
    layout = text if isinstance(text, Extracted) else None
    body = text.text if isinstance(text, Extracted) else text
    return Document(doc_id, body, content_hash(body), dict(metadata or {}), layout)


def check_metadata(metadata: object) -> Metadata:
    """Flat JSON metadata: string keys, values that are scalars or lists of scalars (what filters compare)."""
    if metadata is None:
        return {}
    if not isinstance(metadata, dict):
        raise BadDocument("metadata must be a JSON object")
    scalar = (str, int, float, bool, type(None))
    for key, value in metadata.items():
        if not isinstance(key, str) or not key or len(key) > 100:
            raise BadDocument(f"metadata key {key!r} must be a string of 1 to 100 characters")
        if key == "doc_id":
            raise BadDocument("metadata key 'doc_id' is reserved: it is the document's name")
        if not (isinstance(value, scalar) or (isinstance(value, list) and all(isinstance(v, scalar) for v in value))):
            raise BadDocument(f"metadata {key!r} must be a string, number, boolean, null or a list of those")
    try:
        size = len(json.dumps(metadata, ensure_ascii=False).encode("utf-8"))
    except UnicodeEncodeError:
        raise BadDocument("metadata contains a lone surrogate, which is not text") from None
    if size > MAX_METADATA_BYTES:
        raise BadDocument(f"metadata is larger than {MAX_METADATA_BYTES} bytes")
    return dict(metadata)


# ----------------------------------------------------------------- reading
def _is_hidden(rel: Path) -> bool:
    return any(part.startswith(".") for part in rel.parts)


def iter_paths(docs_dir: Path) -> list[Path]:
    """Document files under ``docs_dir``, recursively, sorted; hidden files and folders skipped."""
    if not docs_dir.is_dir():
        return []
    return sorted(
        p
        for p in docs_dir.rglob("*")
        if formats.is_document(p.name) and p.is_file() and not _is_hidden(p.relative_to(docs_dir))
    )


def _metadata_path(docs_dir: Path, doc_id: str) -> Path:
    return docs_dir / METADATA_DIR / (doc_id + ".json")


def read_metadata(docs_dir: Path, doc_id: str) -> Metadata:
    path = _metadata_path(docs_dir, doc_id)
    try:
        return check_metadata(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, BadDocument) as exc:
        log.warning("ignoring the metadata of %s in %s: %s", doc_id, path, exc)
        return {}


def read_document(docs_dir: Path, path: Path) -> Document | None:
    """The document at ``path``, or None (with a warning naming it) when it cannot be read as text."""
    doc_id = path.relative_to(docs_dir).as_posix()
    try:
        extracted = formats.convert(doc_id, path.read_bytes())
    except QAError as exc:  # a damaged, encrypted, empty or mislabelled file: the rest of the folder is indexed
        log.warning("skipping %s", exc)
        return None
    except OSError as exc:
        log.warning("skipping %s: %s", doc_id, exc)
        return None
    return make(doc_id, extracted, read_metadata(docs_dir, doc_id))


def read_folder(docs_dir: Path) -> list[Document]:
    docs = (read_document(docs_dir, p) for p in iter_paths(docs_dir))
    return [d for d in docs if d is not None]


def read_text(docs_dir: Path, doc_id: str) -> str | None:
    """The searchable text of one stored document; None when its file is gone or no longer readable."""
    try:
        return formats.convert(doc_id, names.path_of(docs_dir, doc_id).read_bytes()).text
    except (OSError, QAError):
        return None


# ----------------------------------------------------------------- writing
def _write_atomic(path: Path, data: bytes) -> None:
    """Through a hidden temporary file beside it, which folder scans skip."""
    durable.replace(path, data, path.with_name(f".{path.name}.tmp-{secrets.token_hex(4)}"))


def save(docs_dir: Path, doc_id: str, data: bytes, metadata: Metadata) -> Path:
    """Store a document's bytes and metadata under its (checked) id, for good (no undo)."""
    with staged(docs_dir, doc_id) as change:
        change.put(data, metadata)
    return change.path


class FolderChange:
    """One document's file and metadata replaced or removed, undoable until kept.

    The files it replaces or removes stay as hidden hard links beside them
    until :meth:`keep`, so :meth:`undo` only renames: it needs no free space,
    which matters because a full disk is the usual reason to undo. A process
    killed in between leaves hidden leftovers (:func:`clean_leftovers`) and the
    new state in the folder, which the next sync indexes.
    """

    def __init__(self, docs_dir: Path, doc_id: str) -> None:
        self.docs_dir, self.doc_id = docs_dir, doc_id
        self.path = names.path_of(docs_dir, doc_id)
        self._meta = _metadata_path(docs_dir, doc_id)
        self._saved: list[tuple[Path, Path | None]] = []  # (path, its old content's link, or None if it had none)
        self._made: list[Path] = []  # folders this change created

    def _stash(self, path: Path) -> None:
        old = None
        if path.is_file():
            old = path.with_name(f".{path.name}.bak-{secrets.token_hex(4)}")
            os.link(path, old)
        self._saved.append((path, old))

    def _folder_for(self, path: Path) -> None:
        missing = []
        for parent in [path.parent, *path.parent.parents]:
            if parent.is_dir():
                break
            if parent.exists():
                rel = (
                    parent.relative_to(self.docs_dir.resolve())
                    if parent.is_relative_to(self.docs_dir.resolve())
                    else parent
                )
                raise BadDocument(f"{self.doc_id}: {rel} is a file, so it cannot hold documents")
            missing.append(parent)
        for folder_ in reversed(missing):
            folder_.mkdir()
            self._made.append(folder_)

    def put(self, data: bytes, metadata: Metadata) -> None:
        """The document's new bytes and metadata; metadata first, so the text never lacks it."""
        if self.path.exists() and not self.path.is_file():
            raise BadDocument(f"{self.doc_id} names a folder in the docs folder")
        self._folder_for(self.path)
        self._stash(self._meta)
        self._stash(self.path)
        if metadata:
            self._folder_for(self._meta)
            _write_atomic(self._meta, json.dumps(metadata, ensure_ascii=False, indent=1).encode("utf-8"))
        else:
            self._meta.unlink(missing_ok=True)
        _write_atomic(self.path, data)

    def remove(self) -> bool:
        """Take the document's file and metadata out; False when there was no file."""
        existed = self.path.is_file()
        for path in (self._meta, self.path):
            self._stash(path)
            path.unlink(missing_ok=True)
        return existed

    def undo(self) -> None:
        """Put back what was there before; best effort, logged, never raises."""
        for path, old in reversed(self._saved):
            try:
                if old is not None and path.exists() and os.path.samefile(old, path):
                    old.unlink()  # never replaced; and rename() between two links of one file does nothing
                elif old is not None:
                    os.replace(old, path)
                else:
                    path.unlink(missing_ok=True)
            except OSError:
                log.error("could not restore %s; its previous content is in %s", path, old, exc_info=True)
        for made in reversed(self._made):
            with contextlib.suppress(OSError):
                made.rmdir()
        self._saved, self._made = [], []

    def keep(self) -> None:
        for _, old in self._saved:
            if old is not None:
                old.unlink(missing_ok=True)
        self._saved, self._made = [], []


@contextmanager
def staged(docs_dir: Path, doc_id: str) -> Iterator[FolderChange]:
    """A :class:`FolderChange` kept if the block succeeds and undone if it raises."""
    change = FolderChange(docs_dir, doc_id)
    try:
        yield change
    except BaseException:
        change.undo()
        raise
    change.keep()


_LEFTOVER = re.compile(r"^\..+\.(tmp|bak)-[0-9a-f]{8}$")


def clean_leftovers(docs_dir: Path) -> int:
    """Delete the hidden temporary and backup files of writers that were killed; how many went."""
    gone = 0
    for path in docs_dir.rglob(".*") if docs_dir.is_dir() else ():
        if _LEFTOVER.match(path.name) and path.is_file():
            path.unlink(missing_ok=True)
            gone += 1
    return gone
