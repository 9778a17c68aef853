"""Whether this machine's docs folder holds what a shared collection holds, before a build or a sync from it.

A rebuild indexes the docs folder, but on Milvus each replica has its own
copy of it and Milvus is the truth: a document written through another
replica that this folder lacks, or holds in another version, would vanish
from the new collection, and one deleted through another would come back.
Neither the folder nor Milvus can tell which side is newer (a file added
here by hand looks like one deleted elsewhere), so a build is refused rather
than guessed, unless the caller makes the folder the truth (``from_folder``).
Copying what the folder lacks from the old collection would not do either:
a rebuild is mostly for another model, chunking or BM25 place, where stored
entities cannot be reused, and it would still not know which side is newer.
A plain sync (``qa index``, ``--watch``) is held to the same check: it would
delete, revert or bring back the same documents, one by one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from qa.errors import FolderDisagrees
from qa.index.segment import DocEntry
from qa.ingest.folder import Document

NAMED = 3  # ids named per kind of difference: enough to recognize, short enough for one line


@dataclass(frozen=True)
class Differences:
    """Documents stored only in the collection, only in the folder, and in both with other text or metadata."""

    stored_only: list[str]
    folder_only: list[str]
    changed: list[str]

    def __bool__(self) -> bool:
        return bool(self.stored_only or self.folder_only or self.changed)


def compare(stored: Mapping[str, DocEntry], docs: list[Document]) -> Differences:
    """How the folder's documents (id, sha256 of the text, metadata) differ from the collection's records."""
    here = {d.doc_id: d for d in docs}
    both = set(stored) & set(here)
    return Differences(
        sorted(set(stored) - set(here)),
        sorted(set(here) - set(stored)),
        sorted(d for d in both if (stored[d].sha256, stored[d].metadata) != (here[d].sha256, dict(here[d].metadata))),
    )


def require(stored: Mapping[str, DocEntry], docs: list[Document], docs_dir: Path, alias: str, *, rebuild: bool) -> None:
    """Refuse (:class:`FolderDisagrees`) a build (``rebuild``) or a sync from ``docs`` that would not keep what is
    ``stored``; the message says what differs and the remedies for that command."""
    found = compare(stored, docs)
    if not found:
        return
    parts = [
        f"{_count(found.stored_only)} stored there {_are(found.stored_only)} missing from this folder"
        f"{_named(found.stored_only)}",
        f"{_count(found.folder_only)} in this folder {_are(found.folder_only)} not stored there (deleted through "
        f"another replica?){_named(found.folder_only)}",
        f"{_count(found.changed)} {_are(found.changed)} stored in another version{_named(found.changed)}",
    ]
    kinds = (found.stored_only, found.folder_only, found.changed)
    what = "A rebuild" if rebuild else "Syncing"
    remedy = (
        "Rebuild through a replica whose docs folder holds what Milvus holds, or make this folder the truth: "
        "`qa index --rebuild --from-folder` or `POST /index/rebuild?from_folder=true`"
        if rebuild
        else "On Milvus, add, replace or delete single documents with `qa add` / `qa delete` (or the HTTP API), "
        "which write Milvus and this folder together; or make this folder the truth: `qa index --from-folder`"
    )
    raise FolderDisagrees(
        f"the docs folder {docs_dir} does not hold what Milvus collection {alias!r} holds (other replicas write it "
        f"too): {'; '.join(p for p, k in zip(parts, kinds, strict=True) if k)}. {what} from this folder would "
        f"lose those writes, so nothing was {'replaced' if rebuild else 'written'}. {remedy}"
    )


def _count(ids: list[str]) -> str:
    return f"{len(ids)} document{'s' if len(ids) != 1 else ''}"


def _are(ids: list[str]) -> str:
    return "are" if len(ids) != 1 else "is"


def _named(ids: list[str]) -> str:
    shown = ", ".join(ids[:NAMED]) + (", …" if len(ids) > NAMED else "")
    return f" ({shown})" if ids else ""
