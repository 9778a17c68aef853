"""Retrieval quality on a question set: recall@1, recall@5, MRR@10 and median latency.

A query line is ``{"id", "question", "answers": [...], "doc": "<file name>"}``;
a hit is a returned chunk from ``doc`` whose text contains one of the answers,
which stays meaningful whatever the chunk size.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from qa.errors import InvalidInput
from qa.index.chunking import Chunk


@dataclass(frozen=True)
class Query:
    id: str
    question: str
    answers: tuple[str, ...]
    doc: str


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
                out.append(Query(str(d["id"]), d["question"], tuple(d["answers"]), d["doc"]))
            except (ValueError, KeyError, TypeError) as exc:
                raise InvalidInput(f"{path}:{n}: not a query line ({exc})") from exc
    return out


def first_hit(query: Query, chunks: Iterable[Chunk]) -> int | None:
    """1-based rank of the first chunk from the right doc containing an answer."""
    for rank, chunk in enumerate(chunks, 1):
        if chunk.doc_id == query.doc and any(a and a in chunk.text for a in query.answers):
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
