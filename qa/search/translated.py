"""The English channel's view of an index: BM25 and e5 vectors over its passages' machine translations.

Built from the passages' texts and a lookup of their English (kept by
:mod:`qa.translate.passages`, filled in the background); a passage whose
English is not there yet scores 0 here and is searched as before.
:func:`qa.search.retrieval.search` adds it to a question in Latin letters.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from qa.index.lexical import CJK
from qa.search.english import stopwords


class EnglishView:
    """BM25 and e5 vectors over the English of each row of an index; rows without English score 0."""

    def __init__(
        self, texts: Sequence[str], english_of: Callable[[str], str | None], encode: Callable[[list[str]], np.ndarray]
    ) -> None:
        import bm25s
        import Stemmer

        self._stem = Stemmer.Stemmer("english")
        english = [english_of(t) if CJK.search(t) else t for t in texts]
        self.rows = np.array([e is not None for e in english], bool)
        self.bm25: Any = bm25s.BM25()
        self.bm25.index([self.tokens(e) or ["\0"] if e else ["\0"] for e in english], show_progress=False)
        have = [e for e in english if e]
        vectors = encode(have) if have else np.zeros((0, 1), np.float32)
        self.vectors = np.zeros((len(english), vectors.shape[1]), np.float32)
        self.vectors[self.rows] = vectors

    def tokens(self, text: str) -> list[str]:
        return list(self._stem.stemWords([w for w in re.findall(r"[a-z0-9]+", text.lower()) if w not in stopwords()]))

    def scores(self, question: str, qvec: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per row: BM25 as a share of the best row's, and the cosine of ``qvec`` to the row's English."""
        vocab = self.bm25.vocab_dict
        tokens = [t for t in self.tokens(question) if t in vocab]
        bm = np.asarray(self.bm25.get_scores(tokens), np.float32) if tokens else np.zeros(len(self.rows), np.float32)
        bm = np.where(self.rows, bm / bm.max() if bm.max() > 0 else bm, 0.0).astype(np.float32)
        return bm, np.where(self.rows, self.vectors @ qvec, 0.0).astype(np.float32)
