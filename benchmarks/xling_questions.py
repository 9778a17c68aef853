"""Chinese questions over English passages: the translated question's cosine bonus, chosen on dev, reported on test.

    python benchmarks/xling_corpus.py            # the mixed corpus; `make eval` builds its index
    python benchmarks/xling_questions.py [--bonus 0 0.01 0.02 0.03 0.05]
    python benchmarks/xling_questions.py --latency 40   # a lone question's wall time, with and without

Over the mixed index (CMRC with 24 paragraphs in English), two question sets:
benchmarks/xling/zh_over_en.jsonl (Chinese questions answered by an English
passage: the bonus should help) and CMRC's own Chinese questions (answered by a
Chinese passage: an English passage pushed above it is a loss). Every question
is translated once, in batches, then searched (hybrid, the service's code) at
each ``retrieval.TRANSLATED_COSINE_BONUS``; the bonus with the best mean R@1 of
the two sets on their dev halves is chosen, and both halves are printed. The
first row is without translation (``QA_TRANSLATE_QUESTIONS=false``).

``--latency N`` instead times ``QAService.search`` (hybrid, top 5) for the first
N CMRC questions over the mixed index, one at a time, each translated cold,
with ``translate_questions`` off and on: median and p90 wall ms, median CPU ms.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from qa.config import Settings
from qa.search import evaluation, retrieval
from qa.service.core import QAService

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
SETS = {
    "zh_over_en": ROOT / "benchmarks" / "xling" / "zh_over_en.jsonl",
    "cmrc_zh": ROOT.parent / "shared" / "eval" / "cmrc2018_dev" / "queries_public.jsonl",
}


def recall_at_1(service: QAService, english: dict[str, str] | None, queries: list[evaluation.Query]) -> float:
    index, hits = service.index, 0
    for q in queries:
        prepared = retrieval.prepare(index, q.question, english.get if english is not None else None)
        found = retrieval.search(index, service.embedder, prepared, 10, "hybrid")
        hits += evaluation.first_hit(q, [h.chunk for h in found]) == 1
    return hits / len(queries)


def latency(n: int) -> None:
    questions = [q.question for q in evaluation.read_queries(SETS["cmrc_zh"])[:n]]
    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    for on in (False, True):
        folders = {"docs_dir": RESULTS / "xling-mixed" / "docs", "index_dir": RESULTS / "idx-xling-mixed"}
        service = QAService.open(Settings(**folders, translate_questions=on))  # type: ignore[arg-type]
        service.writer.load()
        service.search("北京是哪个国家的首都？", 5, "hybrid")  # the model loaded, the first call warm
        wall, cpu = [], []
        for question in questions:
            t, c = time.perf_counter(), time.process_time()
            service.search(question, 5, "hybrid")
            wall.append((time.perf_counter() - t) * 1000)
            cpu.append((time.process_time() - c) * 1000)
        wall.sort()
        print(
            f"translate_questions={on}: median {statistics.median(wall):.0f} ms, "
            f"p90 {wall[int(0.9 * (len(wall) - 1))]:.0f} ms, CPU {statistics.median(cpu):.0f} ms"
        )
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bonus", type=float, nargs="*", default=[0.0, 0.01, 0.02, 0.03, 0.05])
    ap.add_argument("--latency", type=int, metavar="N", help="time N lone questions instead")
    args = ap.parse_args()
    if args.latency:
        latency(args.latency)
        return
    settings = Settings(docs_dir=RESULTS / "xling-mixed" / "docs", index_dir=RESULTS / "idx-xling-mixed")
    service = QAService.open(settings)
    service.writer.load()
    queries = {name: evaluation.read_queries(path) for name, path in SETS.items()}
    translator = service.translator.get()
    assert translator is not None, "qa model install-translation first"
    texts = sorted({q.question for qs in queries.values() for q in qs})
    english = dict(zip(texts, translator.translate(texts), strict=True))
    halves = {(n, h): [q for q in qs if q.split == h] for n, qs in queries.items() for h in ("dev", "test")}
    print("| bonus | zh_over_en dev | test | CMRC zh dev | test | mean of the dev R@1 |")
    print("|---|---|---|---|---|---|")
    best: tuple[float, float] | None = None
    for bonus in [None, *args.bonus]:
        retrieval.TRANSLATED_COSINE_BONUS = bonus or 0.0
        r = {key: recall_at_1(service, english if bonus is not None else None, qs) for key, qs in halves.items()}
        mean = (r[("zh_over_en", "dev")] + r[("cmrc_zh", "dev")]) / 2
        if bonus is not None:
            best = max(best or (mean, bonus), (mean, bonus))
        cells = [r[(n, h)] for n in SETS for h in ("dev", "test")]
        name = "no translation" if bonus is None else bonus
        print(f"| {name} | " + " | ".join(f"{x:.4f}" for x in cells) + f" | {mean:.4f} |", flush=True)
    if best is not None:
        print(f"chosen on dev: {best[1]}")


if __name__ == "__main__":
    main()
