"""The English channel's view of an index: BM25 and e5 vectors over its passages' machine translations.

Built from the passages' texts and a lookup of their English and its vectors
(kept by :mod:`qa.translate.passages`, filled in the background); a passage
whose English is not there yet scores 0 here and is searched as before.
:func:`qa.search.retrieval.search` adds it to a question in Latin letters.

The English is embedded as sentence windows of about ``WINDOW`` characters,
as a Chinese passage is (``QA_WINDOW_SIZE``), and a passage's cosine is its
best window's: a whole translated passage (about 1,700 characters) embeds
blurred. On the dev halves of benchmarks/xling the windows' cosine alone is
right first for 0.72 / 0.74 of the questions against 0.65 / 0.68 for the
whole passage's (docs/crosslingual.md).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from qa.index.chunking import windows
from qa.search.english import stopwords

Entered = tuple[str, "np.ndarray | None"]  # a passage's English and the e5 vectors of its windows, when there are both
# Characters of English per embedded window, and of sentence overlap: a Chinese window's 100 characters come out as
# about 300 of English. Chosen with the channel's weights on the dev halves (benchmarks/xling_translated.py).
WINDOW = (300, 90)


def vectors_name(model: str) -> str:
    """What kept vectors are labelled with: the embedding model and how the English was cut into windows, so vectors
    of another model or another cut are encoded again (the English is kept)."""
    return f"{model}#windows-{WINDOW[0]}-{WINDOW[1]}"


def english_windows(english: str) -> list[str]:
    """The texts embedded for a passage's English: sentence windows of ``WINDOW`` characters, each distinct one once."""
    size, overlap = WINDOW
    found = list(dict.fromkeys(english[a:b] for a, b in windows(english, (0, len(english)), size, overlap)))
    return found or [english]


def encode_windows(encode: Callable[[list[str]], np.ndarray], texts: Sequence[str]) -> list[np.ndarray]:
    """Per English text, the vectors of its windows (one row each), encoded in one call."""
    cut = [english_windows(t) for t in texts]
    flat = encode([w for ws in cut for w in ws])
    out, at = [], 0
    for ws in cut:
        out.append(np.asarray(flat[at : at + len(ws)], np.float32))
        at += len(ws)
    return out


class EnglishView:
    """BM25 and e5 vectors over the English of each row of an index; rows without both score 0.

    ``entry_of(text)`` is a passage's ``(english, vectors)`` or None, as kept by
    :class:`qa.translate.passages.Translations` (``vectors``: its windows', one
    after the other, ``dim`` floats each): nothing is encoded here, so a view is
    rebuilt after each translated batch for the price of its BM25.
    """

    def __init__(self, texts: Sequence[str | None], entry_of: Callable[[str], Entered | None], dim: int) -> None:
        import bm25s
        import Stemmer

        self._stem = Stemmer.Stemmer("english")
        english: list[str | None] = [None] * len(texts)
        blocks, owners = [np.zeros((0, dim), np.float32)], [np.zeros(0, np.int64)]
        for r, text in enumerate(texts):
            entry = entry_of(text) if text is not None else None  # None: a deleted row, never in the channel
            if entry is not None and entry[1] is not None:
                english[r] = entry[0]
                block = np.asarray(entry[1], np.float32).reshape(-1, dim)
                blocks.append(block)
                owners.append(np.full(len(block), r, np.int64))
        self.vectors = np.vstack(blocks)  # every window of every row in the channel
        self.owner = np.concatenate(owners)  # the row each window belongs to
        self.rows = np.array([e is not None for e in english], bool)
        self.bm25: Any = bm25s.BM25() if texts else None  # bm25s cannot index nothing (an empty collection)
        if self.bm25 is not None:
            self.bm25.index([self.tokens(e) or ["\0"] if e else ["\0"] for e in english], show_progress=False)

    def tokens(self, text: str) -> list[str]:
        return list(self._stem.stemWords([w for w in re.findall(r"[a-z0-9]+", text.lower()) if w not in stopwords()]))

    def scores(self, question: str, qvec: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per row: BM25 as a share of the best row's, and the cosine of ``qvec`` to the best window of the row's
        English."""
        if self.bm25 is None:
            return np.zeros(0, np.float32), np.zeros(0, np.float32)
        vocab = self.bm25.vocab_dict
        tokens = [t for t in self.tokens(question) if t in vocab]
        bm = np.asarray(self.bm25.get_scores(tokens), np.float32) if tokens else np.zeros(len(self.rows), np.float32)
        bm = np.where(self.rows, bm / bm.max() if bm.max() > 0 else bm, 0.0).astype(np.float32)
        cos = np.zeros(len(self.rows), np.float32)
        if len(self.owner):  # a row's windows are contiguous: the best of each run
            starts = np.flatnonzero(np.r_[True, self.owner[1:] != self.owner[:-1]])
            cos[self.owner[starts]] = np.maximum.reduceat((self.vectors @ qvec).astype(np.float32), starts)
        return bm, cos
