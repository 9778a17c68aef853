"""A lone question, torch against ONNX Runtime, in one run: in-process latency on CMRC questions, and memory.

    python benchmarks/bench_lone.py [--queries 300] [--rounds 2]

Latency: one service over the CMRC dev corpus (index in benchmarks/results,
built if missing), the query cache off; each question is searched once on the
torch path (the lone encoder switched off: one torch worker, as before) and
once on the ONNX Runtime path, alternating, so both see the same machine.
Reported: the encode alone and the whole ``QAService.search`` (encode, BM25,
FAISS, fusion), median and p99. Memory: a fresh process per runtime loads the
model, encodes 50 lone questions and 50 in packed batches, and reports its RSS and peak.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
CMRC = ROOT.parent / "shared" / "eval" / "cmrc2018_dev"
INDEX = ROOT / "benchmarks" / "results" / "idx-cmrc2018_dev"


def questions(n: int) -> list[str]:
    lines = (CMRC / "queries_public.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["question"] for line in lines if line.strip()][:n]


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(p / 100 * (len(xs) - 1)))]


def _status(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def memory(runtime: str) -> dict[str, float]:
    from qa.config import Settings
    from qa.encoder.embedder import load_embedder

    emb = load_embedder(Settings(query_runtime=runtime))  # type: ignore[arg-type]
    loaded = _status("VmRSS")
    qs = questions(100)
    for q in qs[:50]:
        emb.encode_alone(q)
    for k in range(50, 100, 10):  # and packed batches, as under load: both paths warm, as in a server
        emb.encode_queries(qs[k : k + 10])
    return {"rss_loaded_mb": loaded, "rss_mb": _status("VmRSS"), "peak_mb": _status("VmHWM")}


def latency(n: int, rounds: int) -> dict[str, dict[str, list[float]]]:
    from qa.config import Settings
    from qa.service.core import QAService

    service = QAService.open(Settings(docs_dir=CMRC / "docs", index_dir=INDEX, query_cache_size=0))
    service.writer.ensure()
    inner = service.embedder.inner  # type: ignore[attr-defined]
    onnx = inner.lone
    assert onnx is not None, "no ONNX Runtime encoder: is onnxruntime installed?"
    paths = {"torch": None, "onnx": onnx}
    qs = questions(n)
    out: dict[str, dict[str, list[float]]] = {p: {"encode": [], "search": []} for p in paths}
    for encoder in paths.values():  # warm both
        inner.lone = encoder
        for q in qs[:10]:
            service.search(q, 5)
    for _ in range(rounds):
        for q in qs:
            for name, encoder in paths.items():
                inner.lone = encoder
                t = time.perf_counter()
                service.embedder.encode_queries([q])
                out[name]["encode"].append((time.perf_counter() - t) * 1000)
                t = time.perf_counter()
                service.search(q, 5)
                out[name]["search"].append((time.perf_counter() - t) * 1000)
    inner.lone = onnx
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--child", choices=["torch", "onnx"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(memory(args.child)))
        return
    mem = {}
    for runtime in ("torch", "onnx"):
        out = subprocess.run([sys.executable, __file__, "--child", runtime], capture_output=True, text=True, check=True)
        mem[runtime] = json.loads(out.stdout.strip().splitlines()[-1])
    res = latency(args.queries, args.rounds)
    print(f"# {args.queries} CMRC questions x {args.rounds} rounds, alternating paths; {os.cpu_count()} cores\n")
    print("| lone query on | encode median ms | p99 | search median ms | p99 |")
    print("|---|---|---|---|---|")
    for name, r in res.items():
        e, s = r["encode"], r["search"]
        print(
            f"| {name} | {statistics.median(e):.1f} | {pct(e, 99):.1f} | {statistics.median(s):.1f} | {pct(s, 99):.1f} |"
        )
    ratio = statistics.median(res["torch"]["search"]) / statistics.median(res["onnx"]["search"])
    print(f"\nsearch median, torch / onnx: {ratio:.2f}x\n")
    print("| runtime | RSS MB after load | after 50 lone + 50 batched queries | peak |")
    print("|---|---|---|---|")
    for name, m in mem.items():
        print(f"| {name} | {m['rss_loaded_mb']:.0f} | {m['rss_mb']:.0f} | {m['peak_mb']:.0f} |")
    print(
        f"\nmemory cost of the ONNX path (RSS after queries): {mem['onnx']['rss_mb'] - mem['torch']['rss_mb']:+.0f} MB"
    )


if __name__ == "__main__":
    main()
