"""What `qa ask` costs a person at a terminal: the whole command, process start to exit, locally (loading the model
and opening the index each time) and through a running `qa serve` (`--url`, only the HTTP call), in one run.

Each run asks the seed question (distinct per run, so the server's query cache never answers); the server uses
its own copy of seeds/ in a temporary folder and is stopped at the end.

    python benchmarks/bench_cli.py [--runs 5] [--local-runs 2]
"""

from __future__ import annotations

import argparse
import os
import resource
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

ROOT = Path(__file__).resolve().parents[1]
QA = str(Path(sys.executable).with_name("qa"))
QUESTION = "青岛市虚拟现实产业园规划面积有多大?"


def timed(*args: str) -> tuple[float, float]:
    """Wall seconds of the whole command, and the CPU seconds the command's process itself used."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run([QA, *args], capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    took = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0 or "1969亩" not in proc.stdout:
        raise SystemExit(f"qa {' '.join(args)} failed: {proc.stderr[-500:]}")
    return took, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def report(what: str, runs: list[tuple[float, float]]) -> None:
    wall, cpu = [w for w, _ in runs], [c for _, c in runs]
    print(
        f"{what}: median {statistics.median(wall):.2f} s wall, {statistics.median(cpu):.2f} s CPU of its own, "
        f"over {len(runs)} runs (wall each: {', '.join(f'{t:.2f}' for t in wall)})"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--local-runs", type=int, default=2)
    opts = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="qa-bench-cli-"))
    shutil.copytree(ROOT / "seeds", tmp / "docs")
    where = ["--docs", str(tmp / "docs"), "--index", str(tmp / "index")]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([QA, "serve", *where, "--port", str(port)], stderr=subprocess.DEVNULL)
    try:
        while httpx.get(url + "/health/ready", timeout=5).status_code != 200 if _up(url) else True:
            time.sleep(0.5)
        remote = [timed("ask", f"{QUESTION}{'?' * i}", "--url", url) for i in range(opts.runs)]
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)
    local = [timed("ask", f"{QUESTION}{'?' * i}", *where) for i in range(opts.local_runs)]
    report("qa ask --url (a running qa serve)", remote)
    report("qa ask (local: the command loads the model and the index)", local)
    print(f"load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    shutil.rmtree(tmp, ignore_errors=True)


def _up(url: str) -> bool:
    try:
        httpx.get(url + "/health/live", timeout=2)
        return True
    except httpx.TransportError:
        return False


if __name__ == "__main__":
    main()
