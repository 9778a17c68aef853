"""The storage-backend seam: what every backend's index and writer offer, and the one place that reads QA_BACKEND.

Everything above it (service, API, CLI, MCP, jobs, watch, search) is typed
against :class:`IndexView` and :class:`IndexWriter` and never asks which
backend it is. The local store (:class:`qa.index.store.Snapshot`,
:class:`qa.index.writer.Writer`) and Milvus (:class:`qa.index.milvus.view.MilvusView`,
:class:`qa.index.milvus.writer.MilvusWriter`) satisfy them structurally, and
mypy (``make test``) holds both sides to them. Milvus is imported only when
chosen, so the default install needs no pymilvus.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Protocol

import numpy as np

from qa.index.view import Chunks, IndexView

__all__ = ["Chunks", "IndexView", "IndexWriter", "open_writer"]

if TYPE_CHECKING:  # only annotations need these: importing them here would import every writer
    from qa.config import Settings
    from qa.encoder.embedder import Embedder
    from qa.errors import QAError
    from qa.index.building import BuildReport, Progress
    from qa.index.live import LiveIndex
    from qa.index.writer import DocumentChange, Upload
    from qa.ingest.folder import Document


class IndexWriter(Protocol):
    """What changes an index: the one writer of a collection, which keeps the view searches read live.

    Every write stores the document in the docs folder first, refuses what it
    must before touching anything (:meth:`prepare`), and goes live whole or not
    at all; :mod:`qa.index.writer` says how.
    """

    closed: bool  # set when the collection is deleted: later writes must not recreate it

    @property
    def commits(self) -> int: ...  # index changes this writer committed (for /metrics)

    def exclusive(self, timeout: float | None = None) -> AbstractContextManager[None]:
        """Hold the writer; :class:`~qa.errors.Conflict` after ``timeout`` seconds (None waits)."""

    # ------------------------------------------------------------ opening
    def on_disk(self) -> IndexView | None:
        """The index as stored now (what another process may have written since), None when there is none."""

    def load(self) -> IndexView:
        """Serve the stored index as it is; :class:`~qa.errors.IndexMissing` when there is none."""

    def open(self, progress: Progress | None = None) -> bool:
        """Serve the stored index, building it only if there is none; True when it lags the docs folder."""

    def ensure(self, progress: Progress | None = None) -> BuildReport | None:
        """Load the index, building or updating it first when missing or stale; None when it was current."""

    def for_reading(self, progress: Progress | None = None) -> BuildReport | None:
        """Ready the index for a read command: :meth:`ensure` where the folder is the truth; where a shared index
        is (Milvus), only load it, and :class:`~qa.errors.IndexMissing` when there is none (a read never writes)."""

    def destroy(self) -> None:
        """Remove the index for good (deleting a collection); the caller holds :meth:`exclusive`."""

    # ------------------------------------------------------------ writing
    def sync(
        self,
        *,
        rebuild: bool = False,
        progress: Progress | None = None,
        docs: list[Document] | None = None,
        timeout: float | None = None,
        from_folder: bool = False,
    ) -> BuildReport:
        """Bring the index in line with the docs folder, embedding only what changed (everything if ``rebuild``);
        ``from_folder``: take the folder as the truth even where a shared index holds what it does not."""

    def check_folder(self) -> None:
        """Refuse (:class:`~qa.errors.FolderDisagrees`) now a rebuild from the docs folder that would lose what a
        shared index holds; nothing to refuse where the folder is always the truth."""

    def prepare(self, name: str, data: bytes, metadata: object = None, *, default_suffix: str | None = None) -> Upload:
        """Check and convert a document without touching anything: every refusal happens here."""

    def embed_ahead(self, *uploads: Upload, progress: Progress | None = None) -> dict[str, np.ndarray]:
        """Vectors of the uploads' windows, computed without holding the writer."""

    def put_uploads(
        self,
        uploads: Sequence[Upload],
        *,
        create: bool = False,
        timeout: float | None = None,
        ahead: dict[str, np.ndarray] | None = None,
    ) -> list[DocumentChange | QAError]:
        """Store several documents as one change; each one's outcome (or its own error) in order."""

    def delete(self, name: str, *, timeout: float | None = None) -> DocumentChange:
        """Remove a document's file, metadata and passages."""


def open_writer(settings: Settings, embedder: Embedder, live: LiveIndex) -> IndexWriter:
    """The writer of the configured backend; for Milvus it connects, so bad settings fail here, at start."""
    if settings.backend == "milvus":
        from qa.index.milvus.writer import MilvusWriter

        return MilvusWriter(settings, embedder, live)
    from qa.index.writer import Writer

    return Writer(settings, embedder, live)


if TYPE_CHECKING:  # what mypy holds both backends to, stated once (never run)
    from qa.index.milvus.view import MilvusView
    from qa.index.milvus.writer import MilvusWriter
    from qa.index.store import Snapshot
    from qa.index.writer import Writer

    def _both_backends(
        local: Snapshot, milvus: MilvusView, writer: Writer, milvus_writer: MilvusWriter
    ) -> tuple[IndexView, IndexView, IndexWriter, IndexWriter]:
        return local, milvus, writer, milvus_writer
