"""Rank chunks for a query: dense (FAISS), lexical (BM25) or both fused.

Hybrid mixes the two scores rather than only their ranks: the cosine and the
BM25 score as a share of the query's ceiling (what matching every query token
would score), weighted by ``LEXICAL_WEIGHT``. A query with little lexical
overlap (English over Chinese text) thus leans on the dense ranking instead
of being steered by one accidental shared word.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import faiss
import numpy as np

from qa.config import SearchMode
from qa.encoder.embedder import Embedder
from qa.index import bridge
from qa.index.chunking import Chunk
from qa.index.store import Index
from qa.search import calibration, english
from qa.search.answering import Sentence
from qa.search.filters import Predicate, rows_where

CANDIDATES = 50  # depth each ranking contributes before fusion
WINDOWS_PER_CHUNK = 4  # windows fetched per wanted chunk, since several windows share a chunk
LEXICAL_WEIGHT = 0.4  # chosen on the CMRC/DRCD public halves (see README)
CROSS_LINGUAL_WEIGHT = 0.25  # for questions in Latin letters, chosen on the dev half of benchmarks/xling


@dataclass(frozen=True)
class Query:
    """What every mode needs of a question, worked out once: what to embed, its lexical terms, how the two mix."""

    text: str
    dense_text: str
    lexical_weight: float
    translation: english.Translation | None = None  # a question in Latin letters, made Chinese
    glossed: tuple[list[list[english.Terms]], int] | None = None  # a Chinese question's words in English, and how many


_UNSEEN = "\0"  # a token no index has: its ceiling is the top idf, which words that match nothing count at


def _known(index: Index, token: str) -> bool:
    return token in (index.bridge.vocab if token.startswith((bridge.CHAR, bridge.PINYIN)) else index.lexical.vocab)


def prepare(index: Index, text: str) -> Query:
    """A question in Latin letters over this index goes through :mod:`qa.search.english`; others as they are."""
    if english.applies(text):
        translation = english.translate(text, lambda t: _known(index, t))
        return Query(text, translation.dense_text(text), CROSS_LINGUAL_WEIGHT, translation)
    return Query(text, text, LEXICAL_WEIGHT, glossed=english.glossed(text, lambda t: _known(index, t)))


def _lexical(index: Index, query: Query) -> tuple[np.ndarray, float]:
    """BM25 of every chunk and the query's ceiling.

    A translated question scores each concept by its best wording. A Chinese
    question scores a passage written in Latin letters by its Chinese words
    or, if that is more, by their English glosses put on the same scale
    (share of each side's ceiling); Chinese passages score as without glosses.
    """
    if query.translation is not None:
        scores, ceiling = _concepts(index, query.translation.concepts)
        return scores, ceiling + query.translation.unmatched * index.lexical.ceiling([_UNSEEN])
    scores, ceiling = index.lexical.scores(query.text)
    if query.glossed and query.glossed[0]:
        concepts, words = query.glossed
        english_scores, english_ceiling = _concepts(index, concepts)
        english_ceiling += (words - len(concepts)) * index.lexical.ceiling([_UNSEEN])
        english_scores = np.where(index.latin_rows, english_scores * (ceiling / english_ceiling), 0.0)
        scores = np.maximum(scores, english_scores.astype(np.float32))
    return scores, ceiling


def _concepts(index: Index, concepts: list[list[english.Terms]]) -> tuple[np.ndarray, float]:
    total, ceiling = np.zeros(index.size, np.float32), 0.0
    for concept in concepts:
        best, best_ceiling = np.zeros(index.size, np.float32), 0.0
        for terms in concept:
            score, top = np.zeros(index.size, np.float32), 0.0
            for t in terms:
                part = index.bridge if t.startswith((bridge.CHAR, bridge.PINYIN)) else index.lexical
                score += part.token_scores([t])
                top += part.ceiling([t])
            best, best_ceiling = np.maximum(best, score), max(best_ceiling, top)
        total += best
        ceiling += best_ceiling
    return total, ceiling


@dataclass(frozen=True)
class Hit:
    """A ranked passage: its chunk, its scores, its document's metadata and, after ``ask``, its answering sentence.

    The chunk's fields are exposed flat, as the wire shape has them. ``score``
    is the ranking score of ``mode``; ``relevance`` puts it on the scale every
    mode shares (:mod:`qa.search.calibration`).
    """

    chunk: Chunk
    score: float
    dense_score: float | None
    lexical_score: float | None
    mode: SearchMode
    metadata: dict[str, Any] = field(default_factory=dict)
    sentence: Sentence | None = None

    chunk_id = property(lambda self: self.chunk.chunk_id)
    doc_id = property(lambda self: self.chunk.doc_id)
    text = property(lambda self: self.chunk.text)
    start = property(lambda self: self.chunk.start)
    end = property(lambda self: self.chunk.end)

    @property
    def relevance(self) -> float:
        """The estimated probability that this passage holds the answer (0..1)."""
        return calibration.relevance(self.score, self.mode)


def _top(scores: np.ndarray, k: int) -> np.ndarray:
    k = min(k, len(scores))
    if k == 0:
        return np.zeros(0, np.int64)
    part = np.argpartition(-scores, k - 1)[:k]
    return part[np.argsort(-scores[part], kind="stable")]


def _dense(index: Index, qvec: np.ndarray, depth: int, only: np.ndarray | None) -> dict[int, float]:
    """Best window score per chunk over the nearest windows: a chunk is as close as its closest window."""
    total = index.vectors.ntotal
    selector = None
    if only is not None:
        windows = np.flatnonzero(np.isin(index.window_chunk, only)).astype(np.int64)
        selector, total = faiss.IDSelectorBatch(windows), len(windows)
    k = min(depth * WINDOWS_PER_CHUNK, total)
    if k == 0:
        return {}
    hnsw = getattr(index.vectors, "hnsw", None)
    if hnsw is not None:  # HNSW returns at most efSearch results, so search at least as deep as asked
        params = faiss.SearchParametersHNSW(efSearch=max(hnsw.efSearch, k))
        if selector is not None:
            params.sel = selector
    else:
        params = faiss.SearchParameters(sel=selector) if selector is not None else None
    scores, rows = index.vectors.search(qvec.reshape(1, -1), k, params=params)
    owner = index.window_chunk
    best: dict[int, float] = {}
    for r, s in zip(rows[0], scores[0]):
        if r >= 0:
            c = int(owner[r])
            if c not in best:  # results come best first
                best[c] = float(s)
    return dict(list(best.items())[:depth])


def _dense_of(index: Index, qvec: np.ndarray, rows: list[int]) -> dict[int, float]:
    vecs, owners = index.window_vectors(rows)
    sims = vecs @ qvec
    out: dict[int, float] = {}
    for c, s in zip(owners, sims):
        out[int(c)] = max(out.get(int(c), -1.0), float(s))
    return out


def search(
    index: Index,
    embedder: Embedder,
    query: str | Query,
    top_k: int,
    mode: SearchMode,
    qvec: np.ndarray | None = None,
    where: Predicate | None = None,
) -> list[Hit]:
    """The ``top_k`` best chunks, only of documents ``where`` admits when given (see :mod:`qa.search.filters`).

    ``query`` as text, or as :func:`prepare` made it; ``qvec`` (the embedding
    of its ``dense_text``) saves an encode when the caller has it.
    """
    query = prepare(index, query) if isinstance(query, str) else query
    only = rows_where(index, where)
    if index.size == 0 or (only is not None and len(only) == 0):
        return []

    def hit(r: int, score: float, dense: float | None, lexical: float | None) -> Hit:
        chunk = index.chunks[r]
        return Hit(chunk, score, dense, lexical, mode, index.manifest.documents[chunk.doc_id].metadata)

    depth = max(top_k, CANDIDATES)
    lex_all, ceiling = _lexical(index, query) if mode != "dense" else (None, 0.0)
    if lex_all is not None and only is not None:
        mask = np.zeros(len(lex_all), bool)
        mask[only] = True
        lex_all = np.where(mask, lex_all, 0.0).astype(np.float32)
    scale = 1.0 / ceiling if ceiling > 0 else 0.0
    if mode == "lexical":
        assert lex_all is not None
        # Ranked by BM25; the score is its share of the query's ceiling, so it is comparable across queries.
        top = [r for r in _top(lex_all, top_k) if lex_all[r] > 0]
        return [hit(r, float(lex_all[r]) * scale, None, float(lex_all[r])) for r in top]
    if qvec is None:
        qvec = embedder.encode_queries([query.dense_text])[0]
    index.check_vectors()
    dense = _dense(index, qvec, depth, only)
    if mode == "dense":
        ranked = sorted(dense.items(), key=lambda kv: -kv[1])[:top_k]
        return [hit(r, s, s, None) for r, s in ranked]
    assert lex_all is not None
    lex_rows = [int(r) for r in _top(lex_all, depth) if lex_all[r] > 0]
    dense |= _dense_of(index, qvec, [r for r in lex_rows if r not in dense])
    weight = query.lexical_weight
    fused = {r: (1 - weight) * d + weight * float(lex_all[r]) * scale for r, d in dense.items()}
    ranked = sorted(fused.items(), key=lambda kv: -kv[1])[:top_k]
    return [hit(r, s, dense[r], float(lex_all[r])) for r, s in ranked]
