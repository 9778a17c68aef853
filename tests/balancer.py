"""nginx in front of `qa serve` replicas over one Milvus, replicas that are SIGKILLed and restarted, and a load that
counts what clients of the balancer saw (tests/test_balancer.py and benchmarks/bench_balancer.py share it).

Which requests nginx may send again to the other replica is the point of the configuration (``CONF``): searches
and writes by PUT and DELETE (replaying one stores the same thing once more), the read-only POSTs ``/search`` and
``/ask`` (``non_idempotent`` in their location only), never another POST (a create or a bulk: nginx cannot know
whether the replica that died had stored it, so its client gets the 502 and decides).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from conftest import SEED
from servers import free_port, offline_env, qa_command, stop, wait_port

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None)

# Retries: `error timeout` (the replica died, refused the connection or hung) and `http_502 http_503` (a replica
# still loading answers 503). A retry goes to the other replica (tries 2). `max_fails=0`: nginx never marks a
# replica down, since its open-source build only re-admits one `fail_timeout` after marking it, on a request: a
# replica killed within that time of the other's return leaves it no live upstream, and it answers 502 at once
# (hundreds of failed searches in two seconds, in this test with `max_fails=2 fail_timeout=3s`). Trying a dead
# replica costs a refused connection, a starting one a 503, each then retried. The Host header is the client's, as qa's host check (QA_ALLOWED_HOSTS) expects,
# not the upstream's name. Upstream keep-alive closes before uvicorn's 5 s, so nginx never sends a request on a
# connection the replica is closing (a POST on one could not be retried). Bodies and responses stay in memory:
# nginx's workers run as nobody and may not write temp files under the test's folder.
CONF = """\
worker_processes 1;
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    log_format tries '$request_method|$uri|$status|$upstream_addr|$upstream_status|$request_time|$msec|'
                     '$upstream_response_time|$http_x_attempt';
    access_log {prefix}/access.log tries;
    client_body_temp_path {prefix}/tmp/body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
    client_max_body_size 64m;
    client_body_buffer_size 1m;
    proxy_max_temp_file_size 0;
    upstream qa {{
{servers}
        keepalive 32;
        keepalive_timeout 4s;
    }}
    server {{
        listen 127.0.0.1:{port};
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Host $http_host;
        proxy_connect_timeout 1s;
        proxy_read_timeout 120s;
        proxy_send_timeout 120s;
        proxy_next_upstream error timeout http_502 http_503;
        proxy_next_upstream_tries 2;
        location / {{
            proxy_pass http://qa;
        }}
        location ~ ^/(search|ask)$ {{
            proxy_next_upstream error timeout http_502 http_503 non_idempotent;
            proxy_pass http://qa;
        }}
    }}
}}
"""


@contextmanager
def nginx(prefix: Path, upstreams: list[str]) -> Iterator[str]:
    """nginx balancing ``upstreams`` (host:port) in the foreground; yields its URL (access log: prefix/access.log)."""
    assert NGINX is not None
    for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (prefix / "tmp" / sub).mkdir(parents=True, exist_ok=True)
    port = free_port()
    servers = "\n".join(f"        server {u} max_fails=0;" for u in upstreams)
    (prefix / "nginx.conf").write_text(CONF.format(prefix=prefix, port=port, servers=servers))
    cmd = [NGINX, "-p", str(prefix), "-e", str(prefix / "error.log"), "-c", str(prefix / "nginx.conf")]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # it logs to error.log
    try:
        wait_port(port, proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop([proc], signal.SIGQUIT)  # graceful: requests in flight finish


def ready(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 300) -> float:
    """Wait for /health/ready (index loaded, model warm: what a balancer's probe asks); seconds it took."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"qa serve exited with {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            if httpx.get(url + "/health/ready", timeout=2).status_code == 200:
                return time.monotonic() - started
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} was not ready in {timeout} s")


class Replica:
    """`qa serve` on a port of its own, over Milvus at ``uri``, with a docs folder holding the seed article."""

    def __init__(self, root: Path, uri: str, lexical: str = "process") -> None:
        self.root, self.port = root, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        (root / "docs").mkdir(parents=True, exist_ok=True)
        shutil.copy(SEED, root / "docs" / SEED.name)
        self.env = {**offline_env(), "QA_BACKEND": "milvus", "QA_MILVUS_URI": uri, "QA_MILVUS_LEXICAL": lexical}
        self.env["QA_QUERY_CACHE_SIZE"] = "0"  # every search reaches Milvus
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start it (again); its stderr goes to a file, as a pipe nobody reads would fill and block its writes."""
        cmd = qa_command("serve", "--docs", str(self.root / "docs"), "--index", str(self.root / "index"))
        cmd += ["--port", str(self.port)]
        with (self.root / "serve.log").open("ab") as log:
            self.proc = subprocess.Popen(cmd, env=self.env, stdout=subprocess.DEVNULL, stderr=log)

    def ready(self) -> float:
        assert self.proc is not None
        return ready(self.url, self.proc, self.root / "serve.log")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            stop([self.proc])


QUESTIONS = ["崂山虚拟现实创新赋能中心", "人工智能开源开放平台在哪里", "第3版 第1段", "推介会签约了哪些项目"]


def version(doc_id: str, k: int) -> str:
    """A document's k-th text: every paragraph names its version, so a stored document says which write it is."""
    return "\n\n".join(f"{doc_id} 第{k}版 第{p}段：这一段只属于第{k}版，用来检查写入是否丢失。" for p in range(3))


def sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass
class Attempt:
    """One write as its client saw it: what it asked for (``sha`` None: a delete) and what the balancer answered.

    ``key`` is sent as the X-Attempt header, which nginx's access log records: the line of each 5xx says which
    replicas nginx tried and what each answered."""

    doc_id: str
    method: str
    sha: str | None
    status: int  # 0: no answer (a transport error at the client)
    ms: float
    at: float = 0.0  # when it was sent (time.time())
    key: str = ""
    detail: str | None = None  # the error body's detail, when the answer was not 2xx
    retry_after: str | None = None
    checked: bool = False  # after a 409 or 5xx: what Milvus held for the document right after (``stored``)
    stored: str | None = None


@dataclass
class Load:
    """Searches and writes through the balancer until stopped; each writer owns its documents, so the order of
    one document's writes is the order its client made them."""

    url: str
    searchers: int = 3
    writers: int = 2
    milvus: str | None = None  # where to read a document's stored state after a write answered 409 or 5xx
    stopping: threading.Event = field(default_factory=threading.Event)
    searches: list[tuple[int, float]] = field(default_factory=list)
    unanswered: list[str] = field(default_factory=list)  # each request that got no answer: when, what, the error
    writes: list[Attempt] = field(default_factory=list)
    threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        self.threads = [threading.Thread(target=self._search, args=(i,)) for i in range(self.searchers)]
        self.threads += [threading.Thread(target=self._write, args=(i,)) for i in range(self.writers)]
        for t in self.threads:
            t.start()

    def stop(self) -> None:
        self.stopping.set()
        for t in self.threads:
            t.join()

    def _timed(self, client: httpx.Client, method: str, path: str, **kw: Any) -> tuple[int, float, Any]:
        status, ms, body, _ = self._answer(client, method, path, **kw)
        return status, ms, body

    def _answer(
        self, client: httpx.Client, method: str, path: str, **kw: Any
    ) -> tuple[int, float, Any, httpx.Headers | None]:
        """Status (0: no answer), milliseconds, body (parsed JSON, else text) and headers of one request."""
        started = time.perf_counter()
        try:
            r = client.request(method, self.url + path, **kw)
            is_json = r.headers.get("content-type", "").startswith("application/json")
            status, body, headers = r.status_code, (r.json() if is_json else r.text), r.headers
        except httpx.TransportError as exc:
            status, body, headers = 0, None, None
            self.unanswered.append(f"{time.strftime('%H:%M:%S')} {method} {path}: {exc!r}")
        return status, (time.perf_counter() - started) * 1000, body, headers

    def _search(self, i: int) -> None:
        with httpx.Client(timeout=180) as client:
            k = i
            while not self.stopping.is_set():
                q = QUESTIONS[k % len(QUESTIONS)]
                if k % 2:
                    status, ms, _ = self._timed(client, "POST", "/search", json={"query": q, "mode": "hybrid"})
                else:
                    status, ms, _ = self._timed(client, "GET", "/search", params={"q": q, "mode": "hybrid"})
                self.searches.append((status, ms))
                k += 1

    def _write(self, i: int) -> None:
        """Cycle over three documents: PUT a new version twice, DELETE one; and POST a new document every few."""
        rng = random.Random(i)
        with httpx.Client(timeout=180) as client:
            k = 0
            while not self.stopping.is_set():
                doc_id = f"w{i}-{k % 3}.txt"
                if k % 7 == 6:
                    doc_id, method = f"w{i}-new-{k}.txt", "POST"
                elif k % 4 == 3:
                    method = "DELETE"
                else:
                    method = "PUT"
                text = version(doc_id, k)
                key, at = f"w{i}-{k}", time.time()
                kw: dict[str, Any] = {"headers": {"X-Attempt": key}}
                if method == "POST":
                    path, kw["json"] = "/documents", {"doc_id": doc_id, "text": text}
                elif method == "PUT":
                    path, kw["json"] = f"/documents/{doc_id}", {"text": text}
                else:
                    path = f"/documents/{doc_id}"
                status, ms, body, headers = self._answer(client, method, path, **kw)
                if status in (200, 201) and method != "DELETE":
                    assert body["sha256"] == sha(text), (body, doc_id)
                attempt = Attempt(doc_id, method, None if method == "DELETE" else sha(text), status, ms, at, key)
                if not 200 <= status < 300 and status:
                    attempt.detail = body.get("detail") if isinstance(body, dict) else str(body)[:200]
                    attempt.retry_after = headers.get("retry-after") if headers is not None else None
                if (status == 409 or status >= 500) and self.milvus is not None:
                    attempt.checked, attempt.stored = True, stored_documents(self.milvus, doc_id=doc_id).get(doc_id)
                self.writes.append(attempt)
                k += 1
                time.sleep(rng.uniform(0, 0.2))


def lost(attempts: list[Attempt], stored: dict[str, str]) -> list[str]:
    """Documents whose stored state is not what their last acknowledged write left, nor what a later write that got
    no acknowledgement may have left (a write cut off by a kill may or may not have landed)."""
    by_doc: dict[str, list[Attempt]] = {}
    for a in attempts:
        by_doc.setdefault(a.doc_id, []).append(a)
    out = []
    for doc_id, tried in by_doc.items():
        acked = [i for i, a in enumerate(tried) if 200 <= a.status < 300 or (a.method == "DELETE" and a.status == 404)]
        last = acked[-1] if acked else -1
        allowed = {tried[last].sha} if acked else {None}  # before any acknowledged write: not there
        allowed |= {a.sha for a in tried[last + 1 :]}
        if stored.get(doc_id) not in allowed:
            out.append(doc_id)
    return out


def stored_documents(uri: str, alias: str = "qa_default", doc_id: str | None = None) -> dict[str, str]:
    """What Milvus holds behind the alias (of ``doc_id`` only, if given): each document record's sha256, read
    straight from Milvus."""
    from pymilvus import MilvusClient

    client = MilvusClient(uri=uri)
    try:
        where = "kind == 1" if doc_id is None else f"kind == 1 and doc_id == {json.dumps(doc_id)}"
        rows = client.query(alias, filter=where, output_fields=["doc_id", "info"], limit=16384)
        return {r["doc_id"]: r["info"]["sha256"] for r in rows}
    finally:
        client.close()


def tries(access_log: Path) -> dict[str, Any]:
    """From nginx's access log: how many requests it sent on to the other replica, its 5xx lines (method, path,
    status, the replicas tried, what each answered, seconds, when it ended, each replica's seconds, the client's
    X-Attempt), and the line of each write by its X-Attempt."""
    retried, failed, by_key = 0, [], {}
    for line in access_log.read_text().splitlines():
        fields = line.split("|")
        status, upstream_status, key = fields[2], fields[4], fields[8]
        retried += "," in upstream_status
        if status.startswith("5"):
            failed.append(line)
        if key != "-":
            by_key[key] = line
    return {"retried": retried, "5xx": failed, "writes": by_key}
