"""Why English questions miss the relevance targets: separation, calibration error and its noise, the fit's weighting.

Reads calibrate.py's cached rankings (benchmarks/results/calibration-*.pkl; run
``python benchmarks/calibrate.py`` once to make them) and prints, for the test
halves in hybrid mode:

- how well the best passage's relevance separates answerable questions (first
  passage right) from unanswerable ones (AUROC), and what keeping 95% of the
  answers would let through;
- ECE of the top 5 with a bootstrap interval over questions, and what a
  perfectly calibrated curve would read on that many passages (labels drawn
  from the predictions);
- ECE, kept and false answers when the English curves are refit with the
  unanswerable questions weighted less (the trade-off between the two targets).

``--concepts`` also searches every English question again (a few minutes) to
test one more signal: the share of the question's dictionary concepts found in
the best passage.

    python benchmarks/english_relevance.py [--concepts]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from calibrate import SETS, Ranking, abstention, predict, questions, rankings

from qa.config import SEARCH_MODES
from qa.search import calibration
from qa.search.evaluation import ece

THRESHOLD = 0.28  # the shipped QA_MIN_RELEVANCE


def auroc(pos: np.ndarray, neg: np.ndarray) -> float:
    return float(np.mean([(p > neg).mean() + 0.5 * (p == neg).mean() for p in pos]))


def top5(curves: dict[str, tuple[float, ...]], group: list[Ranking]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    answerable = [r for r in group if r.answerable and r.scores]
    return [predict(curves, r)[:5] for r in answerable], [np.array(r.labels[:5], float) for r in answerable]


def separation(test: list[Ranking]) -> None:
    print("separation (hybrid, test): AUROC of the best passage's relevance; the threshold keeping 95% of answers")
    for corpus in SETS:
        for lang in ("zh", "en"):
            group = [r for r in test if (r.corpus, r.lang, r.mode) == (corpus, lang, "hybrid")]
            pos = np.array(
                [predict(calibration.CURVES, r)[0] for r in group if r.answerable and r.labels[:1] == [True]]
            )
            neg = np.array([predict(calibration.CURVES, r)[0] for r in group if not r.answerable and r.scores])
            t95 = float(np.quantile(pos, 0.05))
            print(
                f"  {corpus:12} {lang}  AUROC {auroc(pos, neg):.3f}  keep 95% at {t95:.3f}: false {np.mean(neg >= t95):.3f}"
            )


def noise(test: list[Ranking], rng: np.random.Generator) -> None:
    print(
        "ECE of the top 5 (hybrid, test), bootstrap over questions, and a perfect curve's reading on as many passages"
    )
    for corpus in SETS:
        for lang in ("zh", "en"):
            p, y = top5(calibration.CURVES, [r for r in test if (r.corpus, r.lang, r.mode) == (corpus, lang, "hybrid")])
            flat = np.concatenate(p)
            boot = []
            for _ in range(1000):
                ix = rng.integers(0, len(p), len(p))
                boot.append(ece(np.concatenate([p[i] for i in ix]), np.concatenate([y[i] for i in ix])))
            perfect = [ece(flat, rng.random(len(flat)) < flat) for _ in range(1000)]
            lo, hi = np.quantile(boot, [0.025, 0.975])
            print(
                f"  {corpus:12} {lang}  ECE {ece(flat, np.concatenate(y)):.3f}  95% [{lo:.3f}, {hi:.3f}]"
                f"  perfect: median {np.median(perfect):.3f}, 95th {np.quantile(perfect, 0.95):.3f}"
            )


def weighted_fit(x: np.ndarray, y: np.ndarray, w: np.ndarray, l2: float = 1e-3) -> tuple[float, ...]:
    """calibrate.fit with a weight per row (Newton's method)."""
    b = np.zeros(x.shape[1])
    for _ in range(100):
        p = 1 / (1 + np.exp(-(x @ b)))
        step = np.linalg.solve(
            x.T @ (x * (w * p * (1 - p))[:, None]) + l2 * np.eye(x.shape[1]), x.T @ (w * (y - p)) - l2 * b
        )
        b += step
        if np.abs(step).max() < 1e-9:
            break
    return tuple(float(v) for v in b)


def weighting(dev: list[Ranking], test: list[Ranking]) -> None:
    def ratio(lang: str) -> float:
        group = [r for r in dev if (r.lang, r.mode) == (lang, "hybrid")]
        return sum(not r.answerable for r in group) / sum(r.answerable for r in group)

    as_chinese = ratio("zh") / ratio("en")
    print(f"English curves refit, unanswerable questions weighted w (w={as_chinese:.2f}: the Chinese fit's proportion)")
    for w in (1.0, as_chinese, 0.25, 0.0):
        curves = dict(calibration.CURVES)
        for mode in SEARCH_MODES:
            group = [r for r in dev if (r.mode, r.lang) == (mode, "en") and r.scores]
            x = np.vstack([calibration.features(r.scores) for r in group])
            y = np.concatenate([np.array(r.labels, float) for r in group])
            weights = np.concatenate([np.full(len(r.scores), 1.0 if r.answerable else w) for r in group])
            curves[f"{mode}/en"] = weighted_fit(x, y, weights)
        for corpus in SETS:
            group = [r for r in test if (r.corpus, r.lang, r.mode) == (corpus, "en", "hybrid")]
            p, y = top5(curves, group)
            kept, false = abstention(curves, group, THRESHOLD)
            print(
                f"  w={w:.2f} {corpus:12} ECE {ece(np.concatenate(p), np.concatenate(y)):.3f}"
                f"  kept {kept:.3f}  false {false:.3f}"
            )


def concepts() -> None:
    from train_answering import open_service

    from qa.search import retrieval

    print("the share of an English question's dictionary concepts found in its best passage (AUROC, hybrid, all)")
    for name in SETS:
        service, other = open_service(name), next(s for s in SETS if s != name)
        pos, neg = [], []
        for queries, answerable in ((questions(name, "en"), True), (questions(other, "en"), False)):
            for q in queries:
                prepared = retrieval.prepare(service.index, q.question)
                qvec = service.embedder.encode_queries([prepared.dense_text])[0]
                hits = retrieval.search(service.index, service.embedder, prepared, 1, "hybrid", qvec=qvec)
                if not hits or prepared.translation is None:
                    continue
                found = [any("".join(alt) in hits[0].text for alt in c) for c in prepared.translation.concepts]
                share = float(np.mean(found)) if found else 0.0
                if not answerable:
                    neg.append(share)
                elif hits[0].doc_id == q.doc and q.holds_answer(hits[0].text):
                    pos.append(share)
        print(f"  {name:12} AUROC {auroc(np.array(pos), np.array(neg)):.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--concepts", action="store_true", help="also test the dictionary-concept share (searches again)")
    args = ap.parse_args()
    found = [r for name in SETS for r in rankings(name)]
    dev, test = [r for r in found if r.split == "dev"], [r for r in found if r.split == "test" or not r.answerable]
    separation(test)
    noise([r for r in test if r.split == "test"], np.random.default_rng(0))
    weighting(dev, [r for r in found if r.split == "test"])
    if args.concepts:
        concepts()


if __name__ == "__main__":
    main()
