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

from collections.abc import Sequence

import numpy as np

from qa.config import SearchMode

# Weights over FEATURES, per "<mode>/<zh|en>": `python benchmarks/calibrate.py` (dev halves).
FEATURES = ("score", "below_first", "lead_over_next", "log_rank", "bias")
CURVES: dict[str, tuple[float, ...]] = {
    "dense/zh": (50.487, -27.2721, 71.8399, -1.0566, -45.9529),
    "dense/en": (46.417, -31.0655, 124.8984, -0.9346, -42.1233),
    "lexical/zh": (25.7668, -8.7403, 31.7959, -1.4248, -3.7229),
    "lexical/en": (10.0415, -17.5859, 40.705, -0.8982, -3.2504),
    "hybrid/zh": (42.4165, -11.5724, 40.8004, -1.2254, -25.1652),
    "hybrid/en": (39.4377, -21.0948, 89.7545, -1.3507, -27.8839),
    # questions in Latin letters ranked with the English channel: `python benchmarks/calibrate.py --channel`
    "hybrid/en-channel": (13.555, -15.2182, 101.2418, -1.2616, -11.3731),
}
CHANNEL_CURVE = "hybrid/en-channel"  # questions in Latin letters ranked with the English channel


def curve(mode: SearchMode, latin: bool) -> str:
    return f"{mode}/{'en' if latin else 'zh'}"


def features(scores: Sequence[float]) -> np.ndarray:
    """One row of :data:`FEATURES` per passage of one ranking, best first."""
    s = np.asarray(scores, np.float64)
    nxt = np.append(s[1:], s[-1]) if len(s) else s
    rank = np.arange(1, len(s) + 1, dtype=np.float64)
    return np.column_stack([s, s[0] - s if len(s) else s, s - nxt, np.log(rank), np.ones_like(s)])


def along(scores: Sequence[float], weights: Sequence[float]) -> np.ndarray:
    """The relevance of each passage of one ranking under one curve, never higher than the passage ranked above
    it (a passage's lead over the next one can otherwise lift it over its better: platforms expect sorted scores)."""
    if not len(scores):
        return np.zeros(0)
    z = np.clip(features(scores) @ np.asarray(weights, np.float64), -700, 700)
    return np.minimum.accumulate(1.0 / (1.0 + np.exp(-z)))


def relevances(scores: Sequence[float], mode: SearchMode, *, latin: bool, channel: bool = False) -> list[float]:
    """The calibrated relevance of each passage of one ranking (scores best first); ``latin``: an English question;
    ``channel``: ranked with the English channel (its scores are on a scale of their own)."""
    key = CHANNEL_CURVE if channel else curve(mode, latin)
    return [round(float(p), 6) for p in along(scores, CURVES[key])]
