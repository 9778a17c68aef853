"""Quality on a question set: retrieval (recall@1, recall@5, MRR@10, median latency) and what a person is shown.

A query line is ``{"id", "question", "answers": [...], "doc": "<file name>"}``;
a hit is a returned chunk from ``doc`` whose text contains one of the answers,
which stays meaningful whatever the chunk size. An answer is right when the
sentence shown holds one of the answers. Questions are split in two halves by
the parity of sha256(id) (the ``split`` field of a line, when it has one):
the learned parts (answering model, calibration, the default min_relevance)
are fit on ``dev`` and measured on ``test``.
"""

from __future__ import annotations

import hashlib
import json
import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from qa.errors import InvalidInput
from qa.index.chunking import Chunk
from qa.search.answering import Span
from qa.search.retrieval import Hit

Split = str  # "dev" or "test"


def split_of(query_id: str) -> Split:
    """The half a question belongs to: the parity of sha256(id), as the sets of benchmarks/xling were split."""
    return "test" if int(hashlib.sha256(query_id.encode("utf-8")).hexdigest(), 16) % 2 else "dev"


@dataclass(frozen=True)
class Query:
    id: str
    question: str
    answers: tuple[str, ...]
    doc: str
    split: Split = "dev"

    def holds_answer(self, text: str) -> bool:
        return any(a and a in text for a in self.answers)


@dataclass(frozen=True)
class Scores:
    queries: int
    recall_at_1: float
    recall_at_5: float
    mrr_at_10: float
    median_ms: float

    def row(self) -> dict[str, float]:
        return {
            "queries": self.queries,
            "R@1": round(self.recall_at_1, 4),
            "R@5": round(self.recall_at_5, 4),
            "MRR@10": round(self.mrr_at_10, 4),
            "median_ms": round(self.median_ms, 2),
        }


def read_queries(path: Path) -> list[Query]:
    out = []
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                d = json.loads(line)
                qid = str(d["id"])
                out.append(Query(qid, d["question"], tuple(d["answers"]), d["doc"], d.get("split") or split_of(qid)))
            except (ValueError, KeyError, TypeError) as exc:
                raise InvalidInput(f"{path}:{n}: not a query line ({exc})") from exc
    return out


def first_hit(query: Query, chunks: Iterable[Chunk]) -> int | None:
    """1-based rank of the first chunk from the right doc containing an answer."""
    for rank, chunk in enumerate(chunks, 1):
        if chunk.doc_id == query.doc and query.holds_answer(chunk.text):
            return rank
    return None


def evaluate(queries: list[Query], search: Callable[[str], list[Chunk]], k: int = 10) -> Scores:
    ranks: list[int | None] = []
    times: list[float] = []
    for q in queries:
        started = time.perf_counter()
        chunks = search(q.question)[:k]
        times.append((time.perf_counter() - started) * 1000)
        ranks.append(first_hit(q, chunks))
    n = len(queries) or 1
    return Scores(
        queries=len(queries),
        recall_at_1=sum(r == 1 for r in ranks) / n,
        recall_at_5=sum(r is not None and r <= 5 for r in ranks) / n,
        mrr_at_10=sum(1 / r for r in ranks if r is not None and r <= 10) / n,
        median_ms=statistics.median(times) if times else 0.0,
    )


class Shown(Protocol):
    """What a person is shown as the answer: a sentence of a document, maybe with the span that answers."""

    @property
    def text(self) -> str: ...

    @property
    def doc_id(self) -> str: ...

    @property
    def span(self) -> Span | None: ...


@dataclass(frozen=True)
class Answers:
    """What a person is shown, on one question set, at one ``min_relevance``."""

    answer_at_1: float  # the answer sentence (of the first passage) holds an annotated answer
    given_hit: float  # the same, among questions whose first passage holds one
    span_share: float  # right answers that carry a span
    span_exact: float  # spans that equal an annotated answer
    ece: float  # relevance of the top 5 passages against whether each holds an answer (10 bins)
    kept: float  # questions whose first passage is right and reaches min_relevance (they keep their answer)
    false_answers: float | None  # unanswerable questions whose first passage reaches min_relevance

    def row(self) -> dict[str, float | None]:
        names = {"answer_at_1": "answer@1", "given_hit": "answer|hit", "span_share": "spans", "span_exact": "span EM"}
        names |= {"ece": "ECE", "kept": "kept", "false_answers": "false answers"}
        return {names[k]: None if v is None else round(v, 4) for k, v in vars(self).items()}


def ece(probs: Sequence[float], labels: Sequence[bool], bins: int = 10) -> float:
    """Expected calibration error: the gap between predicted and observed rates, bin by bin, weighted by bin size."""
    p, y = np.asarray(probs, np.float64), np.asarray(labels, np.float64)
    if not len(p):
        return 0.0
    which = np.minimum((p * bins).astype(int), bins - 1)
    return float(sum(abs(p[m].mean() - y[m].mean()) * m.sum() for b in range(bins) if (m := which == b).any()) / len(p))


def evaluate_answers(
    queries: list[Query],
    search: Callable[[str], list[Hit]],
    answer: Callable[[str], Shown | None],
    min_relevance: float,
    unanswerable: Sequence[str] = (),
) -> Answers:
    """``search``: the ranked passages with their relevance, none left out; ``answer``: the sentence shown."""
    probs: list[float] = []
    labels: list[bool] = []
    right = hit_right = hits = spans = exact = kept = 0
    for q in queries:
        found = search(q.question)
        top = [h.doc_id == q.doc and q.holds_answer(h.text) for h in found[:5]]
        probs += [h.relevance for h in found[:5]]
        labels += top
        first = bool(top) and top[0]
        shown = answer(q.question)
        ok = shown is not None and shown.doc_id == q.doc and q.holds_answer(shown.text)
        right += ok
        if first:
            hits += 1
            hit_right += ok
            kept += found[0].relevance >= min_relevance
        if ok and shown is not None and shown.span is not None:
            spans += 1
            exact += shown.span.text in q.answers
    false = [bool(f) and f[0].relevance >= min_relevance for f in (search(u)[:1] for u in unanswerable)]
    n = len(queries) or 1
    return Answers(
        answer_at_1=right / n,
        given_hit=hit_right / max(1, hits),
        span_share=spans / max(1, right),
        span_exact=exact / max(1, spans),
        ece=ece(probs, labels),
        kept=kept / max(1, hits),
        false_answers=sum(false) / len(false) if false else None,
    )
