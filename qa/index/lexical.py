"""BM25 over Chinese-aware tokens, so names, numbers and dates match exactly.

Tokens are jieba words (via the rjieba binding) plus the character bigrams of
every CJK run: words reward exact terms, bigrams keep out-of-dictionary names
matchable. Traditional characters are folded to simplified first (OpenCC), so
jieba, whose dictionary is simplified, segments traditional text as well and a
question in one script meets a passage in the other. Latin words are
lower-cased and stemmed (Snowball: "bookmarks" and "bookmark" meet); digits stay. Scoring is bm25s, persisted as its own folder inside
an index generation.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path

import bm25s
import numpy as np
import rjieba

CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ffff]+")
CJK_CHAR = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ffff]")
_WORD = re.compile(r"\w", re.UNICODE)
K1, B = 1.2, 0.75
# What tokenize() produces; an index records it, and one built by another version re-tokenizes its passages.
TOKENS_VERSION = 3
_LATIN = re.compile(r"[a-z]+")
logging.getLogger("bm25s").setLevel(logging.WARNING)  # it logs every index build at DEBUG
_opencc_lock = threading.Lock()


@lru_cache(maxsize=1)
def _t2s() -> Callable[[str], str]:
    import opencc

    converter = opencc.OpenCC("t2s")

    def convert(text: str) -> str:
        with _opencc_lock:  # one converter object, not documented as thread-safe
            return converter.convert(text)

    return convert


def fold(text: str) -> str:
    """Traditional Chinese characters as simplified ones; everything else as it is."""
    return _t2s()(text) if CJK.search(text) else text


@lru_cache(maxsize=1)
def _stemmer():  # type: ignore[no-untyped-def]
    import Stemmer

    return Stemmer.Stemmer("english")


def latin(word: str) -> str:
    """The token of a lower-case Latin word: its Snowball stem."""
    return _stemmer().stemWord(word) if _LATIN.fullmatch(word) else word


def tokenize(text: str) -> list[str]:
    text = fold(text.lower())
    words = [latin(w) for w in rjieba.cut(text) if _WORD.search(w)]
    bigrams = [run[i : i + 2] for run in CJK.findall(text) for i in range(len(run) - 1)]
    return words + bigrams


class LexicalIndex:
    """BM25 over one token list per chunk; row i scores chunk i of the generation it was built with."""

    def __init__(self, bm25: bm25s.BM25 | None, size: int) -> None:
        self._bm25 = bm25  # None for an empty corpus, which bm25s cannot index
        self.size = size
        self.vocab: dict[str, int] = bm25.vocab_dict if bm25 is not None else {}
        # Document frequency per token id: the CSC score matrix has one column per token.
        self._df = np.diff(bm25.scores["indptr"]) if bm25 is not None else np.zeros(0, np.int64)

    @classmethod
    def build(cls, texts: Sequence[str], tokens_of: Callable[[str], list[str]] = tokenize) -> LexicalIndex:
        if not texts:
            return cls(None, 0)
        bm25 = bm25s.BM25(k1=K1, b=B)
        bm25.index([tokens_of(t) or [""] for t in texts], show_progress=False)
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

    def idf(self, tokens: Sequence[str]) -> np.ndarray:
        """Per-token idf (bm25s' lucene form), unseen tokens at the highest value."""
        df = np.array([self._df[self.vocab[t]] if t in self.vocab else 0 for t in tokens], dtype=np.float64)
        return np.log1p((self.size - df + 0.5) / (df + 0.5))

    def ceiling(self, tokens: Sequence[str]) -> float:
        """What a chunk matching every one of ``tokens`` would score, about: the sum of their best BM25 terms.

        Tokens the corpus never saw count at the highest idf, so a query that
        shares one word with the corpus (English over Chinese) gets a small
        ``score / ceiling`` instead of looking like a perfect match.
        """
        return float(self.idf(tokens).sum() * (K1 + 1))

    def token_scores(self, tokens: Sequence[str]) -> np.ndarray:
        """The summed BM25 score of ``tokens`` for every row (tokens the corpus lacks add nothing)."""
        known = [t for t in tokens if t in self.vocab]
        if not known or self._bm25 is None:
            return np.zeros(self.size, np.float32)
        return np.asarray(self._bm25.get_scores(known), dtype=np.float32)

    def scores(self, query: str) -> tuple[np.ndarray, float]:
        """BM25 score of every row for ``query``'s tokens, and its :meth:`ceiling`."""
        tokens = tokenize(query)
        return self.token_scores(tokens), self.ceiling(tokens)
