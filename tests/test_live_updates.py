"""Updates while the service answers, and kills in the middle of a rebuild: real model, real uvicorn, real processes."""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from qa.api import create_app
from qa.index import store

from conftest import SEED, seed_service, wait_for_job
from servers import ThreadedServer, offline_env, qa_command, qa_serve

pytestmark = pytest.mark.slow
QUESTION = "青岛市虚拟现实产业园规划面积有多大?"
ROBOTS = (
    "The Laoshan robotics pavilion opens on 18 October with 42 exhibitors from Qingdao and Shenzhen.\n\n"
    "Visitors can try warehouse robots and robotic arms that sort parcels."
)
FERRY = "崂山至黄岛的新渡轮航线将于明年五月开通，单程约四十分钟，每天往返十二班。"


class Searcher(threading.Thread):
    """Asks the same question in a loop and records every response that is not a 200 with results."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url, self.stop, self.failures = url, threading.Event(), []
        self.ok: list[float] = []  # when each good answer arrived

    def run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as client:
            while not self.stop.is_set():
                try:
                    r = client.post("/search", json={"query": QUESTION, "top_k": 3})
                    if r.status_code == 200 and r.json()["results"] and "1969亩" in r.json()["results"][0]["text"]:
                        self.ok.append(time.monotonic())
                    else:
                        self.failures.append(f"{r.status_code}: {r.text[:200]}")
                except httpx.HTTPError as exc:
                    self.failures.append(repr(exc))


def _top_doc(client: httpx.Client, query: str) -> str:
    r = client.post("/search", json={"query": query, "top_k": 1})
    assert r.status_code == 200, r.text
    return r.json()["results"][0]["doc_id"]


def test_searches_never_fail_while_documents_arrive_and_the_index_rebuilds(real_embedder, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    service = seed_service(tmp_path, real_embedder, write_timeout=120)
    with (
        ThreadedServer(create_app(service.settings, service=service)) as server,
        httpx.Client(base_url=server.url, timeout=120) as client,
    ):
        searcher = Searcher(server.url)
        searcher.start()
        try:
            r = client.post("/documents", json={"doc_id": "robots.txt", "text": ROBOTS, "metadata": {"lang": "en"}})
            assert r.status_code == 201, r.text
            # Searchable as soon as the POST returned.
            assert _top_doc(client, "When does the robotics pavilion open and how many exhibitors?") == "robots.txt"

            rebuild_started = time.monotonic()
            job = client.post("/index/rebuild").json()
            assert client.post("/index/rebuild").status_code == 409  # one rebuild at a time
            # A document write during the rebuild queues behind it, then lands.
            r = client.post("/documents", json={"doc_id": "ferry.txt", "text": FERRY})
            assert r.status_code == 201, r.text
            job = wait_for_job(lambda: client.get(f"/index/jobs/{job['id']}").json())
            assert job["state"] == "succeeded", job
            rebuild_done = time.monotonic()
            assert _top_doc(client, "去黄岛的渡轮单程要多久?") == "ferry.txt"
            assert _top_doc(client, "robotics pavilion exhibitors") == "robots.txt"
            assert client.delete("/documents/robots.txt").status_code == 200
            assert "robots.txt" not in {d["doc_id"] for d in client.get("/documents").json()["documents"]}
        finally:
            searcher.stop.set()
            searcher.join(timeout=60)
    assert searcher.failures == []
    # The searcher really ran alongside all of it, the rebuild included.
    assert len(searcher.ok) >= 5 and any(rebuild_started < t < rebuild_done for t in searcher.ok)


class _Rebuild:
    """``qa index --rebuild`` as a process, its stderr (where the progress bar goes) collected as it comes."""

    def __init__(self, docs: Path, index: Path) -> None:
        cmd = qa_command("index", "--rebuild", "--docs", str(docs), "--index", str(index))
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=offline_env())
        self.stderr = b""
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        while chunk := self.proc.stderr.read1(4096):  # type: ignore[attr-defined]
            self.stderr += chunk


def _kill_when(proc: subprocess.Popen, ready: Callable[[], bool], timeout: float = 300) -> bool:
    """SIGKILL ``proc`` as soon as ``ready()``; False if it finished first."""
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        if ready():
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return True
        time.sleep(0.001)
    proc.wait(timeout=60)
    return False


def test_a_rebuild_killed_at_any_point_leaves_the_last_good_index(real_embedder, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # More to embed, so the kill points fall inside the model load, the embedding and the write.
    docs = tmp_path / "docs"
    docs.mkdir()
    for i in range(3):
        (docs / f"copy-{i}.txt").write_bytes(SEED.read_bytes())
    index = seed_service(tmp_path, real_embedder).settings.index_dir
    good = store.current_path(index)

    points: dict[str, Callable[[float, _Rebuild], bool]] = {
        # Importing torch alone takes longer than this; the bar shows that embedding had not begun.
        "loading the model": lambda t0, r: time.monotonic() - t0 > 0.8 and b"embedding:" not in r.stderr,
        # The bar appears, at 0%, as embedding starts: no guessing from how long a run took.
        "embedding": lambda t0, r: b"embedding:" in r.stderr,
        "writing the segment": lambda t0, r: any(index.glob(".tmp-seg-*")),
    }
    killed = []
    for name, ready in points.items():
        t0 = time.monotonic()
        rebuild = _Rebuild(docs, index)
        if _kill_when(rebuild.proc, lambda ready=ready, t0=t0, rebuild=rebuild: ready(t0, rebuild)):
            killed.append(name)
        live = store.current_path(index)
        loaded = store.load(index, model=real_embedder.name, dim=real_embedder.dim)  # never corrupt, never empty
        assert loaded.size > 0 and set(loaded.manifest.documents) == {SEED.name, *(f"copy-{i}.txt" for i in range(3))}
        if name != "writing the segment":
            assert live == good  # the kill came before the switch: the previous generation still serves
        good = live  # a kill while writing may fall before or after the atomic switch; both are complete
    print("killed while:", killed)
    assert "loading the model" in killed and "embedding" in killed, killed

    # The service starts on what the kills left and answers from it without re-embedding anything.
    with qa_serve(docs, index) as (url, health):
        assert health["documents"] == 4
        assert store.current_path(index) == good  # nothing was stale, so nothing was rebuilt
        r = httpx.post(url + "/search", json={"query": QUESTION, "top_k": 1}, timeout=30)
        assert "1969亩" in r.json()["results"][0]["text"]
