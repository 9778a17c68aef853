"""Two `qa serve` replicas behind nginx over one Milvus, each SIGKILLed and restarted under load: what the
balancer's clients saw, and whether every write they were told was stored is stored.

A `milvus-lite server` in its own process holds the collection (the first replica builds it from the seed
article); nginx (Debian's, configured in tests/balancer.py: retries on the other replica for errors, timeouts,
502 and 503, for every method but the POSTs that write) balances both. Searchers (GET and POST /search, hybrid)
and writers (PUT and DELETE of their own documents, a POST of a new one now and then) run throughout. After
--warm seconds replica a is killed and started again at once; once it is ready and --between seconds more have
passed, replica b is; the load runs --after seconds longer. Then what Milvus holds is compared with every write's
answer: a write is lost when its document is not as the last acknowledged write left it, nor as a later
unacknowledged one (cut off by a kill: it may have landed) would have.

    python benchmarks/bench_balancer.py [--warm 20] [--between 15] [--after 15] [--searchers 3] [--writers 2]
        [--lexical process|milvus]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from balancer import NGINX, Attempt, Load, Replica, lost, nginx, stored_documents, tries
from servers import milvus_lite_server


def say(line: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {line}", file=sys.stderr, flush=True)


def settle(urls: list[str], want: dict[str, str], timeout: float = 30) -> bool:
    """Whether each replica lists what Milvus holds within ``timeout`` (replicas follow writes once a second)."""
    import httpx

    deadline = time.monotonic() + timeout
    for url in urls:
        while True:
            docs = httpx.get(f"{url}/documents", params={"limit": 1000}, timeout=30).json()["documents"]
            if {d["doc_id"]: d["sha256"] for d in docs} == want:
                break
            if time.monotonic() > deadline:
                return False
            time.sleep(0.5)
    return True


def run(root: Path, warm: float, between: float, after: float, searchers: int, writers: int, lexical: str) -> dict:
    """The whole scenario in ``root``; the figures the table shows."""
    events: dict[str, Any] = {}
    marks: list[tuple[str, float]] = []  # each kill and each return to ready, when (time.time())
    with milvus_lite_server(root / "milvus") as uri:
        replicas = [Replica(root / name, uri, lexical) for name in ("a", "b")]
        try:
            for r in replicas:  # one after the other: the first builds the collection
                r.start()
                events[f"first start {r.url[-5:]}"] = round(r.ready(), 1)
                say(f"replica {r.url} ready")
            with nginx(root / "nginx", [r.url.removeprefix("http://") for r in replicas]) as url:
                load = Load(url, searchers, writers, milvus=uri)
                load.start()
                try:
                    time.sleep(warm)
                    restarts = []
                    for i, r in enumerate(replicas):
                        say(f"SIGKILL {r.url}; {len(load.searches)} searches, {len(load.writes)} writes so far")
                        marks.append((f"kill {r.url.removeprefix('http://')}", time.time()))
                        r.kill()
                        r.start()  # at once, on the same port: nginx's 503s and refusals go to the other replica
                        restarts.append(r.ready())
                        marks.append((f"ready {r.url.removeprefix('http://')}", time.time()))
                        say(f"{r.url} ready again after {restarts[-1]:.1f} s")
                        time.sleep(between if i == 0 else after)
                finally:
                    load.stop()
            say(f"load stopped: {len(load.searches)} searches, {len(load.writes)} writes")
            held = stored_documents(uri)
            followed = settle([r.url for r in replicas], held)
        finally:
            for r in replicas:
                r.stop()
    statuses = [s for s, _ in load.searches]
    writes = load.writes
    logged = tries(root / "nginx" / "access.log")
    return {
        "searches": len(statuses),
        "failed searches": sum(s != 200 for s in statuses),
        "search statuses": dict(Counter(statuses)),
        "search p50 ms": float(np.percentile([ms for _, ms in load.searches], 50)),
        "search p99 ms": float(np.percentile([ms for _, ms in load.searches], 99)),
        "writes": len(writes),
        "acknowledged writes": sum(200 <= w.status < 300 for w in writes),
        "writes refused 409": sum(w.status == 409 for w in writes),
        "writes 5xx": {m: sum(w.status >= 500 for w in writes if w.method == m) for m in ("PUT", "DELETE", "POST")},
        "writes without answer": sum(w.status == 0 for w in writes),
        "unanswered": load.unanswered,
        "write p50 ms": float(np.percentile([w.ms for w in writes], 50)),
        "write p99 ms": float(np.percentile([w.ms for w in writes], 99)),
        "lost writes": lost(writes, held),
        "replicas list what is stored": followed,
        "restart to ready s": [round(s, 1) for s in restarts],
        "nginx": {k: v for k, v in logged.items() if k != "writes"},
        "replicas": [r.url.removeprefix("http://") for r in replicas],
        "writes answered 5xx": traced(writes, logged["writes"], marks),
        "events": events,
        "load": os.getloadavg()[0],
    }


def traced(writes: list[Attempt], lines: dict[str, str], marks: list[tuple[str, float]]) -> list[dict[str, Any]]:
    """Each write answered 5xx: what it was, what the client got (status, detail, Retry-After), what nginx's line
    for it says (the replicas it tried, in order, and what each answered: 502 when the replica cut it off or refused
    it), which kills fell within its lifetime (give or take a second: a kill is marked as it is sent), and whether
    Milvus held, right after the answer, what the document held before it or what it would leave, or another text."""
    out = []
    for n, w in enumerate(writes):
        if w.status < 500:
            continue
        earlier = [a for a in writes[:n] if a.doc_id == w.doc_id]
        acked = [
            i for i, a in enumerate(earlier) if 200 <= a.status < 300 or (a.method == "DELETE" and a.status == 404)
        ]
        before = {earlier[acked[-1]].sha} if acked else {None}
        before |= {a.sha for a in earlier[acked[-1] + 1 if acked else 0 :]}  # unacknowledged: may have landed
        line = lines.get(w.key, "")
        fields = line.split("|") if line else ["-"] * 9
        ended = w.at + w.ms / 1000
        out.append(
            {
                "method": w.method,
                "doc_id": w.doc_id,
                "key": w.key,
                "status": w.status,
                "detail": w.detail,
                "retry-after": w.retry_after,
                "ms": round(w.ms),
                "upstreams": fields[3].split(", "),  # "qa": nginx found no replica left to try
                "upstream statuses": fields[4].split(", "),
                "upstream seconds": fields[7].split(", "),
                "killed meanwhile": [name for name, t in marks if name.startswith("kill") and w.at - 1 < t < ended + 1],
                "sent, s after": {name: round(w.at - t, 2) for name, t in marks},
                "stored after": (
                    None
                    if not w.checked
                    else "after"
                    if w.stored == w.sha
                    else "before"
                    if w.stored in before
                    else "other"
                ),
                "nginx": line,
            }
        )
    return out


def table(r: dict) -> str:
    five = r["writes 5xx"]
    rows = [
        ("requests through nginx", f"{r['searches'] + r['writes']:,}"),
        ("searches (GET and POST /search, hybrid)", f"{r['searches']:,}"),
        ("failed searches (not 200)", str(r["failed searches"])),
        ("search p50 / p99 (ms)", f"{r['search p50 ms']:.0f} / {r['search p99 ms']:.0f}"),
        ("writes (PUT, DELETE, POST)", f"{r['writes']:,}"),
        ("acknowledged writes (2xx)", f"{r['acknowledged writes']:,}"),
        ("writes refused 409 (lease of a killed writer)", str(r["writes refused 409"])),
        ("5xx at the balancer: PUT / DELETE / POST", f"{five['PUT']} / {five['DELETE']} / {five['POST']}"),
        ("write p50 / p99 (ms)", f"{r['write p50 ms']:.0f} / {r['write p99 ms']:.0f}"),
        ("lost writes", str(len(r["lost writes"]))),
        ("requests nginx sent to the other replica", str(r["nginx"]["retried"])),
        ("replica restart, SIGKILL to ready (s)", " / ".join(str(s) for s in r["restart to ready s"])),
        ("each replica lists what Milvus holds afterwards", "yes" if r["replicas list what is stored"] else "no"),
    ]
    return "\n".join(["| | |", "|---|---|", *(f"| {k} | {v} |" for k, v in rows)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--warm", type=float, default=20)
    parser.add_argument("--between", type=float, default=15)
    parser.add_argument("--after", type=float, default=15)
    parser.add_argument("--searchers", type=int, default=3)
    parser.add_argument("--writers", type=int, default=2)
    parser.add_argument("--lexical", default="process", choices=["process", "milvus"])
    parser.add_argument("--keep", action="store_true", help="keep the folder (logs of nginx and the replicas)")
    args = parser.parse_args()
    if NGINX is None:
        sys.exit("nginx is not installed (Debian: apt-get install nginx-light)")
    root = Path(tempfile.mkdtemp(prefix="qa-balancer-"))
    say(f"in {root}")
    try:
        r = run(root, args.warm, args.between, args.after, args.searchers, args.writers, args.lexical)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    print(json.dumps(r), file=sys.stderr)
    print(table(r))


if __name__ == "__main__":
    main()
