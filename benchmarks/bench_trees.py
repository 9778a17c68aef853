"""Machine or code? The same search load against the servers of several qa trees, interleaved, with the server's
CPU per search beside QPS.

On a shared machine QPS moves by a third between two runs of one tree; the CPU
time a server spends per search moves much less, so it tells a slower commit
from a busier machine. Each tree's own ``qa serve`` (its venv's ``qa`` with the
tree on PYTHONPATH) serves the seed article, query cache off; the 200 questions
of bench_serving.py (seed, then CMRC) are sent by asyncio httpx clients, the
generator bench_serving.py uses without wrk; CPU is the server process's user +
system time (all its threads) over each level. Rounds alternate the order.

    python benchmarks/bench_trees.py --tree main=.venv/bin/qa:. --tree old=../base/.venv/bin/qa:../base \\
        [--levels 1,32] [--seconds 10] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
TICK = os.sysconf("SC_CLK_TCK")


def questions() -> list[str]:
    files = [ROOT / "tests" / "fixtures" / "seed_questions.jsonl"]
    files.append(ROOT.parent / "shared" / "eval" / "cmrc2018_dev" / "queries_public.jsonl")
    out = []
    for f in files:
        if f.exists():
            out += [json.loads(line)["question"] for line in f.read_text(encoding="utf-8").splitlines() if line]
    return out[:200]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


async def load(url: str, qs: list[str], clients: int, seconds: float) -> tuple[int, float]:
    """Searches answered and the time they took, ``clients`` at a time."""
    done, stop = 0, time.perf_counter() + seconds

    async def client(k: int, http: httpx.AsyncClient) -> None:
        nonlocal done
        i = k
        while time.perf_counter() < stop:
            (await http.post("/search", json={"query": qs[i % len(qs)], "top_k": 5})).raise_for_status()
            i, done = i + clients, done + 1

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as http:
        started = time.perf_counter()
        await asyncio.gather(*(client(k, http) for k in range(clients)))
        return done, time.perf_counter() - started


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def measure(qa: str, tree: str, qs: list[str], levels: list[int], seconds: float) -> list[str]:
    work = Path(tempfile.mkdtemp(prefix="qa-trees-"))
    docs = work / "docs"
    docs.mkdir()
    shutil.copy(Path(tree) / "seeds" / "laoshan-vr-ai.txt", docs)
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(Path(tree).resolve()), "QA_QUERY_CACHE_SIZE": "0", "HF_HUB_OFFLINE": "1"}
    cmd = [qa, "serve", "--docs", str(docs), "--index", str(work / "index"), "--port", str(port)]
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        while True:
            try:
                if httpx.get(url + "/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                if server.poll() is not None:
                    raise SystemExit(f"{tree}: qa serve exited") from None
                time.sleep(0.5)
        asyncio.run(load(url, qs, 4, 3))  # warm up
        out = []
        for level in levels:
            before = cpu_seconds(server.pid)
            done, took = asyncio.run(load(url, qs, level, seconds))
            cpu_ms = 1000 * (cpu_seconds(server.pid) - before) / done
            out.append(f"{level} clients {done / took:.1f} QPS, {cpu_ms:.1f} ms CPU/search")
        return out
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(30)
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tree", action="append", required=True, help="NAME=QA_EXECUTABLE:TREE, once per tree")
    ap.add_argument("--levels", default="1,32")
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    trees = {t.split("=", 1)[0]: tuple(t.split("=", 1)[1].split(":", 1)) for t in args.tree}
    qs, levels = questions(), [int(x) for x in args.levels.split(",")]
    for r in range(args.rounds):
        for name in list(trees) if r % 2 == 0 else list(trees)[::-1]:
            load_avg = os.getloadavg()[0]
            results = measure(*trees[name], qs, levels, args.seconds)
            print(f"round {r + 1} | {name} | load {load_avg:.1f} | " + " | ".join(results), flush=True)


if __name__ == "__main__":
    main()
