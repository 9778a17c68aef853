"""The English translation channel, measured: passages translated to English, searched by English questions.

    python benchmarks/xling_translated.py translate   # translate every chunk of the eval indexes (resumable)
    python benchmarks/xling_translated.py embed       # the e5 vectors of the translations (measure does it too)
    python benchmarks/xling_translated.py measure     # tune the channel's weights on dev, report test
    python benchmarks/xling_translated.py search      # the same, through retrieval.search(..., english=view)
    python benchmarks/xling_translated.py cost        # the service's backfill, view and query costs
    python benchmarks/xling_translated.py seed        # the cached English into each eval index's channel store,
                                                      # so `QA_TRANSLATE_PASSAGES=true qa eval` translates nothing

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


def window_vectors(name: str, service: QAService | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The e5 vectors of every window of every translated chunk, in row order, and the row each belongs to
    (benchmarks/results/translated-windows-<set>.npz; encoded here when missing)."""
    from qa.search.translated import english_windows

    path = RESULTS / f"translated-windows-{name}.npz"
    if path.exists():
        kept = np.load(path)
        return kept["vectors"], kept["owner"]
    service = service or open_service(name)
    cache, index = read_cache(), service.index
    cut = [english_windows(cache[key(index.chunks[r].text)]) for r in range(index.size)]
    vectors = service.embedder.encode_passages([w for ws in cut for w in ws])
    owner = np.concatenate([np.full(len(ws), r) for r, ws in enumerate(cut)])
    np.savez(path, vectors=vectors.astype(np.float32), owner=owner)
    return vectors, owner


def entries_of(name: str, texts: list[str]) -> dict[str, tuple[str, np.ndarray]]:
    """Per chunk text's key: its English and its windows' vectors (flattened), as the service's store keeps them."""
    cache = read_cache()
    vectors, owner = window_vectors(name)
    return {key(t): (cache[key(t)], vectors[owner == r].ravel()) for r, t in enumerate(texts) if key(t) in cache}


# ------------------------------------------------------------------ measure
def _prepared(name: str, queries: list[evaluation.Query]) -> tuple[list[dict], Any]:
    """Per question, every row's score from each of the channel's sources, as ``retrieval._with_english`` reads them:
    the dictionary path's cosine and BM25 share, BM25 over the translations (share of the best row's), the cosine
    of the question to the best window of each translation, and the share of the question the dictionary missed."""
    from qa.search.translated import EnglishView

    service = open_service(name)
    index = service.index
    texts = [index.chunks[r].text for r in range(index.size)]
    entries = entries_of(name, texts)
    view = EnglishView(texts, lambda t: entries.get(key(t)), service.embedder.dim)
    out = []
    for q in queries:
        query = retrieval.prepare(index, q.question)
        assert query.translation is not None
        lexical, ceiling = retrieval._lexical(index, query)
        qvec = service.embedder.encode_queries([query.dense_text])[0]
        dense = np.zeros(index.size, np.float32)
        for r, cosine in index.dense_of(qvec, list(range(index.size))).items():
            dense[r] = cosine
        bm, cos = view.scores(q.question, service.embedder.encode_queries([q.question])[0])
        gold = np.array([evaluation.first_hit(q, [index.chunks[r]]) == 1 for r in range(index.size)])
        share = lexical / ceiling if ceiling > 0 else lexical * 0
        out.append(
            {
                "q": q,
                "dense": dense,
                "lexical": share,
                "bm": bm,
                "cos": cos,
                "gold": gold,
                "uncovered": query.translation.uncovered(),
            }
        )
    return out, index


def _fused(p: dict, weights: tuple[float, float, float, float]) -> np.ndarray:
    lexical_weight, a, b, gain = weights
    base = (1 - lexical_weight) * p["dense"] + lexical_weight * p["lexical"]
    return base + (1 + gain * p["uncovered"]) * (a * p["bm"] + b * p["cos"])


def _recall(prepared: list[dict], weights: tuple[float, float, float, float]) -> tuple[float, float]:
    ranks = []
    for p in prepared:
        hits = np.flatnonzero(p["gold"][np.argsort(-_fused(p, weights), kind="stable")])
        ranks.append(int(hits[0]) + 1 if len(hits) else None)
    n = len(ranks)
    return sum(r == 1 for r in ranks) / n, sum(r is not None and r <= 5 for r in ranks) / n


GRID = {
    "lexical weight": (0.25, 0.3, 0.4),
    "BM25 share": (0.0, 0.02, 0.05, 0.1),
    "window cosine": (0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0),
    "gain where the dictionary misses": (0.0, 0.5, 1.0, 2.0, 3.0, 4.0),
}


def measure() -> None:
    """Choose the channel's four weights (``retrieval.CHANNEL_LEXICAL_WEIGHT``, ``ENGLISH_CHANNEL``,
    ``CHANNEL_UNCOVERED_GAIN``) by the sum of both sets' dev R@1 (then R@5), over every row's scores; report both
    halves. ``search`` then checks the figures through the service's code."""
    data = {}
    for name in ("cmrc2018_dev", "drcd_dev"):
        data[name], _ = _prepared(name, evaluation.read_queries(ROOT / "benchmarks" / "xling" / f"{name}.en.jsonl"))
    halves = {(n, h): [p for p in data[n] if p["q"].split == h] for n in data for h in ("dev", "test")}

    def dev_score(weights: tuple[float, float, float, float]) -> tuple[float, float]:
        r = [_recall(halves[(n, "dev")], weights) for n in data]
        return sum(x[0] for x in r), sum(x[1] for x in r)

    chosen = max(itertools.product(*GRID.values()), key=dev_score)
    print("chosen on dev: " + ", ".join(f"{k} {v}" for k, v in zip(GRID, chosen, strict=True)))
    today = (retrieval.CROSS_LINGUAL_WEIGHT, 0.0, 0.0, 0.0)
    print("| set | half | today R@1 | R@5 | + channel R@1 | R@5 | window cosine alone R@1 | R@5 |")
    print("|---|---|---|---|---|---|---|---|")
    for n in data:
        for h in ("dev", "test"):
            alone = [
                {**p, "dense": p["dense"] * 0, "lexical": p["lexical"] * 0, "uncovered": 0.0} for p in halves[(n, h)]
            ]
            cells = [*_recall(halves[(n, h)], today), *_recall(halves[(n, h)], chosen), *_recall(alone, (0, 0, 1, 0))]
            print(f"| {n} | {h} ({len(halves[(n, h)])}) | " + " | ".join(f"{x:.3f}" for x in cells) + " |", flush=True)


def embed(names: list[str]) -> None:
    """The e5 vectors of every window of every translated chunk (benchmarks/results/translated-windows-<set>.npz)."""
    for name in names:
        start = time.perf_counter()
        vectors, _ = window_vectors(name)
        print(json.dumps({"set": name, "windows": len(vectors), "seconds": round(time.perf_counter() - start)}))


def through_search() -> None:
    """R@1 and R@5 per half with and without the channel, as the service would rank (qa.search.translated)."""
    from qa.search.translated import EnglishView

    print("| set | half | today R@1 | R@5 | + channel R@1 | R@5 |")
    print("|---|---|---|---|---|---|")
    for name in ("cmrc2018_dev", "drcd_dev"):
        service = open_service(name)
        index = service.index
        texts = [index.chunks[r].text for r in range(index.size)]
        entries = entries_of(name, texts)
        view = EnglishView(texts, lambda t, e=entries: e.get(key(t)), service.embedder.dim)
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
    from qa.search.translated import EnglishView, encode_windows, vectors_name
    from qa.translate.loader import LazyTranslator
    from qa.translate.passages import Backfill, Translations

    name = "cmrc2018_dev"
    settings = Settings(docs_dir=SETS[name], index_dir=RESULTS / f"idx-{name}")
    service = QAService(settings, load_embedder(settings))  # no query cache: every question is encoded
    service.writer.load()
    index = service.index
    texts = [index.chunks[r].text for r in range(index.size)]
    print(json.dumps({"load_average": os.getloadavg()}))

    # the backfill, as the service runs it, over the first passages of CMRC, into a scratch folder
    rss, cpu, start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, time.process_time(), time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        store = Translations(Path(folder), vectors_name(service.embedder.name))
        backfill = Backfill(
            store,
            LazyTranslator(settings).translate_passages,
            lambda english: encode_windows(service.embedder.encode_passages, english),
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

    entries = entries_of(name, texts)
    builds = []
    for _ in range(5):
        start = time.perf_counter()
        view = EnglishView(texts, lambda t: entries.get(key(t)), service.embedder.dim)
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


def seed(names: list[str]) -> None:
    """Put the cached translations and their vectors into ``<index>/translations/en.jsonl``, as the service's backfill
    would have kept them: `QA_TRANSLATE_PASSAGES=true qa eval --index benchmarks/results/idx-<set>` then scores the
    channel without translating (it waits for the backfill, which finds nothing to do)."""
    from qa.search.translated import vectors_name
    from qa.service.channel import FOLDER
    from qa.translate.passages import Translations

    for name in names:
        service = open_service(name)
        index = service.index
        texts = [index.chunks[r].text for r in range(index.size) if index.live[r]]
        entries = entries_of(name, [index.chunks[r].text for r in range(index.size)])
        store = Translations(RESULTS / f"idx-{name}" / FOLDER, vectors_name(service.embedder.name))
        todo = [(t, *entries[key(t)]) for t in texts if store.entry(t) is None]
        store.add(todo)
        print(json.dumps({"set": name, "passages": len(texts), "added": len(todo)}))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("step", choices=["translate", "embed", "measure", "search", "cost", "seed"])
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
    elif args.step == "seed":
        seed([n for n in args.sets if n != "xling-mixed"])
    else:
        measure()


if __name__ == "__main__":
    main()
