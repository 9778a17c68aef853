"""A score that means the same in every mode: the estimated probability that a passage holds the answer.

Raw scores do not travel: e5 cosines crowd into 0.75-0.95 whatever the
question, BM25 shares and the hybrid mix have ranges of their own. Chatbot
platforms filter on one ``score_threshold`` in 0..1, so each mode's score is
mapped through a logistic curve fit on the CMRC 2018 and DRCD public halves
(the top 10 passages of every question, labelled by whether they hold an
annotated answer; ``benchmarks/calibrate.py`` refits it and prints, per set,
how predicted and observed rates compare).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol, TypeVar

from qa.config import SearchMode

# (slope, intercept) of P(answer | score) per mode: `python benchmarks/calibrate.py` over the
# CMRC 2018 and DRCD public halves (their top-10 passages, labelled by whether they hold an answer).
CURVES: dict[str, tuple[float, float]] = {
    "dense": (106.9264, -96.5762),  # cosine: 0.5 at 0.903, 0.9 at 0.924
    "lexical": (55.2207, -6.9962),  # BM25 share of the query's ceiling
    "hybrid": (81.9312, -48.0608),  # the 0.6/0.4 mix
}


def relevance(score: float, mode: SearchMode) -> float:
    a, b = CURVES[mode]
    z = a * score + b
    return 1.0 / (1.0 + math.exp(-z)) if z > -700 else 0.0


class _Scored(Protocol):
    score: float


S = TypeVar("S", bound=_Scored)


def calibrated(hits: Sequence[S], mode: SearchMode, threshold: float = 0.0) -> list[tuple[S, float]]:
    """Each hit with its calibrated relevance, dropping those under ``threshold`` (a chatbot platform's score filter)."""
    scored = [(hit, relevance(hit.score, mode)) for hit in hits]
    return [(hit, p) for hit, p in scored if p >= threshold]
