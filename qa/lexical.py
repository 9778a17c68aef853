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
logging.getLogger("bm25s").setLevel(logging.WARNING)  # it logs every index build at DEBUG


def tokenize(text: str) -> list[str]:
    text = text.lower()
    words = [w for w in rjieba.cut(text) if _WORD.search(w)]
    bigrams = [run[i : i + 2] for run in _CJK.findall(text) for i in range(len(run) - 1)]
    return words + bigrams


class LexicalIndex:
    """Row i scores chunk i of the generation it was built with."""

    def __init__(self, bm25: bm25s.BM25, size: int) -> None:
        self._bm25 = bm25
        self.size = size
        self._vocab: dict[str, int] = bm25.vocab_dict

    @classmethod
    def build(cls, texts: list[str]) -> LexicalIndex:
        bm25 = bm25s.BM25(k1=1.2, b=0.75)
        tokens = [tokenize(t) or [""] for t in texts]
        bm25.index(tokens, show_progress=False)
        return cls(bm25, len(texts))

    def save(self, folder: Path) -> None:
        self._bm25.save(str(folder), show_progress=False)

    @classmethod
    def load(cls, folder: Path, size: int) -> LexicalIndex:
        bm25 = bm25s.BM25.load(str(folder), show_progress=False, verbosity=0)
        return cls(bm25, size)

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every row (zeros when no query token is in the vocabulary)."""
        known = [t for t in tokenize(query) if t in self._vocab]
        if not known or self.size == 0:
            return np.zeros(self.size, np.float32)
        return np.asarray(self._bm25.get_scores(known), dtype=np.float32)
