"""BM25 over segments: each segment keeps raw term counts; scores use statistics of the whole live corpus.

bm25s bakes the corpus' idf and average length into every stored score, so
adding one passage means rescoring all of them. Here a segment stores only
what is its own (for each term, the rows that hold it and how often, and
each row's length); the number of live passages, their average length and a
term's document frequency are summed over the segments at query time, with
deleted rows left out. A corpus therefore scores the same however it was
written: in one go, or through adds, replaces, deletes and merges.

The formula is bm25s' "lucene" one, which qa used before segments:
idf = ln(1 + (N - df + 0.5) / (df + 0.5)), tf / (tf + k1 (1 - b + b len/avglen)).
"""

from __future__ import annotations

import io
import json
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qa.index import mapped

K1, B = 1.2, 0.75
_FILES = ("indptr", "rows", "counts", "lengths")


@dataclass(frozen=True)
class Postings:
    """One segment's term counts: column j (term ``terms[j]``) lists the rows that hold it and how often."""

    terms: dict[str, int]
    indptr: np.ndarray  # int64, len(terms) + 1
    rows: np.ndarray  # int32, row of each posting
    counts: np.ndarray  # float32, term frequency of each posting
    lengths: np.ndarray  # float32, tokens per row

    @classmethod
    def build(cls, token_lists: Iterable[list[str]]) -> Postings:
        """Postings of rows given one token list at a time (a generator keeps only one passage's tokens alive).

        Postings gather in flat int32 buffers, not Python tuples: at a million
        windows a segment holds about a hundred million postings, which as
        tuples took over 20 GB and as buffers take 12 bytes each.
        """
        terms: dict[str, int] = {}
        term_ids, rows, counts, lengths = array("i"), array("i"), array("i"), array("f")
        for row, tokens in enumerate(token_lists):
            tokens = tokens or [""]  # as bm25s: an empty passage is one empty token long
            lengths.append(len(tokens))
            for token, count in Counter(tokens).items():
                term_ids.append(terms.setdefault(token, len(terms)))
                rows.append(row)
                counts.append(count)
        by_term = np.frombuffer(term_ids, np.int32)
        order = np.argsort(by_term, kind="stable")  # rows stay ascending within a term
        indptr = np.searchsorted(by_term[order], np.arange(len(terms) + 1)).astype(np.int64)
        return cls(
            terms,
            indptr,
            np.frombuffer(rows, np.int32)[order],
            np.frombuffer(counts, np.int32)[order].astype(np.float32),
            np.frombuffer(lengths, np.float32).copy(),
        )

    @property
    def size(self) -> int:
        return len(self.lengths)

    def column(self, token: str) -> tuple[np.ndarray, np.ndarray]:
        """(rows, counts) of ``token``; empty when the segment lacks it."""
        j = self.terms.get(token)
        if j is None:
            return np.zeros(0, np.int32), np.zeros(0, np.float32)
        a, b = self.indptr[j], self.indptr[j + 1]
        return self.rows[a:b], self.counts[a:b]

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        for name in _FILES:
            np.save(folder / f"{name}.npy", getattr(self, name), allow_pickle=False)
        (folder / "terms.json").write_text(json.dumps(list(self.terms), ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path) -> Postings:
        """Memory-maps the arrays, each checked against its header first (:func:`qa.index.mapped.load_npy`)."""
        arrays = {name: mapped.load_npy(folder / f"{name}.npy") for name in _FILES}
        terms = {t: j for j, t in enumerate(json.loads((folder / "terms.json").read_text(encoding="utf-8")))}
        return cls(terms, **arrays)

    def parts(self) -> dict[str, bytes]:
        """What :meth:`save` writes, as bytes by file name (a packed segment holds them in one file)."""
        out = {}
        for name in _FILES:
            buffer = io.BytesIO()
            np.save(buffer, getattr(self, name), allow_pickle=False)
            out[f"{name}.npy"] = buffer.getvalue()
        return out | {"terms.json": json.dumps(list(self.terms), ensure_ascii=False).encode("utf-8")}

    @classmethod
    def from_parts(cls, parts: dict[str, memoryview]) -> Postings:
        """The inverse of :meth:`parts`; the arrays are read into memory."""
        arrays = {name: np.load(io.BytesIO(parts[f"{name}.npy"]), allow_pickle=False) for name in _FILES}
        terms = {t: j for j, t in enumerate(json.loads(bytes(parts["terms.json"]).decode("utf-8")))}
        return cls(terms, **arrays)

    def files(self, folder: Path) -> list[Path]:
        return [folder / f"{name}.npy" for name in _FILES] + [folder / "terms.json"]


class Field:
    """BM25 over one tokenization (lexical or bridge) of every segment of a view, deleted rows left out.

    ``parts`` are (postings, first row of the segment in the view, live mask of its rows).
    """

    def __init__(
        self, parts: list[tuple[Postings, int, np.ndarray]], size: int, tokenize: Callable[[str], list[str]]
    ) -> None:
        self.parts, self.tokenize = parts, tokenize
        self.size = size
        self.live_rows = sum(int(live.sum()) for _, _, live in parts)
        total = sum(float(p.lengths[live].sum()) for p, _, live in parts)
        self.avg_length = total / self.live_rows if self.live_rows else 1.0
        self._df: dict[str, int] = {}

    def df(self, token: str) -> int:
        """Live passages holding ``token``, over all segments."""
        found = self._df.get(token)
        if found is None:
            found = sum(int(live[p.column(token)[0]].sum()) for p, _, live in self.parts)
            if len(self._df) < 100_000:
                self._df[token] = found
        return found

    @property
    def vocab(self) -> _Vocab:
        return _Vocab(self)

    def idf(self, tokens: Iterable[str]) -> np.ndarray:
        """Per-token idf (the lucene form), unseen tokens at the highest value."""
        n = self.live_rows
        return np.array([np.log1p((n - self.df(t) + 0.5) / (self.df(t) + 0.5)) for t in tokens], np.float64)

    def ceiling(self, tokens: Sequence[str]) -> float:
        """What a passage matching every one of ``tokens`` would score, about: the sum of their best BM25 terms.

        Tokens the corpus never saw count at the highest idf, so a query that shares one word with the corpus
        (English over Chinese) gets a small ``score / ceiling`` instead of looking like a perfect match.
        """
        return float(self.idf(tokens).sum() * (K1 + 1))

    def prefetch(self, tokens: Iterable[str]) -> None:
        """Nothing to read ahead: the postings are in memory."""

    def token_scores(self, tokens: Sequence[str]) -> np.ndarray:
        """The summed BM25 score of ``tokens`` for every row of the view (deleted rows: 0)."""
        out = np.zeros(self.size, np.float32)
        n = self.live_rows
        for token in tokens:
            df = self.df(token)
            if not df:
                continue
            idf = np.float32(np.log1p((n - df + 0.5) / (df + 0.5)))
            for postings, base, live in self.parts:
                rows, counts = postings.column(token)
                if len(rows) == 0:
                    continue
                norm = K1 * ((1 - B) + B * postings.lengths[rows] / np.float32(self.avg_length))
                scores = idf * counts / (norm + counts)
                out[base + rows] += np.where(live[rows], scores, np.float32(0))
        return out

    def each(self, token_lists: Sequence[Sequence[str]]) -> list[np.ndarray]:
        return [self.token_scores(tokens) for tokens in token_lists]

    def scores(self, query: str) -> tuple[np.ndarray, float]:
        """BM25 of every row for ``query``'s tokens, and its :meth:`ceiling`."""
        tokens = self.tokenize(query)
        return self.token_scores(tokens), self.ceiling(tokens)


class _Vocab:
    """``token in field.vocab``: whether some live passage holds it."""

    def __init__(self, field: Field) -> None:
        self._field = field

    def __contains__(self, token: object) -> bool:
        return isinstance(token, str) and self._field.df(token) > 0
