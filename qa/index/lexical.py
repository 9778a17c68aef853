"""The tokens BM25 scores, Chinese-aware so that names, numbers and dates match exactly.

Tokens are jieba words (via the rjieba binding) plus the character bigrams of
every CJK run: words reward exact terms, bigrams keep out-of-dictionary names
matchable. Traditional characters are folded to simplified first (OpenCC), so
jieba, whose dictionary is simplified, segments traditional text as well and a
question in one script meets a passage in the other. Latin words are
lower-cased and stemmed (Snowball: "bookmarks" and "bookmark" meet); digits stay. Scoring is BM25 over
each segment's postings (:mod:`qa.index.postings`).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from functools import lru_cache
from typing import Protocol

import rjieba

CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ffff]+")
CJK_CHAR = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ffff]")
_WORD = re.compile(r"\w", re.UNICODE)
K1, B = 1.2, 0.75
# What tokenize() produces; an index records it, and one built by another version re-tokenizes its passages.
TOKENS_VERSION = 3
_LATIN = re.compile(r"[a-z]+")
_opencc_lock = threading.Lock()


@lru_cache(maxsize=1)
def _t2s() -> Callable[[str], str]:
    import opencc

    converter = opencc.OpenCC("t2s")

    def convert(text: str) -> str:
        with _opencc_lock:  # one converter object, not documented as thread-safe
            simplified: str = converter.convert(text)
            return simplified

    return convert


def fold(text: str) -> str:
    """Traditional Chinese characters as simplified ones; everything else as it is."""
    return _t2s()(text) if CJK.search(text) else text


class _Stemmer(Protocol):  # PyStemmer ships no types: the one method qa calls
    def stemWord(self, word: str) -> str: ...


@lru_cache(maxsize=1)
def _stemmer() -> _Stemmer:
    import Stemmer

    stemmer: _Stemmer = Stemmer.Stemmer("english")
    return stemmer


def latin(word: str) -> str:
    """The token of a lower-case Latin word: its Snowball stem."""
    return _stemmer().stemWord(word) if _LATIN.fullmatch(word) else word


def tokenize(text: str) -> list[str]:
    text = fold(text.lower())
    words = [latin(w) for w in rjieba.cut(text) if _WORD.search(w)]
    bigrams = [run[i : i + 2] for run in CJK.findall(text) for i in range(len(run) - 1)]
    return words + bigrams
