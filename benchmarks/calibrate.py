"""Fit the relevance curves of qa/search/calibration.py and choose the default min_relevance, on the dev halves.

For every question of CMRC 2018 and DRCD (Chinese, ../shared/eval) and their
English versions (benchmarks/xling), the top 10 passages of each mode are
labelled (right document and holds an answer); the other set's questions,
asked over the same corpus, are unanswerable (every passage labelled 0). One
logistic curve per (mode, question language) over calibration.FEATURES is fit
on the dev half. The test half gives, per set, language and mode: the ECE of
the top 5 passages of answerable questions, and at the chosen min_relevance
the share of answerable questions (first passage right) that keep their
answer and of unanswerable ones that still get one. Reliability diagrams go
to docs/reliability-<mode>.png.

    pip install matplotlib   # for the diagrams (the bench extra)
    python benchmarks/calibrate.py            # search (cached), fit, print the curves to paste, report
    python benchmarks/calibrate.py --shipped  # report the curves in qa/search/calibration.py
    python benchmarks/calibrate.py --channel  # the curve of English questions ranked with the English channel

``--channel`` needs the cached translations in each eval index's channel store
(`python benchmarks/xling_translated.py seed`): it fits only
``calibration.CHANNEL_CURVE`` (hybrid, English questions, the channel on) on the
dev halves and reports its test halves at the shipped min_relevance.

Rankings are cached in benchmarks/results/calibration-*.pkl; delete them after a ranking change.
"""

from __future__ import annotations

import argparse
import os
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from qa.config import SEARCH_MODES
from qa.search import calibration, retrieval
from qa.search.evaluation import Query, ece, read_queries

ROOT = Path(__file__).resolve().parents[1]
EVAL = ROOT.parent / "shared" / "eval"
RESULTS = ROOT / "benchmarks" / "results"
SETS = ("cmrc2018_dev", "drcd_dev")
UNANSWERABLE_PER_SET = 800  # of the other set's Chinese questions (all 160 English ones)
KEEP, FALSE = 0.95, 0.05  # the targets a default must meet: answerable kept, unanswerable answered


@dataclass
class Ranking:
    corpus: str
    lang: str
    split: str
    answerable: bool
    mode: str
    scores: list[float]
    labels: list[bool]


def questions(name: str, lang: str) -> list[Query]:
    path = EVAL / name / "queries_public.jsonl" if lang == "zh" else ROOT / "benchmarks/xling" / f"{name}.en.jsonl"
    return read_queries(path)


def rankings(name: str) -> list[Ranking]:
    cache = RESULTS / f"calibration-{name}.pkl"
    if cache.exists():
        return pickle.loads(cache.read_bytes())
    from train_answering import open_service

    service, other = open_service(name), next(s for s in SETS if s != name)
    out = []
    for lang in ("zh", "en"):
        asked = [(q, True) for q in questions(name, lang)]
        foreign = questions(other, lang)
        asked += [(q, False) for q in (foreign[:UNANSWERABLE_PER_SET] if lang == "zh" else foreign)]
        for q, answerable in asked:
            for mode in SEARCH_MODES:
                hits = service.search(q.question, 10, mode, min_relevance=0.0).results  # type: ignore[arg-type]
                labels = [answerable and h.doc_id == q.doc and q.holds_answer(h.text) for h in hits]
                out.append(Ranking(name, lang, q.split, answerable, mode, [h.score for h in hits], labels))
    cache.write_bytes(pickle.dumps(out))
    return out


def channel_rankings(name: str) -> list[Ranking]:
    """English questions over ``name`` ranked hybrid with the English channel; the other set's are unanswerable."""
    cache = RESULTS / f"calibration-channel-{name}.pkl"
    if cache.exists():
        return pickle.loads(cache.read_bytes())
    from train_answering import open_service

    from qa.search.translated import EnglishView, vectors_name
    from qa.service.channel import FOLDER
    from qa.translate.passages import Translations

    service, other = open_service(name), next(s for s in SETS if s != name)
    index = service.index
    store = Translations(RESULTS / f"idx-{name}" / FOLDER, vectors_name(service.embedder.name))

    def entry(text: str) -> tuple[str, np.ndarray | None] | None:
        e = store.entry(text)
        return (e.english, e.vector) if e is not None else None

    view = EnglishView([index.chunks[r].text for r in range(index.size)], entry, service.embedder.dim)
    assert view.rows.all(), "python benchmarks/xling_translated.py seed first"
    out = []
    asked = [(q, True) for q in questions(name, "en")] + [(q, False) for q in questions(other, "en")]
    for q, answerable in asked:
        hits = retrieval.search(index, service.embedder, q.question, 10, "hybrid", english=view)
        labels = [answerable and h.doc_id == q.doc and q.holds_answer(h.text) for h in hits]
        out.append(Ranking(name, "en", q.split, answerable, "hybrid", [h.score for h in hits], labels))
    cache.write_bytes(pickle.dumps(out))
    return out


def report_channel() -> None:
    """Fit the channel's curve on dev; on test, its ECE (top 5) and abstention at the shipped min_relevance."""
    from qa.config import Settings

    found = [r for name in SETS for r in channel_rankings(name)]
    dev, test = [r for r in found if r.split == "dev"], [r for r in found if r.split == "test"]
    x, y = rows(dev)
    fitted = tuple(round(float(v), 4) for v in fit(x, y))
    print(f'    "{calibration.CHANNEL_CURVE}": {fitted},')
    threshold = Settings().min_relevance
    print(f"{'test half':24} {'ECE top5':>9} {'kept':>7} {'false':>7}   (min_relevance {threshold})")
    for label, weights in (("shipped", calibration.CURVES[calibration.CHANNEL_CURVE]), ("refit", fitted)):
        curves = {"hybrid/en": weights}
        for corpus in (*SETS, "both"):
            group = [r for r in test if corpus in ("both", r.corpus)]
            answerable = [r for r in group if r.answerable and r.scores]
            p = np.concatenate([predict(curves, r)[:5] for r in answerable])
            y5 = np.concatenate([np.array(r.labels[:5], float) for r in answerable])
            kept, false = abstention(curves, group, threshold)
            print(f"{label:8} {corpus:12} en  {ece(p, y5):9.4f} {kept:7.3f} {false:7.3f}")


def fit(x: np.ndarray, y: np.ndarray, l2: float = 1e-3, steps: int = 100) -> np.ndarray:
    """Logistic regression by Newton's method (a light ridge keeps it finite when a feature separates)."""
    w = np.zeros(x.shape[1])
    for _ in range(steps):
        p = 1 / (1 + np.exp(-(x @ w)))
        grad = x.T @ (y - p) - l2 * w
        hess = x.T @ (x * (p * (1 - p))[:, None]) + l2 * np.eye(x.shape[1])
        step = np.linalg.solve(hess, grad)
        w += step
        if np.abs(step).max() < 1e-9:
            break
    return w


def rows(found: list[Ranking]) -> tuple[np.ndarray, np.ndarray]:
    xs = [calibration.features(r.scores) for r in found if r.scores]
    ys = [np.array(r.labels, float) for r in found if r.scores]
    return np.vstack(xs), np.concatenate(ys)


def predict(curves: dict[str, tuple[float, ...]], r: Ranking) -> np.ndarray:
    """The relevance of each passage of a ranking under ``curves`` (what calibration.relevances computes)."""
    return calibration.along(r.scores, curves[f"{r.mode}/{r.lang}"])


def abstention(curves: dict[str, tuple[float, ...]], found: list[Ranking], threshold: float) -> tuple[float, float]:
    """(answerable questions whose right first passage reaches it, unanswerable ones whose first passage does)."""
    kept = [predict(curves, r)[0] >= threshold for r in found if r.answerable and r.labels and r.labels[0]]
    false = [bool(r.scores) and predict(curves, r)[0] >= threshold for r in found if not r.answerable]
    return float(np.mean(kept)) if kept else 1.0, float(np.mean(false)) if false else 0.0


def choose(curves: dict[str, tuple[float, ...]], dev: list[Ranking]) -> float:
    """The lowest threshold at which unanswerable Chinese questions get an answer at most FALSE of the time in the
    default mode (hybrid) on every dev set: the lowest, so that answerable questions keep as many answers as they can.
    English questions are reported, not chosen on: the dictionary's rankings do not separate them well enough yet."""
    groups = [[r for r in dev if (r.corpus, r.lang, r.mode) == (corpus, "zh", "hybrid")] for corpus in SETS]
    for t in np.arange(0.05, 0.95, 0.01):
        if all(abstention(curves, g, float(t))[1] <= FALSE for g in groups):
            return round(float(t), 2)
    return 0.95


def diagram(curves: dict[str, tuple[float, ...]], test: list[Ranking], mode: str) -> Path | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot([0, 1], [0, 1], color="#999", lw=1, ls="--", label="perfect")
    for corpus in SETS:
        for lang in ("zh", "en"):
            group = [r for r in test if (r.corpus, r.lang, r.mode, r.answerable) == (corpus, lang, mode, True)]
            p = np.concatenate([predict(curves, r)[:5] for r in group if r.scores])
            y = np.concatenate([np.array(r.labels[:5], float) for r in group if r.scores])
            which = np.minimum((p * 10).astype(int), 9)
            xs = [p[which == b].mean() for b in range(10) if (which == b).sum() >= 5]
            ys = [y[which == b].mean() for b in range(10) if (which == b).sum() >= 5]
            ax.plot(xs, ys, marker="o", lw=1.2, label=f"{corpus.split('_')[0]} {lang} (ECE {ece(p, y):.3f})")
    ax.set(xlabel="relevance (predicted)", ylabel="holds the answer (observed)", xlim=(0, 1), ylim=(0, 1))
    ax.set_title(f"{mode}: test halves, top 5 passages")
    ax.legend(loc="upper left", fontsize=8)
    path = ROOT / "docs" / f"reliability-{mode}.png"
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shipped", action="store_true", help="report the curves in calibration.py, do not refit")
    ap.add_argument("--channel", action="store_true", help="fit and report only the English channel's curve")
    args = ap.parse_args()
    if args.channel:
        report_channel()
        return
    found = [r for name in SETS for r in rankings(name)]
    dev, test = [r for r in found if r.split == "dev"], [r for r in found if r.split == "test"]
    curves: dict[str, tuple[float, ...]] = calibration.CURVES
    if not args.shipped:
        curves = {}
        for mode in SEARCH_MODES:
            for lang in ("zh", "en"):
                x, y = rows([r for r in dev if (r.mode, r.lang) == (mode, lang)])
                curves[f"{mode}/{lang}"] = tuple(round(float(v), 4) for v in fit(x, y))
        print("CURVES = {")
        for k, v in curves.items():
            print(f'    "{k}": {v},')
        print("}")
    threshold = choose(curves, dev)
    print(f"min_relevance chosen on dev: {threshold}")
    print(f"{'test half':24} {'ECE top5':>9} {'kept':>7} {'false':>7}")
    for corpus in SETS:
        for lang in ("zh", "en"):
            for mode in SEARCH_MODES:
                group = [r for r in test if (r.corpus, r.lang, r.mode) == (corpus, lang, mode)]
                answerable = [r for r in group if r.answerable and r.scores]
                p = np.concatenate([predict(curves, r)[:5] for r in answerable])
                y = np.concatenate([np.array(r.labels[:5], float) for r in answerable])
                kept, false = abstention(curves, group, threshold)
                print(f"{corpus:12} {lang} {mode:8} {ece(p, y):9.4f} {kept:7.3f} {false:7.3f}")
    for lang in ("zh", "en"):
        for mode in SEARCH_MODES:
            both = [r for r in test if (r.lang, r.mode) == (lang, mode) and r.answerable and r.scores]
            p = np.concatenate([predict(curves, r)[:5] for r in both])
            y = np.concatenate([np.array(r.labels[:5], float) for r in both])
            print(f"both sets    {lang} {mode:8} {ece(p, y):9.4f}")
    for mode in SEARCH_MODES:
        if (path := diagram(curves, test, mode)) is not None:
            print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
