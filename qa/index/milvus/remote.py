"""What searches read when BM25 lives in Milvus too (QA_MILVUS_LEXICAL=milvus): an :class:`~qa.index.view.IndexView`
that holds no passages.

A view starts from the corpus totals alone, not the passages nor the
document records (``records.py`` reads those its searches meet): BM25 is a search on the passages' sparse term weights
(``terms.py``) with the query's idfs, read from the stats collection as
tokens are met and cached until the next write. Rows are handed out to
passages as searches meet them, so a view holds the passages its searches
returned, at most ``SEEN`` of them before the writer replaces it with an
empty one. A row's number is only meaningful within its view.

What this costs against :class:`~qa.index.milvus.view.MilvusView`: BM25 is known
for the ``LEXICAL_DEPTH`` best passages of a query only (below them a
passage's lexical share counts 0 in hybrid fusion), filters narrow the
lexical candidates after that search rather than before it, and a question
in Latin letters over a corpus with passages in Latin letters only reaches
those its searches met.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from functools import cached_property
from typing import Any

import numpy as np

from qa.index import bridge
from qa.index.chunking import Chunk
from qa.index.lexical import tokenize
from qa.index.milvus import layout, terms
from qa.index.milvus.collection import Collection
from qa.index.milvus.layout import State
from qa.index.milvus.records import Known, Records
from qa.index.milvus.terms import Totals
from qa.index.milvus.view import best_windows
from qa.index.postings import K1
from qa.index.store import WINDOWS_PER_CHUNK, Manifest

LEXICAL_DEPTH = 256  # passages a BM25 search returns: hybrid fuses the best 50, a lexical search its top_k
SEEN = 20_000  # passages a view keeps before the writer replaces it (memory stays bounded whatever the corpus)
ROWS = 4 * SEEN  # rows a view can hand out: past SEEN the next look for writes (once a second) replaces it
SLACK = 1024  # rows beyond the live count: passages of writes that landed since the totals were read
_DF_CACHE = 200_000
_FIELDS = [*layout.PASSAGE_FIELDS, "info"]
_TEXTLESS = [f for f in _FIELDS if f != "text"]


class _Rows:
    """The passages a view has met, by row; thread-safe, as searches run in parallel."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.by_id: dict[str, int] = {}
        self.chunks: list[Chunk] = []
        self.latin = np.zeros(capacity, bool)
        self.textless: set[int] = set()
        self.lock = threading.Lock()

    def add(self, entity: dict[str, Any]) -> int | None:
        """The row of the passage ``entity`` holds (a window's fields), None when the view is full."""
        with self.lock:
            row = self.by_id.get(entity["chunk_id"])
            if row is None:
                if len(self.chunks) >= self.capacity:
                    return None
                row = len(self.chunks)
                self.by_id[entity["chunk_id"]] = row
                self.chunks.append(layout.chunk_of(entity | {"text": entity.get("text", "")}))
                self.textless.add(row)
            info = entity.get("info") or {}
            if "latin" in info:
                self.latin[row] = bool(info["latin"])
            text = entity.get("text") or ""
            if row in self.textless and text and int(entity.get("window", 0)) == 0:
                self.chunks[row] = layout.chunk_of(entity)
                self.latin[row] = layout.is_latin(text)
                self.textless.discard(row)
            return row


class RemoteField:
    """BM25 over one tokenization, scored by Milvus: the :class:`~qa.index.view.Lexical` of a :class:`RemoteView`."""

    def __init__(self, view: RemoteView, name: str, tokenize: Callable[[str], list[str]]) -> None:
        self.view, self.name, self.tokenize = view, name, tokenize

    def dfs(self, tokens: Sequence[str]) -> list[int]:
        return self.view.frequencies(self.name, tokens)

    @property
    def vocab(self) -> _Vocab:
        return _Vocab(self)

    def idf(self, tokens: Iterable[str]) -> np.ndarray:
        n = self.view.live_size
        return np.array([terms.idf(n, df) for df in self.dfs(list(tokens))], np.float64)

    def ceiling(self, tokens: Sequence[str]) -> float:
        return float(self.idf(tokens).sum() * (K1 + 1))

    def prefetch(self, tokens: Iterable[str]) -> None:
        self.dfs(list(tokens))

    def token_scores(self, tokens: Sequence[str]) -> np.ndarray:
        return self.each([tokens])[0]

    def each(self, token_lists: Sequence[Sequence[str]]) -> list[np.ndarray]:
        """:meth:`token_scores` of each list, in one read of frequencies and one search."""
        self.dfs([t for tokens in token_lists for t in tokens])
        n = self.view.live_size
        queries: list[dict[int, float]] = []
        for tokens in token_lists:
            weights: dict[int, float] = {}
            for token, df in zip(tokens, self.dfs(tokens), strict=True):
                if df:  # as the local store: a query's repeated token counts each time
                    term = terms.term_id(self.name, token)
                    weights[term] = weights.get(term, 0.0) + float(np.float32(terms.idf(n, df)))
            queries.append(weights)
        searched = iter(self.view.lexical_hits([q for q in queries if q]))
        out = []
        for weights in queries:
            scores = np.zeros(self.view.size, np.float32)
            for row, score in next(searched) if weights else []:
                scores[row] += score
            out.append(scores)
        return out

    def scores(self, query: str) -> tuple[np.ndarray, float]:
        tokens = self.tokenize(query)
        return self.token_scores(tokens), self.ceiling(tokens)


class _Vocab:
    def __init__(self, field: RemoteField) -> None:
        self._field = field

    def __contains__(self, token: object) -> bool:
        return isinstance(token, str) and self._field.dfs([token])[0] > 0


class RemoteView:
    """A view of a Milvus collection whose BM25 lives there too (see the module docstring)."""

    def __init__(
        self,
        collection: Collection,
        name: str,
        state: State,
        records: Records,
        totals: Totals,
    ) -> None:
        self.collection, self.name, self.state, self.records, self.totals = collection, name, state, records, totals
        self.versions = records.versions
        self.manifest = Manifest(
            state.model, state.dim, state.chunking, records, state.created_at, state.tokens_version
        )
        self._rows = _Rows(min(totals.n, ROWS) + SLACK)  # score arrays are this long: bounded, whatever the corpus
        self._df: dict[str, int] = {}
        self.chunks = _RemoteChunks(self)

    @classmethod
    def read(cls, collection: Collection, state: State) -> RemoteView:
        """The collection's BM25 totals: nothing of its passages, and its document records only as searches meet them."""
        name = collection.behind()
        assert name is not None
        return cls(collection, name, state, Records(collection, name), collection.totals(name))

    @property
    def full(self) -> bool:
        """Whether the view has met so many passages that the writer should give searches a fresh one."""
        return len(self._rows.chunks) >= SEEN

    # ------------------------------------------------------------ BM25
    def frequencies(self, field: str, tokens: Sequence[str]) -> list[int]:
        """Each token's document frequency in ``field``, from the stats collection once per view."""
        keys = [terms.stat_id(field, terms.term_id(field, t)) for t in tokens]
        missing = sorted({k for k in keys if k not in self._df})
        if missing:
            found = self.collection.frequencies(self.name, missing)
            if len(self._df) > _DF_CACHE:
                self._df = {}
            self._df.update({k: found.get(k, 0) for k in missing})
        return [self._df.get(k, 0) for k in keys]

    def lexical_hits(self, queries: list[dict[int, float]]) -> list[list[tuple[int, float]]]:
        """For each query vector of idfs, (row, BM25) of its ``LEXICAL_DEPTH`` best passages of this view's versions."""
        found = self.collection.lexical_search(queries, LEXICAL_DEPTH, _TEXTLESS, self.name)
        known = self.records.fetch(hit["doc_id"] for hits in found for hit in hits)
        out = []
        for hits in found:
            rows = []
            for hit in hits:
                if _version(known[hit["doc_id"]]) != layout.version_of(hit):
                    continue  # written since this view: it joins with the next one
                row = self._rows.add(hit)
                if row is not None:
                    rows.append((row, hit["distance"]))
            out.append(rows)
        return out

    # ------------------------------------------------------------ the IndexView protocol
    @property
    def size(self) -> int:
        return self._rows.capacity

    @property
    def live_size(self) -> int:
        return self.totals.n

    @cached_property
    def live(self) -> np.ndarray:
        return np.ones(self.size, bool)  # rows are only ever given to live passages

    @property
    def latin_rows(self) -> np.ndarray:
        return self._rows.latin

    @cached_property
    def lexical(self) -> RemoteField:
        return RemoteField(self, "lexical", tokenize)

    @cached_property
    def bridge(self) -> RemoteField:
        return RemoteField(self, "bridge", bridge.tokens)

    def doc_rows(self, doc_id: str) -> list[int]:
        return self._read_rows([doc_id], _FIELDS)

    def rows_of(self, doc_ids: Sequence[str]) -> list[int]:
        """A filter's rows: read without their text (only the passages shown need it), 256 documents a call."""
        return self._read_rows(doc_ids, _TEXTLESS)

    def _read_rows(self, doc_ids: Sequence[str], fields: list[str]) -> list[int]:
        known = self.records.fetch(doc_ids)
        wanted = [d for d in doc_ids if known[d] is not None]
        found = []
        for i in range(0, len(wanted), 256):
            expr = f"kind == {layout.WINDOW} and window == 0 and doc_id in {layout.quoted(wanted[i : i + 256])}"
            found += [
                r
                for r in self.collection.query(expr, fields, self.name)
                if _version(known[r["doc_id"]]) == layout.version_of(r)
            ]
        found.sort(key=lambda r: (r["doc_id"], int(r["start"]), r["chunk_id"]))
        return [row for row in (self._rows.add(r) for r in found) if row is not None]

    def check_vectors(self) -> None:
        """Nothing is memory-mapped here: Milvus holds the vectors."""

    def check_terms(self) -> None:
        """Nothing is memory-mapped here: Milvus holds the term weights."""

    def chunks_of(self, rows: Sequence[int]) -> list[Chunk]:
        self._complete(rows)
        return [self._rows.chunks[r] for r in rows]

    def _complete(self, rows: Iterable[int]) -> None:
        """Read the text of those of ``rows`` searches met by their id only (a search returns no text: most
        candidates are never shown), by the primary key of each one's first window, which carries it."""
        wanted = sorted({self._rows.chunks[r].chunk_id for r in rows if r in self._rows.textless})
        for entity in self.collection.get([layout.window_id(c, 0) for c in wanted], _FIELDS, self.name):
            self._rows.add(entity)

    def dense(self, qvec: np.ndarray, depth: int, only: np.ndarray | None = None) -> dict[int, float]:
        """The best window score of the ``depth`` nearest live chunks (among rows ``only``), best first."""
        allowed: set[int] | None = None
        doc_ids: list[str] | None = None
        if only is not None:
            allowed = set(only.tolist())
            doc_ids = sorted({self._rows.chunks[r].doc_id for r in allowed})
        best: dict[int, float] = {}
        found = self.collection.search_entities(qvec, depth * WINDOWS_PER_CHUNK, doc_ids, None, _TEXTLESS, self.name)
        known = self.records.fetch(hit["doc_id"] for hit in found)
        for hit in found:
            if _version(known[hit["doc_id"]]) != layout.version_of(hit):
                continue
            row = self._rows.add(hit)
            if row is None or row in best or (allowed is not None and row not in allowed):
                continue
            best[row] = hit["distance"]
            if len(best) == depth:
                break
        return best

    def dense_of(self, qvec: np.ndarray, rows: list[int]) -> dict[int, float]:
        """The best window score of each of ``rows``."""
        if not rows:
            return {}
        return best_windows(self.collection, self.manifest, qvec, {r: self._rows.chunks[r] for r in rows}, self.name)


def _version(known: Known) -> str | None:
    """A record's version (None: no such document, so none of its windows is kept)."""
    return known[1] if known is not None else None


class _RemoteChunks:
    """``view.chunks[r]``: a passage's id, document and offsets; its text only once read (:meth:`RemoteView.chunks_of`)."""

    def __init__(self, view: RemoteView) -> None:
        self._view = view

    def __getitem__(self, row: int) -> Chunk:
        return self._view._rows.chunks[row]

    def __len__(self) -> int:
        return self._view.size
