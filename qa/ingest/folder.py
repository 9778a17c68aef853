"""The docs folder: which files are documents, their metadata, and writing them safely.

A document's id is its path relative to the docs folder with '/' separators,
so ids are stable across machines and double as the file's location. The
folder is the source of truth: an index can always be rebuilt from it, so a
document is written here (atomically) before it is indexed.

Metadata lives beside the documents in a hidden sidecar folder,
``.qa/metadata/<doc_id>.json``, so it survives rebuilds like the text does.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qa import durable
from qa.errors import BadDocument, QAError
from qa.ingest import formats, names

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


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def make(doc_id: str, text: str, metadata: Metadata | None = None) -> Document:
    return Document(doc_id=doc_id, text=text, sha256=content_hash(text), metadata=dict(metadata or {}))


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
    if len(json.dumps(metadata, ensure_ascii=False).encode("utf-8")) > MAX_METADATA_BYTES:
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
        text = formats.to_text(doc_id, path.read_bytes())
    except BadDocument as exc:
        log.warning("skipping %s", exc)
        return None
    except OSError as exc:
        log.warning("skipping %s: %s", doc_id, exc)
        return None
    return make(doc_id, text, read_metadata(docs_dir, doc_id))


def read_folder(docs_dir: Path) -> list[Document]:
    docs = (read_document(docs_dir, p) for p in iter_paths(docs_dir))
    return [d for d in docs if d is not None]


def read_text(docs_dir: Path, doc_id: str) -> str | None:
    """The searchable text of one stored document; None when its file is gone or no longer readable."""
    try:
        return formats.to_text(doc_id, names.path_of(docs_dir, doc_id).read_bytes())
    except (OSError, QAError):
        return None


# ----------------------------------------------------------------- writing
def _write_atomic(path: Path, data: bytes) -> None:
    """Through a hidden temporary file beside it, which folder scans skip."""
    path.parent.mkdir(parents=True, exist_ok=True)
    durable.replace(path, data, path.with_name(f".{path.name}.tmp-{secrets.token_hex(4)}"))


def save(docs_dir: Path, doc_id: str, data: bytes, metadata: Metadata) -> Path:
    """Store a document's bytes and metadata under its (checked) id; metadata first, so the text never lacks it."""
    path = names.path_of(docs_dir, doc_id)
    meta = _metadata_path(docs_dir, doc_id)
    if metadata:
        _write_atomic(meta, json.dumps(metadata, ensure_ascii=False, indent=1).encode("utf-8"))
    else:
        meta.unlink(missing_ok=True)
    _write_atomic(path, data)
    return path


def remove(docs_dir: Path, doc_id: str) -> bool:
    """Delete a document's file and metadata; False when there was no file."""
    path = names.path_of(docs_dir, doc_id)
    existed = path.is_file()
    path.unlink(missing_ok=True)
    _metadata_path(docs_dir, doc_id).unlink(missing_ok=True)
    return existed
