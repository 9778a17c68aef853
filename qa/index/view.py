"""What searches read: the read view every backend's index is (:class:`IndexView`), declared below the
modules that make one, so they can name it without importing the writers (:mod:`qa.index.backend` re-exports it
beside the writer's seam).
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Sequence
from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:  # only annotations need these
    from qa.index.chunking import Chunk
    from qa.index.store import Manifest


class Chunks(Protocol):
    """A view's passages by row: ``view.chunks[r]``, rows numbered across the whole view."""

    def __getitem__(self, row: int) -> Chunk: ...

    def __len__(self) -> int: ...


class Lexical(Protocol):
    """BM25 over one of qa's tokenizations (lexical or bridge), as searches read it: :class:`qa.index.postings.Field`
    in the process, or :class:`qa.index.milvus.remote.RemoteField` over Milvus."""

    @property
    def vocab(self) -> Container[str]: ...  # ``token in vocab``: some live passage holds it

    def idf(self, tokens: Iterable[str]) -> np.ndarray: ...

    def ceiling(self, tokens: Sequence[str]) -> float: ...  # what matching every token would score, about

    def prefetch(self, tokens: Iterable[str]) -> None:
        """Read what scoring these tokens needs at once, where that is a remote read (else nothing)."""

    def token_scores(self, tokens: Sequence[str]) -> np.ndarray: ...  # summed BM25 per row (0: no match, deleted)

    def each(self, token_lists: Sequence[Sequence[str]]) -> list[np.ndarray]:
        """:meth:`token_scores` of each list: one search for all where that is a remote one."""
        ...

    def scores(self, query: str) -> tuple[np.ndarray, float]: ...  # token_scores of the query's tokens, its ceiling


class IndexView(Protocol):
    """What searches read: one immutable view of an index, its passages, their term counts and their vectors.

    Rows are numbered across the view; a deleted (masked) row keeps its
    number, scores nothing and is never returned.
    """

    @property
    def manifest(self) -> Manifest: ...  # the model and chunking it was built with, and its live documents

    @property
    def chunks(self) -> Chunks: ...

    @property
    def size(self) -> int: ...  # rows, deleted ones included

    @property
    def live_size(self) -> int: ...  # rows not deleted

    @property
    def live(self) -> np.ndarray: ...  # bool per row: not deleted

    @property
    def latin_rows(self) -> np.ndarray: ...  # bool per row: the passage is mostly Latin letters

    @property
    def lexical(self) -> Lexical: ...  # BM25 over qa's tokens

    @property
    def bridge(self) -> Lexical: ...  # BM25 over the cross-lingual bridge tokens

    def doc_rows(self, doc_id: str) -> list[int]: ...

    def rows_of(self, doc_ids: Sequence[str]) -> list[int]:
        """The rows of every one of ``doc_ids`` (what a filter admits), found together."""

    def chunks_of(self, rows: Sequence[int]) -> list[Chunk]:
        """The passages of ``rows``, text included, read together: ``chunks[r]`` may lack the text of a passage a
        search met only by its id (BM25 in Milvus, :mod:`qa.index.milvus.remote`), which this reads in one call."""

    def check_vectors(self) -> None:
        """Raise :class:`~qa.errors.IndexCorrupt` rather than read a damaged vector file."""

    def check_terms(self) -> None:
        """Raise :class:`~qa.errors.IndexCorrupt` rather than read a damaged term-count file."""

    def dense(self, qvec: np.ndarray, depth: int, only: np.ndarray | None = None) -> dict[int, float]:
        """The best window score of the ``depth`` nearest live chunks (among rows ``only``), best first."""

    def dense_of(self, qvec: np.ndarray, rows: list[int]) -> dict[int, float]:
        """The best window score of each of ``rows``."""
