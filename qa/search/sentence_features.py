"""What the answering model sees of each sentence of a passage: one row of :data:`FEATURES` per sentence.

Kept apart from the model (:mod:`qa.search.answering`) because the features
are the part that changes when the model is refit, and because
``benchmarks/train_answering.py`` computes exactly these rows from cached
passages: training and serving share one definition.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from qa.index import bridge
from qa.index.lexical import CJK, fold, tokenize
from qa.search import cues

_OWN = (
    "cos", "cos_rel", "overlap", "overlap_rel", "local", "local_rel", "only", "tri", "tri_rel", "chars",
    "first", "last", "position", "log_chars", "novelty", "best_local", "best_cos",
    "wh_left", "wh_right", "wh_left_rel", "wh_right_rel", "chars_local", "chars_local_rel",
    *(f"has_{k}" for k in cues.KINDS), *(f"asked_{k}" for k in cues.KINDS),
    "latin_cos_rel", "latin_overlap_rel",
)  # fmt: skip
# A sentence's neighbours, and the value one past either end of the passage: the answer often follows the
# sentence that repeats the question's words.
_NEIGHBOURS = (
    ("cos_rel", -0.2), ("overlap", 0.0), ("local_rel", -1.0), ("tri", 0.0), ("best_local", 0.0), ("wh_left", 0.0),
    ("chars_local_rel", -1.0),
)  # fmt: skip
FEATURES = (*_OWN, *(f"prev_{f}" for f, _ in _NEIGHBOURS), *(f"next_{f}" for f, _ in _NEIGHBOURS))
_QUESTION_CHARS = set("什么哪谁几多少何时候里儿是的了吗呢在有为被和与及")  # question words and particles, not content


@dataclass(frozen=True)
class Question:
    """What every sentence is compared with, worked out once per question.

    ``concepts`` are alternatives of token sequences: a Chinese question's
    tokens each stand alone; an English one's are its translated concepts
    (:mod:`qa.search.english`), any wording of which counts.
    """

    text: str
    latin: bool
    concepts: list[list[tuple[str, ...]]]
    weights: np.ndarray  # idf of each concept
    chars: frozenset[str]
    asks: cues.Kind | None


def question(
    text: str, idf: Callable[[Sequence[str]], np.ndarray], concepts: list[list[tuple[str, ...]]] | None = None
) -> Question:
    """A question's side of the features; ``concepts`` when it was translated (an English question).

    ``idf`` gives each token's idf in the index searched, which weighs how much matching it tells.
    """
    latin = concepts is not None
    if concepts is None:
        concepts = [[(t,)] for t in dict.fromkeys(tokenize(text))]
    weights = np.array([max(float(idf(alt).mean()) for alt in c) if c else 0.0 for c in concepts])
    source = " ".join(t for c in concepts for alt in c for t in alt) if latin else fold(text)
    chars = frozenset(ch for ch in "".join(CJK.findall(source)) if ch not in _QUESTION_CHARS)
    return Question(text, latin, concepts, weights, chars, cues.asks_for(text))


def _held(q: Question, text: str) -> tuple[np.ndarray, float]:
    """Which of the question's concepts ``text`` holds, and the share of its tokens that are none of them."""
    present = set(tokenize(text))
    if q.latin:
        present |= set(bridge.tokens(text))
    held = np.array([any(all(t in present for t in alt) for alt in c) for c in q.concepts], bool)
    mine = {t for c in q.concepts for alt in c for t in alt}
    return held, (len(present - mine) / len(present) if present else 0.0)


_WH = re.compile(
    r"为什么|为何|什么|哪[一个些里儿位年天国种座所家条]?|谁|多少|多[大高长重远深宽久]|几|何[时处地人年]?|怎么|怎样|如何"
)
_CONTEXT = 6  # characters either side of the question word that the answering sentence often repeats


def _contexts(question: str) -> list[tuple[str, str]]:
    """The text just before and just after each question word (哪里, 什么, ...) of a Chinese question."""
    text = fold(question).rstrip("?？。 ")
    return [
        (text[max(0, m.start() - _CONTEXT) : m.start()], text[m.end() : m.end() + _CONTEXT]) for m in _WH.finditer(text)
    ]


def _context_match(contexts: list[tuple[str, str]], text: str) -> tuple[float, float]:
    """How much of the question's context left and right of its question word ``text`` repeats (0..1 each)."""
    folded, left, right = fold(text), 0.0, 0.0
    for before, after in contexts:
        left = max(left, max((k for k in range(1, len(before) + 1) if before[-k:] in folded), default=0) / _CONTEXT)
        right = max(right, max((k for k in range(1, len(after) + 1) if after[:k] in folded), default=0) / _CONTEXT)
    return left, right


def _grams(text: str, n: int) -> set[str]:
    runs = CJK.findall(fold(text))
    return {run[i : i + n] for run in runs for i in range(len(run) - n + 1)}


def _share(weights: np.ndarray, held: np.ndarray) -> np.ndarray:
    """Per sentence (rows of ``held``), the weighted share of the concepts it holds."""
    total = weights.sum()
    return (held @ weights) / total if total > 0 else np.zeros(len(held))


def _around(values: np.ndarray, step: int, missing: float = 0.0) -> np.ndarray:
    """``values`` of the previous (step -1) or next (+1) sentence, ``missing`` past either end."""
    out = np.full_like(values, missing)
    if len(values) > 1:
        if step < 0:
            out[1:] = values[:-1]
        else:
            out[:-1] = values[1:]
    return out


def features(q: Question, texts: Sequence[str], cosines: np.ndarray) -> np.ndarray:
    """One row of :data:`FEATURES` per sentence of one passage, in order.

    Overlap is measured twice: by the question's idf in the whole index, and
    by its rarity among the passage's sentences, since a passage repeats its
    topic in every sentence and only the words the question shares with one
    sentence point at it. Character 3-grams catch the phrase a question copies
    from the sentence that answers it.
    """
    n = len(texts)
    held_novelty = [_held(q, t) for t in texts]
    held = np.array([h for h, _ in held_novelty], float).reshape(n, len(q.concepts))
    ov = _share(q.weights, held)
    df = held.sum(0)
    local = _share(q.weights * np.log1p(n / np.maximum(df, 1)) * (df > 0), held)
    only = _share(q.weights * (df == 1), held)
    q3 = _grams(q.text, 3) if not q.latin else set()
    tri = np.array([len(q3 & _grams(t, 3)) / len(q3) if q3 else 0.0 for t in texts])
    contexts = _contexts(q.text) if not q.latin else []
    around = np.array([_context_match(contexts, t) for t in texts]).reshape(n, 2)
    cos = np.asarray(cosines, np.float64)
    sets = [set(_cjk_chars(t)) for t in texts]
    qchars = sorted(q.chars)
    char_held = np.array([[c in cs for c in qchars] for cs in sets], float).reshape(n, len(qchars))
    char_df = char_held.sum(0)
    chars_local = _share(np.log1p(n / np.maximum(char_df, 1)) * (char_df > 0), char_held)
    rel = {
        name: v - v.max()
        for name, v in (("cos", cos), ("ov", ov), ("local", local), ("tri", tri), ("chars_local", chars_local))
    }
    latin = float(q.latin)
    rows = []
    for i, text in enumerate(texts):
        chars = sets[i]
        found = cues.novel(cues.mentions(text), text, q.text)
        has = [math.log1p(sum(m.kind == k for m in found)) for k in cues.KINDS]
        asked = [h if q.asks == k else 0.0 for h, k in zip(has, cues.KINDS, strict=True)]
        rows.append([
            cos[i], rel["cos"][i], ov[i], rel["ov"][i], local[i], rel["local"][i], only[i], tri[i], rel["tri"][i],
            len(chars & q.chars) / len(q.chars) if q.chars else 0.0,
            float(i == 0), float(i == n - 1), i / (n - 1) if n > 1 else 0.0, math.log1p(len(text)),
            held_novelty[i][1], float(rel["local"][i] == 0), float(rel["cos"][i] == 0),
            around[i, 0], around[i, 1], around[i, 0] - around[:, 0].max(), around[i, 1] - around[:, 1].max(),
            chars_local[i], rel["chars_local"][i],
            *has, *asked,
            latin * rel["cos"][i], latin * rel["ov"][i],
        ])  # fmt: skip
    x = np.array(rows, np.float64).reshape(n, len(_OWN))
    prev = np.column_stack([_around(x[:, _OWN.index(f)], -1, m) for f, m in _NEIGHBOURS])
    nxt = np.column_stack([_around(x[:, _OWN.index(f)], +1, m) for f, m in _NEIGHBOURS])
    return np.hstack([x, prev, nxt])


def _cjk_chars(text: str) -> str:
    return "".join(CJK.findall(fold(text)))
