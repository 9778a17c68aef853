"""HTTP overhead and throughput under load, against a real `qa serve` on 127.0.0.1, in one run.

1. The floor: in-process `QAService.search` (query encode + index search), one query at a time.
2. The same queries as `POST /search` from one HTTP client: median and p99, and the ratio to the floor.
3. Load: 1, 8 and 32 concurrent clients for a fixed time each: QPS, p50 and p99 per level. The
   load generator is wrk when installed (`apt-get install wrk`: C, so it leaves the 2 cores to the
   server), else an asyncio httpx loop, which competes with the server for CPU.

The server runs with the query cache off (QA_QUERY_CACHE_SIZE=0) so every request pays for its
encode; micro-batching stays on unless --no-batching. Questions are the seed fixture's (and CMRC's
when ../shared/eval is present), cycled.

    python benchmarks/bench_serving.py [--seconds 15] [--levels 1,8,32] [--repeat 1] [--no-batching]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
EVAL = ROOT.parent / "shared" / "eval" / "cmrc2018_dev" / "queries_public.jsonl"


def questions(limit: int = 200) -> list[str]:
    files = [ROOT / "tests" / "fixtures" / "seed_questions.jsonl"] + ([EVAL] if EVAL.exists() else [])
    out: list[str] = []
    for f in files:
        out += [json.loads(line)["question"] for line in f.read_text(encoding="utf-8").splitlines() if line.strip()]
    return out[:limit]


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(p / 100 * (len(xs) - 1)))]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def floor(docs: Path, index: Path, qs: list[str]) -> list[float]:
    from qa.config import Settings
    from qa.service.core import QAService

    service = QAService.open(Settings(docs_dir=docs, index_dir=index, query_cache_size=0))
    service.writer.ensure()
    for q in qs[:10]:
        service.search(q, 5)  # warm up
    times = []
    for q in qs:
        t = time.perf_counter()
        service.search(q, 5)
        times.append((time.perf_counter() - t) * 1000)
    return times


def one_client(url: str, qs: list[str]) -> list[float]:
    times = []
    with httpx.Client(base_url=url, timeout=60) as client:
        for q in qs[:10]:
            client.post("/search", json={"query": q, "top_k": 5})
        for q in qs:
            t = time.perf_counter()
            r = client.post("/search", json={"query": q, "top_k": 5})
            times.append((time.perf_counter() - t) * 1000)
            assert r.status_code == 200, r.text
    return times


async def load(url: str, qs: list[str], clients: int, seconds: float) -> tuple[float, list[float], int]:
    latencies: list[float] = []
    errors = 0
    stop = time.perf_counter() + seconds

    async def worker(offset: int, http: httpx.AsyncClient) -> None:
        nonlocal errors
        i = offset
        while time.perf_counter() < stop:
            q = qs[i % len(qs)]
            i += clients
            t = time.perf_counter()
            r = await http.post("/search", json={"query": q, "top_k": 5})
            latencies.append((time.perf_counter() - t) * 1000)
            errors += r.status_code != 200

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as http:
        started = time.perf_counter()
        await asyncio.gather(*(worker(k, http) for k in range(clients)))
        elapsed = time.perf_counter() - started
    return len(latencies) / elapsed, latencies, errors


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(value: str) -> float:
    for unit in ("us", "ms", "s"):
        if value.endswith(unit):
            return float(value[: -len(unit)]) * _UNITS[unit]
    raise ValueError(value)


def wrk_load(url: str, qs: list[str], clients: int, seconds: float, work: Path) -> tuple[float, float, float, int]:
    """QPS, p50, p99 and non-2xx count from wrk, cycling through the questions."""
    bodies = ",\n".join("[==[" + json.dumps({"query": q, "top_k": 5}) + "]==]" for q in qs)
    script = work / "search.lua"
    script.write_text(
        "local bodies = {" + bodies + "}\nlocal i = 0\n"
        'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
        'request = function()\n  i = i % #bodies + 1\n  return wrk.format(nil, "/search", nil, bodies[i])\nend\n'
    )
    out = subprocess.run(
        ["wrk", f"-t{min(clients, 2)}", f"-c{clients}", f"-d{int(seconds)}s", "--latency", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    qps = float(out.split("Requests/sec:")[1].split()[0])
    pcts = {
        line.split()[0]: _ms(line.split()[1])
        for line in out.splitlines()
        if line.strip().endswith(("ms", "us", "s")) and "%" in line.split()[0]
    }
    errors = int(out.split("Non-2xx or 3xx responses:")[1].split()[0]) if "Non-2xx" in out else 0
    return qps, pcts["50%"], pcts["99%"], errors


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=15)
    ap.add_argument("--levels", default="1,8,32")
    ap.add_argument(
        "--repeat", type=int, default=1, help="rounds of all levels, each with its own ratios (this machine is noisy)"
    )
    ap.add_argument("--no-batching", action="store_true", help="serve with QA_QUERY_BATCH_MAX=1")
    ap.add_argument(
        "--python-load", action="store_true", help="use the asyncio httpx load generator even if wrk is installed"
    )
    args = ap.parse_args()
    qs = questions()
    work = Path(tempfile.mkdtemp(prefix="qa-bench-"))
    docs, index = work / "docs", work / "index"
    docs.mkdir()
    shutil.copy(ROOT / "seeds" / "laoshan-vr-ai.txt", docs)

    floor_ms = floor(docs, index, qs)
    port = free_port()
    env = {**os.environ, "QA_QUERY_CACHE_SIZE": "0"} | ({"QA_QUERY_BATCH_MAX": "1"} if args.no_batching else {})
    qa = Path(sys.executable).with_name("qa")
    server = subprocess.Popen(
        [str(qa), "serve", "--docs", str(docs), "--index", str(index), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 240
        while True:
            try:
                if httpx.get(url + "/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit("qa serve did not start")
            time.sleep(0.5)
        http_ms = one_client(url, qs)
        print(
            f"# {len(qs)} questions over the seed article; {os.cpu_count()} cores; batching {'off' if args.no_batching else 'on'}"
        )
        print("| path | median ms | p99 ms |")
        print("|---|---|---|")
        print(f"| in-process floor (encode + search) | {statistics.median(floor_ms):.1f} | {pct(floor_ms, 99):.1f} |")
        print(f"| POST /search, one client | {statistics.median(http_ms):.1f} | {pct(http_ms, 99):.1f} |")
        print(f"HTTP / floor, medians: {statistics.median(http_ms) / statistics.median(floor_ms):.2f}x\n")
        use_wrk = shutil.which("wrk") is not None and not args.python_load
        print(
            f"load generator: {'wrk' if use_wrk else 'asyncio httpx'}, {args.seconds:.0f} s per level, {args.repeat} round(s)\n"
        )
        levels = [int(x) for x in args.levels.split(",")]
        rounds: list[dict[int, tuple[float, float, float, int]]] = []
        for _ in range(args.repeat):
            row: dict[int, tuple[float, float, float, int]] = {}
            for level in levels:
                if use_wrk:
                    row[level] = wrk_load(url, qs, level, args.seconds, work)
                else:
                    qps, lat, errors = asyncio.run(load(url, qs, level, args.seconds))
                    row[level] = (qps, statistics.median(lat), pct(lat, 99), errors)
            rounds.append(row)
        for r, row in enumerate(rounds):
            if args.repeat > 1:
                print(f"round {r + 1}:")
            print("| clients | QPS | p50 ms | p99 ms | errors |")
            print("|---|---|---|---|---|")
            base = row[levels[0]][0]
            for level in levels:
                qps, p50, p99, errors = row[level]
                print(f"| {level} | {qps:.1f} ({qps / base:.2f}x) | {p50:.1f} | {p99:.1f} | {errors} |")
            low, high = row[levels[0]], row[levels[-1]]
            print(
                f"{levels[-1]} clients: QPS {high[0] / low[0]:.2f}x {levels[0]}, p99 {high[2] / low[1]:.1f}x the {levels[0]}-client median\n"
            )
        if args.repeat > 1:
            ratios = sorted(r[levels[-1]][2] / r[levels[0]][1] for r in rounds)
            print(
                f"p99 / single-client median over {args.repeat} rounds: median {statistics.median(ratios):.1f}x, range {ratios[0]:.1f}-{ratios[-1]:.1f}x"
            )
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
