"""BM25 over Chinese-aware tokens, so names, numbers and dates match exactly.

Tokens are jieba words (via the rjieba binding) plus the character bigrams of
every CJK run: words reward exact terms, bigrams keep traditional Chinese and
out-of-dictionary names matchable. Latin words are lower-cased; digits stay.
Scoring is bm25s, persisted as its own folder inside an index generation.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import bm25s
import numpy as np
import rjieba

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ffff]+")
_WORD = re.compile(r"\w", re.UNICODE)
K1, B = 1.2, 0.75
logging.getLogger("bm25s").setLevel(logging.WARNING)  # it logs every index build at DEBUG


def tokenize(text: str) -> list[str]:
    text = text.lower()
    words = [w for w in rjieba.cut(text) if _WORD.search(w)]
    bigrams = [run[i : i + 2] for run in _CJK.findall(text) for i in range(len(run) - 1)]
    return words + bigrams


class LexicalIndex:
    """Row i scores chunk i of the generation it was built with."""

    def __init__(self, bm25: bm25s.BM25 | None, size: int) -> None:
        self._bm25 = bm25  # None for an empty corpus, which bm25s cannot index
        self.size = size
        self._vocab: dict[str, int] = bm25.vocab_dict if bm25 is not None else {}
        # Document frequency per token id: the CSC score matrix has one column per token.
        self._df = np.diff(bm25.scores["indptr"]) if bm25 is not None else np.zeros(0, np.int64)

    @classmethod
    def build(cls, texts: list[str]) -> LexicalIndex:
        if not texts:
            return cls(None, 0)
        bm25 = bm25s.BM25(k1=K1, b=B)
        tokens = [tokenize(t) or [""] for t in texts]
        bm25.index(tokens, show_progress=False)
        return cls(bm25, len(texts))

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        if self._bm25 is not None:
            self._bm25.save(str(folder), show_progress=False)

    @classmethod
    def load(cls, folder: Path, size: int) -> LexicalIndex:
        if size == 0:
            return cls(None, 0)
        bm25 = bm25s.BM25.load(str(folder), show_progress=False, verbosity=0)
        return cls(bm25, size)

    def idf(self, tokens: list[str]) -> np.ndarray:
        """Per-token idf (bm25s' lucene form), unseen tokens at the highest value."""
        df = np.array([self._df[self._vocab[t]] if t in self._vocab else 0 for t in tokens], dtype=np.float64)
        return np.log1p((self.size - df + 0.5) / (df + 0.5))

    def scores(self, query: str) -> tuple[np.ndarray, float]:
        """BM25 score of every row, and the query's ceiling: what a chunk matching every query token would score.

        The ceiling counts tokens the corpus never saw at the highest idf, so a
        query that shares one word with the corpus (English over Chinese) gets
        a small ``score / ceiling`` instead of looking like a perfect match.
        """
        tokens = tokenize(query)
        known = [t for t in tokens if t in self._vocab]
        ceiling = float(self.idf(tokens).sum() * (K1 + 1))
        if not known or self._bm25 is None:
            return np.zeros(self.size, np.float32), ceiling
        return np.asarray(self._bm25.get_scores(known), dtype=np.float32), ceiling
