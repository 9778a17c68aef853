"""Pick the sentence of a passage that best answers a question.

A sentence's score mixes its cosine to the question (embedded with the
passage prompt, like the index) with the idf-weighted share of the
question's tokens it contains: the embedding finds paraphrases, the overlap
pins names and numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qa.encoder.embedder import Embedder
from qa.index.chunking import Chunk, sentences
from qa.index.lexical import LexicalIndex, tokenize

OVERLAP_WEIGHT = 2.0  # chosen on the seed questions (README, "Own questions on the seed article")


@dataclass(frozen=True)
class Sentence:
    text: str
    start: int
    end: int
    score: float


def _spans(chunk: Chunk) -> list[tuple[int, int]]:
    """Sentence spans of the chunk, as offsets into the source document."""
    local = sentences(chunk.text, (0, len(chunk.text))) or [(0, len(chunk.text))]
    return [(chunk.start + a, chunk.start + b) for a, b in local]


def _overlap(query_tokens: list[str], idf: np.ndarray, text: str) -> float:
    if not query_tokens or idf.sum() <= 0:
        return 0.0
    present = set(tokenize(text))
    return float(sum(w for t, w in zip(query_tokens, idf) if t in present) / idf.sum())


def best_sentences(
    chunks: list[Chunk], question: str, qvec: np.ndarray, embedder: Embedder, lexical: LexicalIndex
) -> list[Sentence]:
    """The best sentence of each chunk, in the chunks' order; one encoder call for all of them."""
    spans = [_spans(c) for c in chunks]
    texts = [c.text[a - c.start : b - c.start] for c, ss in zip(chunks, spans) for a, b in ss]
    if not texts:
        return []
    cosines = embedder.encode_passages(texts) @ qvec
    q_tokens = tokenize(question)
    idf = lexical.idf(q_tokens)
    out, i = [], 0
    for chunk, ss in zip(chunks, spans):
        best: Sentence | None = None
        for a, b in ss:
            text = texts[i]
            score = float(cosines[i]) + OVERLAP_WEIGHT * _overlap(q_tokens, idf, text)
            if best is None or score > best.score:
                best = Sentence(text, a, b, score)
            i += 1
        assert best is not None
        out.append(best)
    return out
