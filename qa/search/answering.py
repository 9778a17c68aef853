"""Pick the sentence of a passage that answers a question, and the span in it that is the answer.

Every sentence of a passage gets one linear score and the passage's best is
its answer (a conditional logit: a softmax over the passage's sentences). The
features say why a sentence answers rather than merely echoes the question:
its cosine and idf-weighted word overlap with the question, each also against
the passage's best; its neighbours' (the answer often follows the sentence
that repeats the question's words); whether it holds a number, date, name or
place the question does not, crossed with what the question asks for
(:mod:`qa.search.cues`). The weights are ``answering.json``, fit by
``benchmarks/train_answering.py`` on the dev halves of CMRC 2018 and DRCD
(Chinese and English questions); the test halves measure it (``make eval``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np

from qa.index.chunking import Chunk, sentences
from qa.index.lexical import fold
from qa.search import cues
from qa.search.sentence_features import FEATURES, Question, features


@dataclass(frozen=True)
class Span:
    """The answer inside a sentence (a number, date, name or place), by offsets into the source document."""

    text: str
    start: int
    end: int
    kind: cues.Kind


@dataclass(frozen=True)
class Sentence:
    text: str
    start: int
    end: int
    score: float  # the model's probability that this sentence holds the answer, among its passage's
    span: Span | None = None


@dataclass(frozen=True)
class Model:
    """A linear score per sentence: ``(x - mean) / scale @ weights``; softmax within a passage."""

    weights: np.ndarray
    mean: np.ndarray
    scale: np.ndarray

    def scores(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(((x - self.mean) / self.scale) @ self.weights)

    def to_json(self) -> dict[str, object]:
        cols = {"weights": self.weights, "mean": self.mean, "scale": self.scale}
        return {"features": list(FEATURES)} | {k: [round(float(v), 6) for v in a] for k, a in cols.items()}


@lru_cache(maxsize=1)
def model() -> Model:
    """The shipped weights; a file made for other features is refused rather than misread."""
    raw = json.loads(resources.files(__package__).joinpath("answering.json").read_text("utf-8"))
    if raw["features"] != list(FEATURES):
        raise RuntimeError("qa/search/answering.json was fit for other features: run benchmarks/train_answering.py")
    return Model(*(np.array(raw[k], np.float64) for k in ("weights", "mean", "scale")))


def spans(chunk: Chunk) -> list[tuple[int, int]]:
    """Sentence spans of the chunk, as offsets into the source document."""
    local = sentences(chunk.text, (0, len(chunk.text))) or [(0, len(chunk.text))]
    return [(chunk.start + a, chunk.start + b) for a, b in local]


_NEAR = 8  # characters either side of a candidate span in which the question's own words are counted


def answer_span(q: Question, text: str, offset: int) -> Span | None:
    """The thing of the kind the question asks for in the answer sentence: of several, the one standing among the
    question's own words (the rest of the sentence is what the question echoes)."""
    if q.asks is None:
        return None
    found = [m for m in cues.novel(cues.mentions(text), text, q.text) if m.kind == q.asks]
    if not found:
        return None
    folded = fold(text)

    def near(m: cues.Mention) -> int:
        around = folded[max(0, m.start - _NEAR) : m.start] + folded[m.end : m.end + _NEAR]
        return sum(ch in q.chars for ch in around)

    m = max(found, key=near)  # max keeps the first of equals
    return Span(text[m.start : m.end], offset + m.start, offset + m.end, m.kind)


# Starts the reader on a passage (its text, its sentences' spans relative to it) and returns what waits for its
# logits: None where there is no reader.
Read = Callable[[str, list[tuple[int, int]]], Callable[[], "np.ndarray | None"]]


def pick(
    q: Question,
    chunk: Chunk,
    cosines: np.ndarray,
    sentence_spans: list[tuple[int, int]],
    read: np.ndarray | None = None,
    mix: float = 1.0,
) -> Sentence:
    """The answering sentence of one passage, given each sentence's cosine to the question; with the reader's
    logits (``read``), those plus ``mix`` times the model's."""
    texts = [chunk.text[a - chunk.start : b - chunk.start] for a, b in sentence_spans]
    logits = model().scores(features(q, texts, cosines))
    if read is not None:
        logits = read + mix * logits
    probs = np.exp(logits - logits.max())
    probs /= probs.sum()
    best = int(np.argmax(probs))
    a, b = sentence_spans[best]
    return Sentence(texts[best], a, b, round(float(probs[best]), 6), answer_span(q, texts[best], a))


def best_sentences(
    chunks: Sequence[Chunk],
    q: Question,
    qvec: np.ndarray,
    encode: Callable[[list[str]], np.ndarray],
    read_first: Read | None = None,
    mix: float = 1.0,
) -> list[Sentence]:
    """The answering sentence of each chunk, in the chunks' order; one ``encode`` call for all their sentences.
    ``read_first``: the reader for the first chunk, whose sentence is the answer (it costs a model pass over the
    whole passage, so the others keep the model's pick)."""
    all_spans = [spans(c) for c in chunks]
    texts = [c.text[a - c.start : b - c.start] for c, ss in zip(chunks, all_spans, strict=True) for a, b in ss]
    if not texts:
        return []
    first = chunks[0]
    # Started first: the reader runs on one torch worker while the sentences are encoded on the other.
    wait = read_first(first.text, [(a - first.start, b - first.start) for a, b in all_spans[0]]) if read_first else None
    cosines = encode(texts) @ qvec
    out, i = [], 0
    for k, (chunk, ss) in enumerate(zip(chunks, all_spans, strict=True)):
        read = wait() if k == 0 and wait is not None else None
        out.append(pick(q, chunk, cosines[i : i + len(ss)], ss, read, mix))
        i += len(ss)
    return out
