"""The English channel's view of an index: BM25 and e5 vectors over its passages' machine translations.

Built from the passages' texts and a lookup of their English and its vector
(kept by :mod:`qa.translate.passages`, filled in the background); a passage
whose English is not there yet scores 0 here and is searched as before.
:func:`qa.search.retrieval.search` adds it to a question in Latin letters.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from qa.search.english import stopwords

Entered = tuple[str, "np.ndarray | None"]  # a passage's English and the e5 vector of it, when there are both


class EnglishView:
    """BM25 and e5 vectors over the English of each row of an index; rows without both score 0.

    ``entry_of(text)`` is a passage's ``(english, vector)`` or None, as kept by
    :class:`qa.translate.passages.Translations`: nothing is encoded here, so a
    view is rebuilt after each translated batch for the price of its BM25.
    """

    def __init__(self, texts: Sequence[str | None], entry_of: Callable[[str], Entered | None], dim: int) -> None:
        import bm25s
        import Stemmer

        self._stem = Stemmer.Stemmer("english")
        english: list[str | None] = [None] * len(texts)
        self.vectors = np.zeros((len(texts), dim), np.float32)
        for r, text in enumerate(texts):
            entry = entry_of(text) if text is not None else None  # None: a deleted row, never in the channel
            if entry is not None and entry[1] is not None:
                english[r], self.vectors[r] = entry
        self.rows = np.array([e is not None for e in english], bool)
        self.bm25: Any = bm25s.BM25() if texts else None  # bm25s cannot index nothing (an empty collection)
        if self.bm25 is not None:
            self.bm25.index([self.tokens(e) or ["\0"] if e else ["\0"] for e in english], show_progress=False)

    def tokens(self, text: str) -> list[str]:
        return list(self._stem.stemWords([w for w in re.findall(r"[a-z0-9]+", text.lower()) if w not in stopwords()]))

    def scores(self, question: str, qvec: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per row: BM25 as a share of the best row's, and the cosine of ``qvec`` to the row's English."""
        if self.bm25 is None:
            return np.zeros(0, np.float32), np.zeros(0, np.float32)
        vocab = self.bm25.vocab_dict
        tokens = [t for t in self.tokens(question) if t in vocab]
        bm = np.asarray(self.bm25.get_scores(tokens), np.float32) if tokens else np.zeros(len(self.rows), np.float32)
        bm = np.where(self.rows, bm / bm.max() if bm.max() > 0 else bm, 0.0).astype(np.float32)
        return bm, np.where(self.rows, self.vectors @ qvec, 0.0).astype(np.float32)
