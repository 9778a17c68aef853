"""Rank chunks for a query: dense (FAISS), lexical (BM25) or both fused.

Hybrid mixes the two scores rather than only their ranks: the cosine and the
BM25 score as a share of the query's ceiling (what matching every query token
would score), weighted by ``LEXICAL_WEIGHT``. A query with little lexical
overlap (English over Chinese text) thus leans on the dense ranking instead
of being steered by one accidental shared word.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

import numpy as np

from qa.config import SearchMode
from qa.encoder.embedder import Embedder
from qa.index import bridge
from qa.index.backend import IndexView  # what searches read, from either backend
from qa.index.chunking import Chunk
from qa.index.lexical import latin, tokenize
from qa.index.view import Lexical
from qa.search import calibration, english, lexicon, sentence_features
from qa.search.answering import Sentence
from qa.search.filters import Predicate, rows_where
from qa.search.translated import EnglishView

CANDIDATES = 50  # depth each ranking contributes before fusion
LEXICAL_WEIGHT = 0.4  # chosen on the CMRC/DRCD public halves (see README)
CROSS_LINGUAL_WEIGHT = 0.25  # for questions in Latin letters, chosen on the dev half of benchmarks/xling
# Added to the cosine of a machine-translated question to a passage in Latin letters: a translation loses
# words, so the right English passage meets it less closely than Chinese passages meet the question itself.
# Chosen on the dev halves (best mean R@1 of zh_over_en and of CMRC's Chinese questions over the same mixed
# corpus, which a larger bonus costs); docs/crosslingual.md has the figures and the command.
TRANSLATED_COSINE_BONUS = 0.02
# The English channel, for questions in Latin letters over passages with a machine translation. A passage scores
# (1 - CHANNEL_LEXICAL_WEIGHT) x its cosine + CHANNEL_LEXICAL_WEIGHT x its BM25 share (the dictionary path's two
# scores) + (1 + CHANNEL_UNCOVERED_GAIN x the share of the question's words the dictionary missed) x (BM25 over the
# translations as a share of the best row's, and the cosine of the question to the best window of the translation,
# weighted by ENGLISH_CHANNEL): the less of a question the dictionary covers, the more the translation decides.
# Chosen on the dev halves of benchmarks/xling (benchmarks/xling_translated.py tune; docs/crosslingual.md).
ENGLISH_CHANNEL = (0.02, 0.5)
CHANNEL_LEXICAL_WEIGHT = 0.4
CHANNEL_UNCOVERED_GAIN = 4.0


@dataclass(frozen=True)
class Query:
    """What every mode needs of a question, worked out once: what to embed, its lexical terms, how the two mix."""

    text: str
    dense_text: str
    lexical_weight: float
    translation: english.Translation | None = None  # a question in Latin letters, made Chinese
    glossed: tuple[list[list[english.Terms]], int] | None = None  # a Chinese question's words in English, and how many
    english: str | None = None  # a Chinese question machine-translated, for the passages in Latin letters
    names: tuple[str, ...] = ()  # its neighbouring characters in pinyin that passages in Latin letters hold


_UNSEEN = "\0"  # a token no index has: its ceiling is the top idf, which words that match nothing count at


def _field(index: IndexView, token: str) -> Lexical:
    """The tokenization that holds ``token``'s kind (pinyin and character tokens are the bridge index's)."""
    return index.bridge if token.startswith((bridge.CHAR, bridge.PINYIN)) else index.lexical


def _known(index: IndexView, token: str) -> bool:
    return token in _field(index, token).vocab


def prepare(index: IndexView, text: str, translate: Callable[[str], str | None] | None = None) -> Query:
    """A question in Latin letters over this index goes through :mod:`qa.search.english`; others as they are.

    With ``translate`` (a Chinese-to-English translator), a Chinese question
    over an index that holds passages in Latin letters is also put in English,
    which those passages are then matched against as well (see :func:`search`).
    """
    index.check_terms()  # the term counts it reads are memory-mapped: a damaged file is a 503, not a SIGBUS
    if english.applies(text):
        translation = _translate(index, text)
        return Query(text, translation.dense_text(text), CROSS_LINGUAL_WEIGHT, translation)
    index.lexical.prefetch([*tokenize(text), *english.gloss_terms(text)])  # one read where BM25 is in Milvus
    glossed = english.glossed(text, lambda t: _known(index, t))
    translated = translate(text) if translate is not None and index.latin_rows[index.live].any() else None
    names = pinyin_names(index, text) if translated else ()
    return Query(text, text, LEXICAL_WEIGHT, glossed=glossed, english=translated or None, names=names)


def _translate(index: IndexView, text: str) -> english.Translation:
    """:func:`english.translate` with the index's vocabulary read in rounds, each token once.

    Which terms it asks about depends on the answers (a word's characters only when the word is unknown), so
    they cannot all be listed first. Each round answers what earlier rounds read and counts the rest unknown;
    those are read together for the next, and the round that asks nothing new is the translation, exactly as
    one lookup at a time makes it. Where BM25 lives in Milvus a lookup is a call: 85 to 110 of them for an
    English question, three or four rounds now; in the process a round costs about a millisecond."""
    read: set[str] = set()
    while True:
        missed: list[str] = []
        translation = english.translate(text, partial(_known_or_missed, index, read, missed))
        if not missed:
            return translation
        for part in (index.lexical, index.bridge):
            part.prefetch([t for t in missed if _field(index, t) is part])
        read |= set(missed)


def _known_or_missed(index: IndexView, read: set[str], missed: list[str], token: str) -> bool:
    """Whether the index holds ``token``, if it was ``read``; else noted in ``missed`` and unknown for now."""
    if token in read:
        return _known(index, token)
    missed.append(token)
    return False


def pinyin_names(index: IndexView, text: str) -> tuple[str, ...]:
    """Two neighbouring characters of a Chinese question read as one pinyin word ("曾瑞" -> "zengrui"), where the
    index holds that word and it is no English word: how English text writes a Chinese given name or place
    (Lou Zengrui, Zhanggu Wang), which the translation model garbles ("Shun Shwe"). Matched against the
    passages in Latin letters only, beside the translation's words."""
    tokens = {w: latin(w) for w in (x + y for a, b in bridge.neighbours(text) for x in a for y in b)}
    index.lexical.prefetch(list(tokens.values()))  # one read where BM25 is in Milvus
    vocab, stop = index.lexical.vocab, english.stopwords()
    return tuple(w for w, t in tokens.items() if t in vocab and w not in stop and not lexicon.lookup(w))


def idf(index: IndexView, tokens: Sequence[str]) -> np.ndarray:
    """Each token's idf in the field that holds its kind (pinyin and character tokens are the bridge index's)."""
    return np.array([_field(index, t).idf([t])[0] for t in tokens], np.float64)


def question(index: IndexView, query: Query) -> sentence_features.Question:
    """The question as the answering model compares it with sentences: an English one by its translated concepts."""
    concepts = query.translation.concepts if query.translation is not None else None
    return sentence_features.question(query.text, lambda tokens: idf(index, tokens), concepts)


def _lexical(index: IndexView, query: Query) -> tuple[np.ndarray, float]:
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
    if query.english:
        content = " ".join(w for w in english.words(query.english) if w.lower() not in english.stopwords())
        content = " ".join([content, *query.names])
        english_scores, english_ceiling = index.lexical.scores(content)
        if english_ceiling > 0:
            english_scores = np.where(index.latin_rows, english_scores * (ceiling / english_ceiling), 0.0)
            scores = np.maximum(scores, english_scores.astype(np.float32))
    return scores, ceiling


def _concepts(index: IndexView, concepts: list[list[english.Terms]]) -> tuple[np.ndarray, float]:
    every = sorted({t for concept in concepts for terms in concept for t in terms})
    scored: dict[str, np.ndarray] = {}
    for part in (index.lexical, index.bridge):  # each term alone, all at once: one search where BM25 is in Milvus
        mine = [t for t in every if _field(index, t) is part]
        scored |= zip(mine, part.each([[t] for t in mine]), strict=True)
    total, ceiling = np.zeros(index.size, np.float32), 0.0
    for concept in concepts:
        best, best_ceiling = np.zeros(index.size, np.float32), 0.0
        for terms in concept:
            score, top = np.zeros(index.size, np.float32), 0.0
            for t in terms:
                score += scored[t]
                top += _field(index, t).ceiling([t])
            best, best_ceiling = np.maximum(best, score), max(best_ceiling, top)
        total += best
        ceiling += best_ceiling
    return total, ceiling


@dataclass(frozen=True)
class Hit:
    """A ranked passage: its chunk, its scores, its document's metadata and, after ``ask``, its answering sentence.

    The chunk's fields are exposed flat, as the wire shape has them. ``score``
    is the ranking score of ``mode``; ``relevance`` puts it on the scale every
    mode and language shares: the estimated probability that the passage holds
    the answer (:mod:`qa.search.calibration`).
    """

    chunk: Chunk
    score: float
    dense_score: float | None
    lexical_score: float | None
    mode: SearchMode
    metadata: dict[str, Any] = field(default_factory=dict)
    sentence: Sentence | None = None
    relevance: float = 0.0

    chunk_id = property(lambda self: self.chunk.chunk_id)
    doc_id = property(lambda self: self.chunk.doc_id)
    text = property(lambda self: self.chunk.text)
    start = property(lambda self: self.chunk.start)
    end = property(lambda self: self.chunk.end)
    page = property(lambda self: self.chunk.page)
    section = property(lambda self: self.chunk.section)

    def source(self) -> dict[str, Any]:
        """Where the passage stands, for a citation: document, chunk, offsets, and page and section when known."""
        c = self.chunk
        where = {"doc_id": c.doc_id, "chunk_id": c.chunk_id, "start": c.start, "end": c.end}
        return where | {k: v for k, v in (("page", c.page), ("section", c.section)) if v is not None}


def _in_english(
    index: IndexView, embedder: Embedder, query: Query, depth: int, only: np.ndarray | None, dense: dict[int, float]
) -> np.ndarray | None:
    """For a translated question: the passages in Latin letters also by their cosine to the English, the best kept."""
    if not query.english:
        return None
    qvec_en: np.ndarray = embedder.encode_queries([query.english])[0]
    latin = np.flatnonzero(index.latin_rows & index.live)
    if only is not None:
        latin = np.intersect1d(latin, only)
    if len(latin):
        _keep_best(dense, index.dense(qvec_en, depth, latin))
    return qvec_en


def _keep_best(dense: dict[int, float], translated: dict[int, float]) -> None:
    """Each row's better cosine: to the question, or to its translation (with ``TRANSLATED_COSINE_BONUS``)."""
    for r, s in translated.items():
        s += TRANSLATED_COSINE_BONUS
        dense[r] = max(dense.get(r, s), s)


def _top(scores: np.ndarray, k: int) -> np.ndarray:
    """Rows of the ``k`` highest scores, and of every score tied with the k-th (so the cut is history-free)."""
    k = min(k, len(scores))
    if k == 0:
        return np.zeros(0, np.int64)
    kth = np.partition(scores, len(scores) - k)[len(scores) - k]
    return np.flatnonzero(scores >= kth)


def _ranked(index: IndexView, scores: dict[int, float], k: int) -> list[tuple[int, float]]:
    """The ``k`` best (row, score): ties go by chunk id, so equal passages rank alike however they were written."""
    return sorted(scores.items(), key=lambda rs: (-rs[1], index.chunks[rs[0]].chunk_id))[:k]


def search(
    index: IndexView,
    embedder: Embedder,
    query: str | Query,
    top_k: int,
    mode: SearchMode,
    qvec: np.ndarray | None = None,
    where: Predicate | None = None,
    english: EnglishView | None = None,
) -> list[Hit]:
    """The ``top_k`` best chunks, only of documents ``where`` admits when given (see :mod:`qa.search.filters`),
    each with its calibrated relevance.

    ``query`` as text, or as :func:`prepare` made it; ``qvec`` (the embedding
    of its ``dense_text``) saves an encode when the caller has it. ``english``,
    the translations of this index's passages, adds the English channel to a
    hybrid search of a question in Latin letters.
    """
    index.check_terms()
    query = prepare(index, query) if isinstance(query, str) else query
    channel = (
        english is not None
        and mode == "hybrid"
        and query.translation is not None
        and len(english.rows) == index.size  # a view of another generation of the index: none rather than a wrong one
    )
    if channel:
        assert english is not None
        hits = _with_english(index, embedder, query, top_k, english, where, qvec)
    else:
        hits = [h for _, h in _search(index, embedder, query, top_k, mode, qvec, where)]
    found = calibration.relevances([h.score for h in hits], mode, latin=query.translation is not None, channel=channel)
    return [replace(h, relevance=p) for h, p in zip(hits, found, strict=True)]


def _with_english(
    index: IndexView,
    embedder: Embedder,
    query: Query,
    top_k: int,
    english: EnglishView,
    where: Predicate | None,
    qvec: np.ndarray | None,
) -> list[Hit]:
    """Today's hybrid ranking taken deep, plus the channel's best rows, each scored by every one of the channel's
    sources (see ``ENGLISH_CHANNEL``) and ranked again."""
    assert query.translation is not None
    if qvec is None:  # the dictionary path's, for its ranking and the extra rows
        qvec = embedder.encode_queries([query.dense_text])[0]
    base = dict(_search(index, embedder, query, 2 * CANDIDATES, "hybrid", qvec, where))
    bm, cos = english.scores(query.text, embedder.encode_queries([query.text])[0])  # English meets English
    allowed = index.live.copy()
    if (only := rows_where(index, where)) is not None:
        allowed[:] = False
        allowed[only] = True
    extra = {int(r) for r in np.concatenate([_top(bm, CANDIDATES), _top(cos, CANDIDATES)]) if allowed[r]} - set(base)
    lexical, ceiling = _lexical(index, query)
    scale = 1.0 / ceiling if ceiling > 0 else 0.0
    dense = {r: h.dense_score or 0.0 for r, h in base.items()}
    if extra:  # rows only the channel found: their cosine on the dictionary path too, as for the rest
        dense |= index.dense_of(qvec, sorted(extra))
    weight_bm, weight_cos = ENGLISH_CHANNEL
    gain = 1.0 + CHANNEL_UNCOVERED_GAIN * query.translation.uncovered()
    # Divided by the weights' sum: the same order, and a weighted mean of the sources, so a score means the same
    # whatever the question's gain (what the relevance curve reads).
    total = 1.0 + gain * (weight_bm + weight_cos)
    fused = {
        r: (
            (1 - CHANNEL_LEXICAL_WEIGHT) * d
            + CHANNEL_LEXICAL_WEIGHT * float(lexical[r]) * scale
            + gain * (weight_bm * float(bm[r]) + weight_cos * float(cos[r]))
        )
        / total
        for r, d in dense.items()
    }
    out, ranked = [], _ranked(index, fused, top_k)
    for (r, score), chunk in zip(ranked, index.chunks_of([r for r, _ in ranked]), strict=True):
        metadata = index.manifest.documents[chunk.doc_id].metadata
        out.append(Hit(chunk, score, dense[r], float(lexical[r]), "hybrid", metadata))
    return out


def _search(
    index: IndexView,
    embedder: Embedder,
    query: Query,
    top_k: int,
    mode: SearchMode,
    qvec: np.ndarray | None,
    where: Predicate | None,
) -> list[tuple[int, Hit]]:
    only = rows_where(index, where)
    if index.live_size == 0 or (only is not None and len(only) == 0):
        return []

    def hits(ranked: list[tuple[int, float, float | None, float | None]]) -> list[tuple[int, Hit]]:
        """(row, score, dense, lexical) as (row, hit); their passages read at once (a backend may fetch their text)."""
        chunks, docs = index.chunks_of([r for r, *_ in ranked]), index.manifest.documents
        return [
            (r, Hit(c, s, d, x, mode, docs[c.doc_id].metadata)) for c, (r, s, d, x) in zip(chunks, ranked, strict=True)
        ]

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
        top = _ranked(index, {int(r): float(lex_all[r]) for r in _top(lex_all, top_k) if lex_all[r] > 0}, top_k)
        return hits([(r, s * scale, None, s) for r, s in top])
    if qvec is None:
        qvec = embedder.encode_queries([query.dense_text])[0]
    index.check_vectors()
    dense = index.dense(qvec, depth, only)
    qvec_en = _in_english(index, embedder, query, depth, only, dense)
    if mode == "dense":
        return hits([(r, s, s, None) for r, s in _ranked(index, dense, top_k)])
    assert lex_all is not None
    lex_rows = [int(r) for r in _top(lex_all, depth) if lex_all[r] > 0]
    dense |= index.dense_of(qvec, [r for r in lex_rows if r not in dense])
    if qvec_en is not None:
        _keep_best(dense, index.dense_of(qvec_en, [r for r in lex_rows if index.latin_rows[r]]))
    weight = query.lexical_weight
    fused = {r: (1 - weight) * d + weight * float(lex_all[r]) * scale for r, d in dense.items()}
    return hits([(r, s, dense[r], float(lex_all[r])) for r, s in _ranked(index, fused, top_k)])
