"""The English translation channel, measured: passages translated to English, searched by English questions.

    python benchmarks/xling_translated.py translate   # translate every chunk of the eval indexes (resumable)
    python benchmarks/xling_translated.py embed       # the e5 vectors of the translations (measure does it too)
    python benchmarks/xling_translated.py measure     # tune the channel's weights on dev, report test
    python benchmarks/xling_translated.py search      # the same, through retrieval.search(..., english=view)
    python benchmarks/xling_translated.py cost        # the service's backfill, view and query costs

``translate`` fills benchmarks/results/translations/ (sha256 of a chunk's
text -> its English) from the indexes `make eval` builds
(benchmarks/results/idx-*), with the OPUS-MT model on both cores
(inter_threads=2), and reports its throughput. ``measure`` adds to today's
hybrid ranking (every lever of qa.search.english) two scores over the
translations: BM25 (English stemmer and stopwords) as a share of the query's
best, and the e5 cosine of the question to the translated passage. The two
weights are chosen on the dev halves of benchmarks/xling and reported on both
halves. ``embed`` computes the e5 vectors of the translations ahead (``measure``
does it when they are missing). Chinese questions over English passages are
measured with ``qa eval`` instead (docs/crosslingual.md).
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from qa.config import Settings
from qa.search import evaluation, retrieval
from qa.service.core import QAService

ROOT = Path(__file__).resolve().parents[1]
EVAL = ROOT.parent / "shared" / "eval"
RESULTS = ROOT / "benchmarks" / "results"
CACHE = RESULTS / "translations"  # <set>.jsonl: what translating that set added
SETS = {
    "cmrc2018_dev": EVAL / "cmrc2018_dev" / "docs",
    "drcd_dev": EVAL / "drcd_dev" / "docs",
    "xling-mixed": RESULTS / "xling-mixed" / "docs",
}
DEPTH = 100  # today's ranking is taken this deep; the channel adds its own top 50


def key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]


def open_service(name: str) -> QAService:
    settings = Settings(docs_dir=SETS[name], index_dir=RESULTS / f"idx-{name}")
    service = QAService.open(settings)
    service.writer.load()
    return service


def read_cache() -> dict[str, str]:
    lines = [x for f in sorted(CACHE.glob("*.jsonl")) for x in f.read_text(encoding="utf-8").splitlines()]
    return {d["key"]: d["en"] for d in map(json.loads, filter(None, lines))}


def translate(names: list[str], batch: int) -> None:
    from qa.translate import provision
    from qa.translate.model import Threads, Translator

    translator = Translator(provision.materialize(Settings().model_cache), Threads(inter=2, intra=1))
    done = read_cache()
    for name in names:
        index = open_service(name).index
        todo = list({key(c.text): c.text for c in (index.chunks[r] for r in range(index.size))}.items())
        todo = [(k, t) for k, t in todo if k not in done]
        chars, start = sum(len(t) for _, t in todo), time.perf_counter()
        print(f"{name}: {len(todo)} chunks ({chars} characters) to translate", flush=True)
        CACHE.mkdir(parents=True, exist_ok=True)
        with (CACHE / f"{name}.jsonl").open("a", encoding="utf-8") as out:
            for i in range(0, len(todo), batch):
                part = todo[i : i + batch]
                for (k, _), english in zip(part, translator.translate([t for _, t in part]), strict=True):
                    out.write(json.dumps({"key": k, "en": english}, ensure_ascii=False) + "\n")
                    done[k] = english
                out.flush()
                took = time.perf_counter() - start
                print(f"  {i + len(part)}/{len(todo)}  {(i + len(part)) / took:.2f} chunks/s", flush=True)
        if todo:
            took = time.perf_counter() - start
            print(
                json.dumps(
                    {
                        "set": name,
                        "chunks": len(todo),
                        "chunks_per_s": round(len(todo) / took, 2),
                        "chars_per_s": round(chars / took),
                    }
                ),
                flush=True,
            )


# ------------------------------------------------------------------ measure
class Channel:
    """The English side of one index: BM25 over each chunk's translation, and its e5 vector."""

    def __init__(self, name: str, service: QAService, english: list[str]) -> None:
        import bm25s
        import Stemmer

        self._stem = Stemmer.Stemmer("english")
        self.bm25 = bm25s.BM25()
        self.bm25.index([self.tokens(t) or ["\0"] for t in english], show_progress=False)
        path = RESULTS / f"translated-vectors-{name}.npy"
        if path.exists() and np.load(path).shape[0] == len(english):
            self.vectors = np.load(path)
        else:
            self.vectors = service.embedder.encode_passages(english)
            np.save(path, self.vectors)

    def tokens(self, text: str) -> list[str]:
        import re

        from qa.search.english import stopwords

        words = [w for w in re.findall(r"[a-z0-9]+", text.lower()) if w not in stopwords()]
        return self._stem.stemWords(words)

    def scores(self, english: str, qvec: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """BM25 as a share of the best passage's, and cosine, for every row."""
        vocab = self.bm25.vocab_dict
        tokens = [t for t in self.tokens(english) if t in vocab]
        bm = self.bm25.get_scores(tokens) if tokens else np.zeros(len(self.vectors))
        bm = bm / bm.max() if bm.max() > 0 else bm
        return bm.astype(np.float32), (self.vectors @ qvec).astype(np.float32)


def _fuse(
    base: dict[int, float], bm: np.ndarray, cos: np.ndarray, a: float, b: float, rows: np.ndarray | None
) -> list[int]:
    floor = min(base.values()) if base else 0.0
    channel = a * bm + b * cos
    if rows is not None:
        channel = np.where(rows, channel, 0.0)
    cand = set(base) | set(np.argsort(-bm)[:50].tolist()) | set(np.argsort(-cos)[:50].tolist())
    fused = {r: base.get(r, floor) + float(channel[r]) for r in cand}
    return sorted(fused, key=lambda r: -fused[r])[:10]


def _prepared(name: str, queries: list[evaluation.Query]) -> tuple[list[dict], Any]:
    """Per question: today's hybrid ranking (row -> score), the channel's scores, and the question in English."""
    service = open_service(name)
    index = service.index
    cache = read_cache()
    english = [cache[key(index.chunks[r].text)] for r in range(index.size)]
    channel = Channel(name, service, english)
    row_of = {index.chunks[r].chunk_id: r for r in range(index.size)}
    out = []
    for q in queries:
        hits = retrieval.search(index, service.embedder, q.question, DEPTH, "hybrid")
        qvec = service.embedder.encode_queries([q.question])[0]  # the question as asked: English meets English
        bm, cos = channel.scores(q.question, qvec)
        out.append({"q": q, "base": {row_of[h.chunk_id]: h.score for h in hits}, "bm": bm, "cos": cos})
    return out, index


def _recall(prepared: list[dict], index, a: float, b: float, rows: np.ndarray | None = None) -> tuple[float, float]:
    ranks = []
    for p in prepared:
        chunks = [index.chunks[r] for r in _fuse(p["base"], p["bm"], p["cos"], a, b, rows)]
        ranks.append(evaluation.first_hit(p["q"], chunks))
    n = len(ranks)
    return sum(r == 1 for r in ranks) / n, sum(r is not None and r <= 5 for r in ranks) / n


GRID_A = (0.0, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5)
GRID_B = (0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0)


def measure() -> None:
    data, indexes, split = {}, {}, {}
    for name in ("cmrc2018_dev", "drcd_dev"):
        queries = evaluation.read_queries(ROOT / "benchmarks" / "xling" / f"{name}.en.jsonl")
        lines = (ROOT / "benchmarks" / "xling" / f"{name}.en.jsonl").read_text(encoding="utf-8").splitlines()
        split[name] = {json.loads(x)["id"]: json.loads(x)["split"] for x in lines if x.strip()}
        data[name], indexes[name] = _prepared(name, queries)
    halves = {(n, h): [p for p in data[n] if split[n][p["q"].id] == h] for n in data for h in ("dev", "test")}

    def dev_score(a: float, b: float) -> tuple[float, float]:
        r = [_recall(halves[(n, "dev")], indexes[n], a, b) for n in data]
        return sum(x[0] for x in r), sum(x[1] for x in r)

    a, b = max(itertools.product(GRID_A, GRID_B), key=lambda ab: dev_score(*ab))
    print(f"weights chosen on dev: bm25 share {a}, cosine {b}")
    print("| set | half | today R@1 | R@5 | + channel R@1 | R@5 | channel alone R@1 | R@5 |")
    print("|---|---|---|---|---|---|---|---|")
    for n in data:
        for h in ("dev", "test"):
            today = _recall(halves[(n, h)], indexes[n], 0.0, 0.0)
            fused = _recall(halves[(n, h)], indexes[n], a, b)
            alone = _channel_alone(halves[(n, h)], indexes[n], a, b)
            cells = [f"{x:.3f}" for x in (*today, *fused, *alone)]
            print(f"| {n} | {h} ({len(halves[(n, h)])}) | " + " | ".join(cells) + " |", flush=True)


def _channel_alone(prepared: list[dict], index, a: float, b: float) -> tuple[float, float]:
    alone = [{**p, "base": {}} for p in prepared]
    return _recall(alone, index, a, b)


def embed(names: list[str]) -> None:
    """The e5 vector of every translated chunk (benchmarks/results/translated-vectors-<set>.npy)."""
    for name in names:
        service = open_service(name)
        cache = read_cache()
        english = [cache[key(service.index.chunks[r].text)] for r in range(service.index.size)]
        start = time.perf_counter()
        Channel(name, service, english)
        print(json.dumps({"set": name, "chunks": len(english), "seconds": round(time.perf_counter() - start)}))


def through_search() -> None:
    """R@1 and R@5 per half with and without the channel, as the service would rank (qa.search.translated)."""
    from qa.search.translated import EnglishView

    cache = read_cache()
    print("| set | half | today R@1 | R@5 | + channel R@1 | R@5 |")
    print("|---|---|---|---|---|---|")
    for name in ("cmrc2018_dev", "drcd_dev"):
        service = open_service(name)
        index = service.index
        texts = [index.chunks[r].text for r in range(index.size)]
        vectors = np.load(RESULTS / f"translated-vectors-{name}.npy")  # `embed` made them, in row order
        entries = {key(t): (cache[key(t)], vectors[r]) for r, t in enumerate(texts) if key(t) in cache}
        view = EnglishView(texts, lambda t, e=entries: e.get(key(t)), vectors.shape[1])
        queries = evaluation.read_queries(ROOT / "benchmarks" / "xling" / f"{name}.en.jsonl")
        for half in ("dev", "test"):
            cells = []
            for channel in (None, view):
                ranks = [
                    evaluation.first_hit(
                        q,
                        [
                            h.chunk
                            for h in retrieval.search(
                                index, service.embedder, q.question, 10, "hybrid", english=channel
                            )
                        ],
                    )
                    for q in queries
                    if q.split == half
                ]
                cells += [
                    sum(r == 1 for r in ranks) / len(ranks),
                    sum(r is not None and r <= 5 for r in ranks) / len(ranks),
                ]
            print(f"| {name} | {half} | " + " | ".join(f"{x:.3f}" for x in cells) + " |", flush=True)


def cost(passages: int) -> None:
    """What the service's channel costs: the backfill's passages/s (its one-thread translator and e5), rebuilding
    the view at CMRC's size, and the latency an English question pays for the channel."""
    import resource
    import tempfile

    from qa.encoder.embedder import load_embedder
    from qa.search.translated import EnglishView
    from qa.translate.loader import LazyTranslator
    from qa.translate.passages import Backfill, Translations

    name = "cmrc2018_dev"
    settings = Settings(docs_dir=SETS[name], index_dir=RESULTS / f"idx-{name}")
    service = QAService(settings, load_embedder(settings))  # no query cache: every question is encoded
    service.writer.load()
    index, cache = service.index, read_cache()
    texts = [index.chunks[r].text for r in range(index.size)]
    print(json.dumps({"load_average": os.getloadavg()}))

    # the backfill, as the service runs it, over the first passages of CMRC, into a scratch folder
    rss, cpu, start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, time.process_time(), time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        store = Translations(Path(folder), service.embedder.name)
        backfill = Backfill(
            store,
            LazyTranslator(settings).translate_passages,
            service.embedder.encode_passages,
            lambda: texts[:passages],
        )
        backfill.start()
        while (p := backfill.progress()).translated < p.passages and p.error is None:
            time.sleep(0.2)
        backfill.stop()
    took, cpu = time.perf_counter() - start, time.process_time() - cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "backfill_passages": passages,
                "seconds": round(took, 1),
                "passages_per_s": round(passages / took, 2),
                "cpu_s_per_passage": round(cpu / passages, 3),
                "rss_mb_before": rss // 1024,
                "peak_rss_mb": peak // 1024,
                "error": p.error,
            }
        ),
        flush=True,
    )

    vectors = np.load(RESULTS / f"translated-vectors-{name}.npy")
    entries = {key(t): (cache[key(t)], vectors[r]) for r, t in enumerate(texts) if key(t) in cache}
    builds = []
    for _ in range(5):
        start = time.perf_counter()
        view = EnglishView(texts, lambda t: entries.get(key(t)), vectors.shape[1])
        builds.append((time.perf_counter() - start) * 1000)
    print(json.dumps({"view_rows": len(texts), "view_build_ms_median": round(float(np.median(builds)), 1)}))

    questions = [q.question for q in evaluation.read_queries(ROOT / "benchmarks" / "xling" / f"{name}.en.jsonl")]
    times: dict[str, list[float]] = {"without": [], "with": []}
    for i, question in enumerate(questions):
        order = [("without", None), ("with", view)] if i % 2 else [("with", view), ("without", None)]
        for label, channel in order:
            start = time.perf_counter()
            retrieval.search(index, service.embedder, question, 5, "hybrid", english=channel)
            times[label].append((time.perf_counter() - start) * 1000)
    print(
        json.dumps(
            {
                k: {"median_ms": round(float(np.median(v)), 1), "p90_ms": round(float(np.percentile(v, 90)), 1)}
                for k, v in times.items()
            }
            | {"questions": len(questions), "load_average": os.getloadavg()}
        )
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("step", choices=["translate", "embed", "measure", "search", "cost"])
    ap.add_argument("--sets", nargs="*", default=list(SETS))
    ap.add_argument("--batch", type=int, default=32, help="chunks per translator call")
    ap.add_argument("--passages", type=int, default=40, help="cost: passages the backfill translates")
    args = ap.parse_args()
    if args.step == "translate":
        translate(args.sets, args.batch)
    elif args.step == "embed":
        embed(args.sets)
    elif args.step == "search":
        through_search()
    elif args.step == "cost":
        cost(args.passages)
    else:
        measure()


if __name__ == "__main__":
    main()
