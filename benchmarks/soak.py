"""Soak: readers, writers, a rebuild and hostile clients against one real `qa serve`, for a bounded time.

Reports what the hardening promises: reads that failed, 5xx answers to anyone,
acknowledged writes that are lost (or deletes that did not stick) and whether
the docs folder and the index agree at the end, and read latency under all of
it against the median of the same readers measured alone first. Targets: 0, 0,
0, agree, p99 <= 3x that median. The load generator shares the server's cores
(an attacker elsewhere would not), so its own work is part of what the reads pay.

Hostile clients, all at once: one connection streaming an endless header,
80 idle connections, lone-surrogate queries, an oversized chunked upload,
cross-site writes, deeply nested HTML, a document under a file name and
bad filters; and since issue 25 a flood of 1,100 connections that send a
request head and then one body byte every 5 s, 60 MB searches (a 4-million
item doc_id filter) and bulk requests of 2 million tiny entries. Everything
runs on 127.0.0.1 and stops by itself.

Readers ask distinct questions (reader k the k-th of every n, from the
start, in both phases) with the query cache off, so no read is a cache hit;
the soak's p99 is compared with the p99 of the same readers asking the same
questions alone (target: at most 5x).

    python benchmarks/soak.py [--seconds 60] [--readers 6] [--writers 2]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import httpx

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))
from bench_serving import free_port, pct, questions  # noqa: E402

WARM = 40  # questions asked before measuring, and not measured


class Tally:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.read_ms: list[float] = []
        self.read_failures: list[str] = []
        self.statuses: Counter[int] = Counter()
        self.server_errors: list[str] = []
        self.expected: dict[str, str | None] = {}  # doc_id -> text its last acknowledged write left (None: deleted)
        self.hostile_answers: Counter[str] = Counter()  # what the issue-25 attacks were answered

    def status(self, who: str, r: httpx.Response) -> None:
        with self.lock:
            self.statuses[r.status_code] += 1
            if r.status_code >= 500:
                self.server_errors.append(f"{who}: {r.status_code} {r.text[:160]}")


def reader(url: str, qs: list[str], stop: threading.Event, tally: Tally) -> None:
    with httpx.Client(base_url=url, timeout=60) as http:
        i = 0
        while not stop.is_set():
            q = qs[i % len(qs)]
            i += 1
            started = time.perf_counter()
            try:
                r = http.post("/search", json={"query": q, "top_k": 5})
            except httpx.HTTPError as exc:
                with tally.lock:
                    tally.read_failures.append(repr(exc))
                continue
            ms = (time.perf_counter() - started) * 1000
            tally.status("reader", r)
            with tally.lock:
                if r.status_code == 200 and r.json()["results"]:
                    tally.read_ms.append(ms)
                else:
                    tally.read_failures.append(f"{r.status_code} {r.text[:120]}")


def writer(url: str, k: int, stop: threading.Event, tally: Tally) -> None:
    rng = random.Random(k)
    with httpx.Client(base_url=url, timeout=120) as http:
        n = 0
        while not stop.is_set():
            doc = f"soak/w{k}-{rng.randrange(6)}.txt"
            if rng.random() < 0.3:
                r = http.delete(f"/documents/{doc}")
                if r.status_code in (200, 404):
                    with tally.lock:
                        tally.expected[doc] = None
            else:
                n += 1
                text = f"Soak writer {k} note {n}: the harbour crane {rng.randrange(10**6)} moved to pier {n}."
                r = http.put(f"/documents/{doc}", json={"text": text})
                if r.status_code in (200, 201):
                    with tally.lock:
                        tally.expected[doc] = text
            tally.status("writer", r)
            time.sleep(rng.uniform(0.05, 0.3))


def _endless_header(port: int, stop: threading.Event) -> None:
    """One connection at a time streaming a header forever, at 8 MB/s (a fast link; loopback would be GB/s and
    measure only the two processes fighting over the same cores)."""
    block = b"a" * 65536
    while not stop.is_set():
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Endless: ")
            try:
                while not stop.is_set():
                    s.sendall(block)
                    time.sleep(len(block) / 8e6)
            except OSError:
                pass


def _idle(port: int, stop: threading.Event) -> None:
    socks = []
    while not stop.is_set():
        socks = [s for s in socks if s.fileno() != -1]
        while len(socks) < 80:
            try:
                socks.append(socket.create_connection(("127.0.0.1", port)))
            except OSError:
                break
        time.sleep(1)
    for s in socks:
        s.close()


def _bad_requests(url: str, stop: threading.Event, tally: Tally) -> None:
    bad = [
        ("POST", "/ask", {"content": b'{"question": "\\ud800 x"}', "headers": {"content-type": "application/json"}}),
        ("POST", "/documents", {"files": {"file": ("x.txt", b"x")}, "headers": {"Origin": "http://evil.example"}}),
        ("POST", "/index/rebuild", {"content": b"", "headers": {"content-type": "text/plain"}}),
        ("PUT", "/documents/soak-deep.html", {"json": {"text": "<div>" * 5000 + "deep" + "</div>" * 5000}}),
        ("PUT", f"/documents/{'x' * 250}.txt", {"json": {"text": "long name"}}),
        (
            "POST",
            "/v1/vector_stores/default/search",
            {"json": {"query": "x", "filters": {"type": "and", "filters": [1]}}},
        ),
        ("GET", "/health", {"headers": {"Host": "rebound.example"}}),
    ]
    with httpx.Client(base_url=url, timeout=60) as http:
        while not stop.is_set():
            for method, path, kw in bad:
                with contextlib.suppress(httpx.HTTPError):
                    tally.status("hostile", http.request(method, path, **kw))
            try:
                chunks = (b"a" * 65536 for _ in range(400))
                headers = {"content-type": "multipart/form-data; boundary=b"}
                tally.status("hostile", http.post("/documents", content=chunks, headers=headers))
            except httpx.HTTPError:
                pass  # the server closes an oversized upload while it is still being sent
            time.sleep(0.5)


def _slow_bodies(port: int, stop: threading.Event, tally: Tally, n: int = 1100) -> None:
    """``n`` connections that each send a request head, then one body byte every 5 s (issue 25, row 1)."""
    # A document upload takes 100 KB (a search would be refused at once for its size): the body is awaited.
    head = b"POST /documents HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    head += b"Content-Length: 100000\r\n\r\n"
    socks: list[socket.socket | None] = [None] * n
    while not stop.is_set():
        for k in range(n):
            sock = socks[k]
            try:
                if sock is None:
                    sock = socks[k] = socket.create_connection(("127.0.0.1", port), timeout=1)
                    sock.sendall(head)
                sock.sendall(b" ")
            except OSError:
                _tally_closed(sock, tally)
                socks[k] = None
        stop.wait(5)
    for sock in socks:
        if sock is not None:
            sock.close()


def _tally_closed(sock: socket.socket | None, tally: Tally) -> None:
    """What the server said before it closed a slow connection (a JSON 408), counted as a hostile answer."""
    if sock is None:
        return
    try:
        sock.settimeout(0.05)
        reply = sock.recv(4096)
    except OSError:
        reply = b""
    sock.close()
    if reply.startswith(b"HTTP/1.1 "):
        status = int(reply[9:12])
        with tally.lock:
            tally.statuses[status] += 1
            tally.hostile_answers[f"slow body: {status}"] += 1
            if status >= 500 or b'"detail"' not in reply:
                tally.server_errors.append(f"slow body: {reply[:120]!r}")


def _big_bodies(url: str, stop: threading.Event, tally: Tally) -> None:
    """60 MB searches and 2-million-entry bulk requests, one after the other (issue 25, rows 4 and 5)."""
    ids = ",".join(f'"doc-{i:07d}.txt"' for i in range(4_000_000))
    search = ('{"query": "虚拟现实", "filter": {"doc_id": [' + ids + "]}}").encode()
    bulk = b'{"documents": [' + b",".join([b'{"text":"x"}'] * 2_000_000) + b"]}"
    headers = {"content-type": "application/json"}
    with httpx.Client(base_url=url, timeout=120) as http:
        while not stop.is_set():
            for path, body in (("/search", search), ("/documents/bulk", bulk)):
                try:
                    r = http.post(path, content=body, headers=headers)
                except httpx.HTTPError:
                    continue  # closed while still sending: refused before it was read
                tally.status("big body", r)
                with tally.lock:
                    tally.hostile_answers[f"{path}, {len(body) >> 20} MB: {r.status_code}"] += 1
            stop.wait(2)


def warm(url: str, qs: list[str]) -> None:
    """Questions outside the measured ones, first: the first English question builds the glosses dictionary, the
    first of all loads the tokenizers, and neither belongs in the idle p99."""
    with httpx.Client(base_url=url, timeout=120) as http:
        for q in qs:
            http.post("/search", json={"query": q, "top_k": 5})


def readers_alone(url: str, qs: list[str], n: int, seconds: float) -> list[float]:
    """The same readers with nothing else going on: the latency the soak's reads are compared with."""
    tally, stop = Tally(), threading.Event()
    threads = [threading.Thread(target=reader, args=(url, qs[k::n], stop, tally), daemon=True) for k in range(n)]
    for t in threads:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join(60)
    return tally.read_ms


def verify(url: str, docs: Path, tally: Tally) -> tuple[list[str], bool]:
    listed = {d["doc_id"]: d for d in httpx.get(url + "/documents", timeout=60).json()["documents"]}
    lost = []
    for doc, text in tally.expected.items():
        if text is None and doc in listed:
            lost.append(f"{doc}: deleted, still indexed")
        elif text is not None:
            got = httpx.get(f"{url}/documents/{doc}", timeout=60)
            if got.status_code != 200 or got.json()["text"] != text:
                lost.append(f"{doc}: acknowledged text missing ({got.status_code})")
    on_disk = {
        p.relative_to(docs).as_posix()
        for p in docs.rglob("*")
        if p.is_file() and not any(x.startswith(".") for x in p.relative_to(docs).parts)
    }
    return lost, on_disk == set(listed)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--readers", type=int, default=6)
    ap.add_argument("--writers", type=int, default=2)
    ap.add_argument(
        "--without", default="", help="comma-separated parts to leave out: endless,idle,bad,slow,big,rebuild"
    )
    args = ap.parse_args()
    without = set(args.without.split(",")) - {""}
    qs = questions(limit=100_000)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 8192)), hard))  # the slow-body flood's sockets
    work = Path(tempfile.mkdtemp(prefix="qa-soak-"))
    docs, index = work / "docs", work / "index"
    docs.mkdir()
    shutil.copy(ROOT / "seeds" / "laoshan-vr-ai.txt", docs)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "QA_QUERY_CACHE_SIZE": "0", "QA_WRITE_TIMEOUT": "60"}
    qa = Path(sys.executable).with_name("qa")
    server = subprocess.Popen(
        [str(qa), "serve", "--docs", str(docs), "--index", str(index), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                if httpx.get(url + "/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit("qa serve did not start")
            time.sleep(0.5)
        warm(url, qs[-WARM:])
        qs = qs[:-WARM]
        alone = readers_alone(url, qs, args.readers, min(20.0, args.seconds / 2))
        idle = statistics.median(alone)
        tally, stop = Tally(), threading.Event()
        n = args.readers
        threads = [threading.Thread(target=reader, args=(url, qs[k::n], stop, tally)) for k in range(n)]
        threads += [threading.Thread(target=writer, args=(url, k, stop, tally)) for k in range(args.writers)]
        hostile = {"endless": (_endless_header, (port, stop)), "idle": (_idle, (port, stop))}
        hostile["bad"] = (_bad_requests, (url, stop, tally))
        hostile["slow"] = (_slow_bodies, (port, stop, tally))
        hostile["big"] = (_big_bodies, (url, stop, tally))
        threads += [threading.Thread(target=fn, args=a) for name, (fn, a) in hostile.items() if name not in without]
        for t in threads:
            t.daemon = True
            t.start()
        time.sleep(args.seconds / 3)
        job = httpx.post(url + "/index/rebuild", timeout=60).json() if "rebuild" not in without else {}
        time.sleep(args.seconds * 2 / 3)
        stop.set()
        for t in threads:
            t.join(120)
        while job.get("state") in ("queued", "running"):
            time.sleep(0.5)
            job = httpx.get(f"{url}/index/jobs/{job['id']}", timeout=60).json()
        lost, agree = verify(url, docs, tally)
        alive = server.poll() is None
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        shutil.rmtree(work, ignore_errors=True)
    p50, p99 = pct(tally.read_ms, 50), pct(tally.read_ms, 99)
    print(
        json.dumps(
            {
                "seconds": args.seconds,
                "reads": len(tally.read_ms) + len(tally.read_failures),
                "failed_reads": len(tally.read_failures),
                "server_errors_5xx": len(tally.server_errors),
                "lost_writes": len(lost),
                "acknowledged_documents": sum(t is not None for t in tally.expected.values()),
                "folder_and_index_agree": agree,
                "server_alive": alive,
                "rebuild": job.get("state"),
                "readers_alone_median_ms": round(idle, 1),
                "readers_alone_p99_ms": round(pct(alone, 99), 1),
                "read_p50_ms": round(p50, 1),
                "read_p99_ms": round(p99, 1),
                "p99_over_alone_median": round(p99 / idle, 2),
                "p99_over_alone_p99": round(p99 / pct(alone, 99), 2),
                "distinct_questions": len(qs),
                "reads_alone": len(alone),
                "statuses": dict(sorted(tally.statuses.items())),
                "issue_25_attacks_answered": dict(sorted(tally.hostile_answers.items())),
            },
            indent=1,
        )
    )
    for line in tally.read_failures[:5] + tally.server_errors[:5] + lost[:5]:
        print("  ", line)


if __name__ == "__main__":
    main()
