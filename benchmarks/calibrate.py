"""Fit the score calibration of qa/calibration.py: P(passage holds the answer | score) per mode.

For every question of the eval sets, the top 10 passages of each mode are
labelled (right document and contains an answer) and one logistic curve per
mode is fit to (score, label) by Newton's method over both sets. Prints the
coefficients and, per set, a reliability table (predicted bin vs observed rate).

    python benchmarks/calibrate.py [--set cmrc2018_dev --set drcd_dev]   (both by default)
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from qa.config import Settings  # noqa: E402
from qa.search.evaluation import read_queries  # noqa: E402
from qa.service.core import QAService  # noqa: E402

EVAL = Path(__file__).resolve().parents[2] / "shared" / "eval"
RESULTS = Path(__file__).resolve().parent / "results"


def fit(x: np.ndarray, y: np.ndarray, steps: int = 50) -> tuple[float, float]:
    """Logistic regression y ~ sigmoid(a*x + b) by Newton's method."""
    X = np.column_stack([x, np.ones_like(x)])
    w = np.zeros(2)
    for _ in range(steps):
        p = 1 / (1 + np.exp(-X @ w))
        grad = X.T @ (y - p)
        hess = X.T @ (X * (p * (1 - p))[:, None]) + 1e-9 * np.eye(2)
        w += np.linalg.solve(hess, grad)
    return float(w[0]), float(w[1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--set", dest="sets", action="append", default=[])
    args = ap.parse_args()
    samples: dict[str, list[tuple[float, int, str]]] = {"dense": [], "lexical": [], "hybrid": []}
    for name in args.sets or ["cmrc2018_dev", "drcd_dev"]:
        settings = Settings(docs_dir=EVAL / name / "docs", index_dir=RESULTS / f"idx-{name}")
        service = QAService.open(settings)
        service.writer.ensure()
        for q in read_queries(EVAL / name / "queries_public.jsonl"):
            for mode in samples:
                for hit in service.search(q.question, 10, mode).results:  # type: ignore[arg-type]
                    label = hit.chunk.doc_id == q.doc and any(a in hit.chunk.text for a in q.answers)
                    samples[mode].append((hit.score, int(label), name))
    for mode, triples in samples.items():
        x, y = np.array([t[0] for t in triples]), np.array([t[1] for t in triples], float)
        sets = np.array([t[2] for t in triples])
        a, b = fit(x, y)
        print(f"{mode}: a={a:.4f} b={b:.4f}  ({len(x)} passages, {y.mean():.3f} relevant)")
        pred = 1 / (1 + np.exp(-(a * x + b)))
        for name in dict.fromkeys(sets):
            print(f"  {name}: predicted bin -> passages, observed rate")
            for lo in np.arange(0, 1, 0.2):
                m = (pred >= lo) & (pred < lo + 0.2) & (sets == name)
                if m.any():
                    print(f"    {lo:.1f}-{lo + 0.2:.1f}: {m.sum():6d}, {y[m].mean():.3f}")


if __name__ == "__main__":
    main()
