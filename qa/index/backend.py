"""The storage-backend seam: the one place that reads QA_BACKEND and picks the writer (and so the index) to use.

Everything above it (service, API, CLI, MCP, jobs, watch) talks to a
:class:`~qa.index.writer.Writer` and searches the view it keeps live, and
never asks which backend it is. Milvus is imported only when chosen, so the
default install needs no pymilvus.
"""

from __future__ import annotations

from qa.config import Settings
from qa.encoder.embedder import Embedder
from qa.index.live import LiveIndex
from qa.index.writer import Writer


def open_writer(settings: Settings, embedder: Embedder, live: LiveIndex) -> Writer:
    """The writer of the configured backend; for Milvus it connects, so bad settings fail here, at start."""
    if settings.backend == "milvus":
        from qa.index.milvus.writer import MilvusWriter

        return MilvusWriter(settings, embedder, live)
    return Writer(settings, embedder, live)
