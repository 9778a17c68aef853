"""Fit the answering model (qa/search/answering.json) on the dev halves; report it on the test halves.

For every question of CMRC 2018 and DRCD (Chinese, ../shared/eval) and their
English versions (benchmarks/xling), the passage that holds its answer (the
first hybrid passage when it does, else the first of the top 10 that does) is
split into sentences, each labelled by whether it holds an annotated answer.
A conditional logit (softmax over a passage's sentences, L2-regularised) is
fit on the dev half; the test half gives answer@1 given a right first passage,
against the previous rule (cosine + 2 x idf overlap), and the span's exact match.

    python benchmarks/train_answering.py            # collect (cached), fit, write answering.json, report
    python benchmarks/train_answering.py --no-write # report only

Passages, sentences and their cosines are cached in benchmarks/results/answering-*.pkl;
delete them after a change to retrieval or sentence splitting.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from scipy.optimize import minimize

from qa.config import Settings
from qa.index.chunking import Chunk
from qa.search import answering, retrieval, sentence_features
from qa.search.evaluation import Query, read_queries
from qa.service.core import QAService

ROOT = Path(__file__).resolve().parents[1]
EVAL = ROOT.parent / "shared" / "eval"
RESULTS = ROOT / "benchmarks" / "results"
SETS = ("cmrc2018_dev", "drcd_dev")
L2 = 1.0


def question_files(name: str) -> dict[str, Path]:
    return {"zh": EVAL / name / "queries_public.jsonl", "en": ROOT / "benchmarks" / "xling" / f"{name}.en.jsonl"}


@dataclass
class Item:
    """One question and the passage its answer is read from, with everything the features need."""

    query: Query
    lang: str
    top_hit: bool  # the first passage holds the answer (what answer@1 given a hit counts)
    chunk: Chunk
    spans: list[tuple[int, int]]
    cosines: np.ndarray
    asked: sentence_features.Question


def open_service(name: str) -> QAService:
    service = QAService.open(Settings(docs_dir=EVAL / name / "docs", index_dir=RESULTS / f"idx-{name}"))
    service.writer.ensure()
    return service


def collect(service: QAService, queries: list[Query], lang: str) -> list[Item]:
    index, out = service.index, []
    for q in queries:
        prepared = retrieval.prepare(index, q.question)
        qvec = service.embedder.encode_queries([prepared.dense_text])[0]
        hits = retrieval.search(index, service.embedder, prepared, 10, "hybrid", qvec=qvec)
        right = [h for h in hits if h.doc_id == q.doc and q.holds_answer(h.text)]
        if not right:
            continue
        chunk = right[0].chunk
        spans = answering.spans(chunk)
        texts = [chunk.text[a - chunk.start : b - chunk.start] for a, b in spans]
        cosines = service.sentences(texts) @ qvec
        asked = retrieval.question(index, prepared)
        out.append(Item(q, lang, right[0] is hits[0], chunk, spans, cosines, asked))
    return out


def items(name: str) -> list[Item]:
    cache = RESULTS / f"answering-{name}.pkl"
    if cache.exists():
        return pickle.loads(cache.read_bytes())
    service = open_service(name)
    found = [it for lang, path in question_files(name).items() for it in collect(service, read_queries(path), lang)]
    cache.write_bytes(pickle.dumps(found))
    return found


def matrices(found: list[Item]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per item: the feature rows of its passage's sentences and which of them hold an answer."""
    out = []
    for it in found:
        texts = [it.chunk.text[a - it.chunk.start : b - it.chunk.start] for a, b in it.spans]
        x = sentence_features.features(it.asked, texts, it.cosines)
        y = np.array([it.query.holds_answer(t) for t in texts])
        out.append((x, y))
    return out


def fit(data: list[tuple[np.ndarray, np.ndarray]]) -> answering.Model:
    """Maximise sum log P(a right sentence | passage) under a softmax of linear scores, plus an L2 penalty."""
    usable = [(x, y) for x, y in data if y.any() and not y.all()]
    stacked = np.vstack([x for x, _ in usable])
    mean, scale = stacked.mean(0), stacked.std(0) + 1e-6
    groups = [((x - mean) / scale, y) for x, y in usable]

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        total, grad = L2 * w @ w / 2, L2 * w
        for x, y in groups:
            z = x @ w
            p = np.exp(z - z.max())
            p /= p.sum()
            gold = p * y
            g = gold.sum()
            total -= np.log(g + 1e-12)
            grad = grad - (x.T @ (gold / (g + 1e-12))) + x.T @ p
        return total, grad

    w = minimize(loss, np.zeros(stacked.shape[1]), jac=True, method="L-BFGS-B").x
    return answering.Model(w, mean, scale)


def legacy(x: np.ndarray, lang: str) -> np.ndarray:
    """The rule before the model: cosine + 2 x idf overlap (an English question overlapped nothing)."""
    cos, overlap = sentence_features.FEATURES.index("cos"), sentence_features.FEATURES.index("overlap")
    return x[:, cos] + (2.0 * x[:, overlap] if lang == "zh" else 0.0)


def report(model: answering.Model, found: list[Item], name: str) -> None:
    data = matrices(found)
    for lang in ("zh", "en"):
        rows = [
            (it, xy)
            for it, xy in zip(found, data, strict=True)
            if it.lang == lang and it.top_hit and it.query.split == "test"
        ]
        new = np.mean([y[int(np.argmax(model.scores(x)))] for _, (x, y) in rows])
        old = np.mean([y[int(np.argmax(legacy(x, lang)))] for it, (x, y) in rows])
        spans, exact = 0, 0
        for it, (x, _) in rows:
            best = int(np.argmax(model.scores(x)))
            a, b = it.spans[best]
            span = answering.answer_span(it.asked, it.chunk.text[a - it.chunk.start : b - it.chunk.start], a)
            if span is not None:
                spans += 1
                exact += span.text in it.query.answers
        print(
            f"{name} {lang} test, first passage right ({len(rows)}): answer@1 {old:.4f} -> {new:.4f}; "
            f"span given {spans} ({spans / max(1, len(rows)):.2f}), exact {exact / max(1, spans):.4f}"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--no-write", action="store_true", help="report the shipped model, do not refit")
    args = ap.parse_args()
    found = {name: items(name) for name in SETS}
    if args.no_write:
        model = answering.model()
    else:
        dev = [xy for f in found.values() for it, xy in zip(f, matrices(f), strict=True) if it.query.split == "dev"]
        model = fit(dev)
        path = Path(answering.__file__).with_name("answering.json")
        path.write_text(json.dumps(model.to_json(), indent=1) + "\n", encoding="utf-8")
        print(f"wrote {path.relative_to(ROOT)} ({len(dev)} dev passages)")
    for name, f in found.items():
        report(model, f, name)


if __name__ == "__main__":
    main()
