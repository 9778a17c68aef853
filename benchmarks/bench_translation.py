"""Translation throughput and memory: CMRC paragraphs to English, and lone sentences (an answer's), per thread layout.

    python benchmarks/bench_translation.py [--paragraphs 60] [--sentences 40]

Each layout runs in a fresh process (so its memory is its own): it loads the
model (``qa model install-translation`` first), translates the first
``--paragraphs`` CMRC dev documents (sorted by name; one paragraph each, about
400 characters) in one call — sentences batched by length — and reports
paragraphs/s, characters/s, the CPU seconds a paragraph costs (all threads;
the figure the load does not move: two free cores translate at most
2 / that paragraphs/s), the RSS once loaded and the peak. Then the lone
case: the first sentence of ``--sentences`` other documents, one call each,
median and p90 of the wall time, and the median CPU time (user + system, all
threads; on a machine shared with others the wall time is what is left of
the cores, while the CPU time is the work itself). One warm-up call first.
Greedy decoding, int8, output restricted to English pieces, always.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CMRC = ROOT.parent / "shared" / "eval" / "cmrc2018_dev" / "docs"
LAYOUTS = {"inter1-intra2": (1, 2), "inter2-intra1": (2, 1), "inter1-intra1": (1, 1)}


def _status(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def paragraphs(n: int, skip: int = 0) -> list[str]:
    files = sorted(CMRC.glob("*.txt"))[skip : skip + n]
    return [f.read_text(encoding="utf-8").strip() for f in files]


def run(layout: str, n: int, m: int, max_batch: int) -> dict[str, object]:
    from qa.config import Settings
    from qa.translate import provision
    from qa.translate.model import Threads, Translator

    inter, intra = LAYOUTS[layout]
    before = _status("VmRSS")
    translator = Translator(provision.materialize(Settings().model_cache), Threads(inter, intra), max_batch=max_batch)
    loaded = _status("VmRSS")
    texts = paragraphs(n)
    translator.translate(texts[:2])  # warm-up
    start, cpu_start = time.perf_counter(), time.process_time()
    translator.translate(texts)
    took, work = time.perf_counter() - start, time.process_time() - cpu_start
    sentences = [re.split(r"(?<=[。！？])", p)[0] for p in paragraphs(m, skip=n)]
    translator.translate([sentences[0]])
    lone, cpu = [], []
    for s in sentences:
        t, c = time.perf_counter(), time.process_time()
        translator.translate([s])
        lone.append((time.perf_counter() - t) * 1000)
        cpu.append((time.process_time() - c) * 1000)
    lone.sort()
    return {
        "layout": layout,
        "max_batch": max_batch,
        "paragraphs": n,
        "paragraphs_per_s": round(n / took, 2),
        "chars_per_s": round(sum(map(len, texts)) / took),
        "cpu_s_per_paragraph": round(work / n, 3),
        "lone_sentence_ms_median": round(statistics.median(lone)),
        "lone_sentence_ms_p90": round(lone[int(0.9 * (len(lone) - 1))]),
        "lone_sentence_cpu_ms_median": round(statistics.median(cpu)),
        "lone_sentence_chars_median": statistics.median(map(len, sentences)),
        "rss_before_mb": round(before),
        "rss_loaded_mb": round(loaded),
        "peak_mb": round(_status("VmHWM")),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--paragraphs", type=int, default=60)
    ap.add_argument("--sentences", type=int, default=40)
    ap.add_argument("--max-batch", type=int, default=32)
    ap.add_argument("--layout", choices=sorted(LAYOUTS))
    args = ap.parse_args()
    if args.layout:
        print(json.dumps(run(args.layout, args.paragraphs, args.sentences, args.max_batch)))
        return
    head = "| layout | paragraphs/s | chars/s | CPU s per paragraph | lone sentence ms (median / p90) | its CPU ms |"
    print(head + " RSS loaded / peak MB |")
    print("|---|---|---|---|---|---|---|")
    for layout in LAYOUTS:
        cmd = [sys.executable, __file__, "--layout", layout, "--paragraphs", str(args.paragraphs)]
        cmd += ["--sentences", str(args.sentences), "--max-batch", str(args.max_batch)]
        r = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
        print(
            f"| {layout} | {r['paragraphs_per_s']} | {r['chars_per_s']} | {r['cpu_s_per_paragraph']} | "
            f"{r['lone_sentence_ms_median']} / "
            f"{r['lone_sentence_ms_p90']} | {r['lone_sentence_cpu_ms_median']} | {r['rss_loaded_mb']} / {r['peak_mb']} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
