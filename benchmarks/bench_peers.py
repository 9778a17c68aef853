"""qa beside txtai on the same machine, corpus, questions and model, in one run: the figures where a single
user or a single document is concerned.

Both index the CMRC 2018 documents (848 paragraphs) with qa's bundled model
(multilingual-e5-small, with its "query: " / "passage: " prompts on both
sides) and answer the first 200 CMRC questions, top 5:

1. in-process query, median: qa's ``QAService.search`` (hybrid, query cache
   off) and txtai's ``Embeddings.search``, each in a fresh process;
2. HTTP, one client: ``qa serve`` (``POST /search``) and txtai's own API
   (``uvicorn txtai.api:app``, ``GET /search``), median, and QPS of that client;
3. writes over HTTP until searchable: one document, then ten (qa: ten ``POST
   /documents`` and one ``POST /documents/bulk``; txtai: ``POST /add`` then
   ``GET /upsert``). The documents are single DRCD paragraphs nobody indexed
   yet; the time to embed them alone is printed beside, since the targets
   exclude it.

txtai is optional: ``pip install 'txtai[api]==9.14.0'`` (it adds no package
qa pins). Without it only qa's column is printed.

    python benchmarks/bench_peers.py [--questions 200] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
EVAL = ROOT.parent / "shared" / "eval"
CMRC = EVAL / "cmrc2018_dev"


def questions(n: int) -> list[str]:
    lines = (CMRC / "queries_public.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["question"] for line in lines[:n]]


def new_documents(n: int, offset: int) -> list[tuple[str, str]]:
    """(name, text) of ``n`` single DRCD paragraphs of a few hundred characters, the ``offset``-th batch."""
    out = []
    for line in (EVAL / "drcd_dev" / "corpus.jsonl").read_text(encoding="utf-8").splitlines():
        text = json.loads(line)["text"]
        if 200 <= len(text) <= 600 and "\n" not in text:
            out.append((f"new-{len(out)}.txt", text))
    return out[offset * n : offset * n + n]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_up(url: str, proc: subprocess.Popen, path: str) -> None:
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{url} exited: {proc.stderr.read().decode()[-2000:] if proc.stderr else ''}")
        try:
            if httpx.get(url + path, timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"{url} did not start")


def timed(fn: Any, items: list[Any]) -> list[float]:
    out = []
    for item in items:
        t = time.perf_counter()
        fn(item)
        out.append((time.perf_counter() - t) * 1000)
    return out


def model_path() -> str:
    from qa.config import Settings
    from qa.encoder.embedder import resolve_model_path

    return resolve_model_path(Settings())


# ------------------------------------------------------------------ one side per process
def side_qa(work: Path, qs: list[str], rounds: int) -> dict[str, Any]:
    from qa.config import Settings
    from qa.service.core import QAService

    docs, index = work / "docs", work / "index"
    docs.mkdir()
    for f in (CMRC / "docs").iterdir():
        (docs / f.name).write_bytes(f.read_bytes())
    service = QAService.open(Settings(docs_dir=docs, index_dir=index, query_cache_size=0))
    service.writer.ensure()
    for q in qs[:10]:
        service.search(q, 5)
    inproc = timed(lambda q: service.search(q, 5), qs)
    texts = [t for _, t in new_documents(10, 0)]
    embed = timed(lambda _: service.embedder.encode_passages(texts), range(rounds))
    embed_one = timed(lambda _: service.embedder.encode_passages(texts[:1]), range(rounds))

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "QA_QUERY_CACHE_SIZE": "0"}
    qa = Path(sys.executable).with_name("qa")
    cmd = [str(qa), "serve", "--docs", str(docs), "--index", str(index), "--port", str(port)]
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    try:
        wait_up(url, server, "/health")
        with httpx.Client(base_url=url, timeout=120) as http:
            search = lambda q: http.post("/search", json={"query": q, "top_k": 5}).raise_for_status()  # noqa: E731
            for q in qs[:10]:
                search(q)
            over_http = timed(search, qs)
            one, ten, bulk = [], [], []
            for r in range(rounds):
                name, text = new_documents(1, 100 + r)[0]
                one += timed(
                    lambda _, name=name, text=text: http.post(
                        "/documents", json={"doc_id": name, "text": text}
                    ).raise_for_status(),
                    [0],
                )
                batch = new_documents(10, 2 * r + 1)
                t = time.perf_counter()
                for n, x in batch:
                    http.put(f"/documents/r{r}-{n}", json={"text": x}).raise_for_status()
                ten.append((time.perf_counter() - t) * 1000)
                body = {"documents": [{"doc_id": f"b{r}-{n}", "text": x} for n, x in batch]}
                bulk += timed(lambda _, body=body: http.post("/documents/bulk", json=body).raise_for_status(), [0])
            hit = http.post("/search", json={"query": batch[3][1][:40], "top_k": 3}).json()["results"]
            assert any(h["doc_id"].startswith(f"b{rounds - 1}-") for h in hit), "bulk documents not searchable"
    finally:
        server.terminate()
        server.wait(30)
    return {
        "inproc": inproc,
        "http": over_http,
        "add1": one,
        "add10": ten,
        "bulk10": bulk,
        "embed10": embed,
        "embed1": embed_one,
    }


def side_txtai(work: Path, qs: list[str], rounds: int) -> dict[str, Any]:
    from txtai import Embeddings

    path = model_path()
    corpus = [json.loads(line) for line in (CMRC / "corpus.jsonl").read_text(encoding="utf-8").splitlines()]
    config = {"path": path, "content": True, "instructions": {"query": "query: ", "data": "passage: "}}
    embeddings = Embeddings(**config)
    embeddings.index([{"id": d["id"], "text": d["text"]} for d in corpus])
    for q in qs[:10]:
        embeddings.search(q, 5)
    inproc = timed(lambda q: embeddings.search(q, 5), qs)
    saved = work / "txtai-index"
    embeddings.save(str(saved))

    cfg = work / "txtai.yml"
    cfg.write_text(json.dumps({"path": str(saved), "writable": True, "embeddings": config}))  # YAML is a superset
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "CONFIG": str(cfg)}
    cmd = [sys.executable, "-m", "uvicorn", "txtai.api:app", "--port", str(port), "--log-level", "warning"]
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    try:
        wait_up(url, server, "/count")
        with httpx.Client(base_url=url, timeout=120) as http:
            search = lambda q: http.get("/search", params={"query": q, "limit": 5}).raise_for_status()  # noqa: E731
            for q in qs[:10]:
                search(q)
            over_http = timed(search, qs)

            def add(batch: list[tuple[str, str]]) -> None:
                http.post("/add", json=[{"id": n, "text": x} for n, x in batch]).raise_for_status()
                http.get("/upsert").raise_for_status()

            one, ten = [], []
            for r in range(rounds):
                one += timed(lambda _, r=r: add(new_documents(1, 100 + r)), [0])
                ten += timed(lambda _, r=r: add(new_documents(10, 2 * r + 1)), [0])
    finally:
        server.terminate()
        server.wait(30)
    return {"inproc": inproc, "http": over_http, "add1": one, "add10": ten}


# ------------------------------------------------------------------ the table
def med(xs: list[float] | None) -> str:
    return f"{statistics.median(xs):.1f}" if xs else "—"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--questions", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=3, help="repetitions of each write measurement")
    ap.add_argument("--side", choices=["qa", "txtai"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    qs = questions(args.questions)
    if args.side:
        with tempfile.TemporaryDirectory(prefix=f"bench-peers-{args.side}-") as tmp:
            fn = side_qa if args.side == "qa" else side_txtai
            print(json.dumps(fn(Path(tmp), qs, args.rounds)))
        return

    results: dict[str, dict[str, Any]] = {}
    for side in ("qa", "txtai"):
        if side == "txtai":
            try:
                import txtai  # noqa: F401
            except ImportError:
                print("txtai is not installed: pip install 'txtai[api]==9.14.0'", file=sys.stderr)
                continue
        cmd = [sys.executable, __file__, "--side", side, "--questions", str(len(qs)), "--rounds", str(args.rounds)]
        out = subprocess.run(cmd, capture_output=True, text=True)
        if out.returncode:
            raise SystemExit(f"{side} failed:\n{out.stderr[-3000:]}")
        results[side] = json.loads(out.stdout.strip().splitlines()[-1])

    q, t = results["qa"], results.get("txtai", {})
    print(f"# {len(qs)} CMRC questions, top 5; {args.rounds} rounds of each write; {os.cpu_count()} cores")
    print("| | qa | txtai |")
    print("|---|---|---|")
    print(f"| in-process query, median ms | {med(q['inproc'])} | {med(t.get('inproc'))} |")
    print(f"| HTTP, one client, median ms | {med(q['http'])} | {med(t.get('http'))} |")
    qps = lambda xs: f"{1000 / statistics.mean(xs):.1f}" if xs else "—"  # noqa: E731
    print(f"| QPS, one client | {qps(q['http'])} | {qps(t.get('http'))} |")
    print(f"| add 1 document over HTTP, until searchable, ms | {med(q['add1'])} | {med(t.get('add1'))} |")
    print(f"| add 10 documents over HTTP, 10 requests, ms | {med(q['add10'])} | — |")
    print(f"| add 10 documents over HTTP, one request, ms | {med(q['bulk10'])} | {med(t.get('add10'))} |")
    print(f"\nqa's model alone embeds those documents in {med(q['embed1'])} ms (1) and {med(q['embed10'])} ms (10).")


if __name__ == "__main__":
    main()
