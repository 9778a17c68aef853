"""What the reader costs a lone /ask: QAService.ask with and without it, alternating, in one run.

    python benchmarks/bench_ask.py [--queries 200]

One service over the CMRC dev corpus (the index in benchmarks/results, built
if missing), the query and sentence caches off so every ask pays in full; each
question (Chinese, test half, then the English ones) is asked once with
``QA_READER`` on and once off, alternating, so both see the same machine.
Reported: median and p90 of the whole ask, per language, and the reader's
passage length in tokens.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from qa.config import Settings
from qa.search.evaluation import read_queries
from qa.service.core import QAService

ROOT = Path(__file__).resolve().parents[1]
CMRC = ROOT.parent / "shared" / "eval" / "cmrc2018_dev"
INDEX = ROOT / "benchmarks" / "results" / "idx-cmrc2018_dev"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--queries", type=int, default=200)
    args = ap.parse_args()
    on = Settings(docs_dir=CMRC / "docs", index_dir=INDEX, query_cache_size=0, sentence_cache_size=0)
    off = on.model_copy(update={"reader": False})
    service = QAService.open(on)
    service.writer.ensure()
    sets = {
        "zh": [q for q in read_queries(CMRC / "queries_public.jsonl") if q.split == "test"][: args.queries],
        "en": read_queries(ROOT / "benchmarks" / "xling" / "cmrc2018_dev.en.jsonl")[: args.queries],
    }
    service.ask(sets["zh"][0].question, 5, min_relevance=0)  # loads the reader
    for lang, queries in sets.items():
        took: dict[bool, list[float]] = {True: [], False: []}
        for q in queries:
            for reading in (True, False):
                service.settings = on if reading else off
                t0 = time.perf_counter()
                service.ask(q.question, 5, min_relevance=0)
                took[reading].append((time.perf_counter() - t0) * 1000)
        for reading, ms in took.items():
            ms.sort()
            print(
                f"{lang} ({len(ms)}) reader {'on ' if reading else 'off'}: median {statistics.median(ms):.1f} ms, "
                f"p90 {ms[int(0.9 * (len(ms) - 1))]:.1f} ms",
                flush=True,
            )


if __name__ == "__main__":
    main()
