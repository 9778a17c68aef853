"""Hostile and unlucky input, each reproduced the way it was reported: it fails alone and hurts nobody else.

The network cases run a real uvicorn with the limits of ``qa serve``; the
full disk is a real 20 MB tmpfs; the model is the counting embedder except
where the encoder itself is the point.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from qa.api import create_app
from qa.errors import IndexCorrupt, InvalidInput
from qa.index import segment, store
from qa.service.core import QAService

from conftest import SEED, CountingEmbedder, seed_service, wait_for_job
from servers import ThreadedServer

ZH = "青岛市虚拟现实产业园规划面积有多大?"


class SlowEmbedder(CountingEmbedder):
    """Passages that contain SLOW take ``delay`` seconds to embed, as a huge document does with the real model."""

    def __init__(self, delay: float = 2.0) -> None:
        super().__init__()
        self.delay = delay

    def encode_passages(self, texts: Sequence[str]) -> np.ndarray:
        if any("SLOW" in t for t in texts):
            time.sleep(self.delay)
        return super().encode_passages(texts)


def _search_ms(url: str) -> float:
    started = time.monotonic()
    r = httpx.post(url + "/search", json={"query": "虚拟现实", "top_k": 1, "mode": "lexical"}, timeout=30)
    assert r.status_code == 200, r.text
    return (time.monotonic() - started) * 1000


# ------------------------------------------------------------------ 1. a poisoned query
@pytest.mark.slow
def test_a_lone_surrogate_fails_alone_while_others_search(real_embedder, tmp_path: Path) -> None:
    """The report: '{"question":"\\ud800 x"}' answered 500 and failed the queries micro-batched with it."""
    service = QAService.open(seed_service(tmp_path, real_embedder).settings, real_embedder)
    service.writer.ensure()
    with pytest.raises(InvalidInput, match="surrogate"):
        service.search("\ud800 x")
    failures: list[str] = []
    answered = [0]
    stop = threading.Event()

    def client() -> None:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            while not stop.is_set():
                r = http.post("/search", json={"query": ZH, "top_k": 1})
                if r.status_code != 200 or "1969亩" not in r.json()["results"][0]["text"]:
                    failures.append(f"{r.status_code} {r.text[:100]}")
                answered[0] += 1

    with ThreadedServer(create_app(service.settings, service=service), service.settings) as server:
        threads = [threading.Thread(target=client) for _ in range(8)]
        for t in threads:
            t.start()
        poisoned = []
        deadline = time.monotonic() + 6
        with httpx.Client(base_url=server.url, timeout=30) as http:
            while time.monotonic() < deadline:
                body = '{"question":"\\ud800 x"}'
                poisoned.append(http.post("/ask", content=body, headers={"content-type": "application/json"}))
        stop.set()
        for t in threads:
            t.join(60)
    assert failures == [] and answered[0] > 20
    assert {r.status_code for r in poisoned} == {422}
    assert "surrogate" in poisoned[0].json()["detail"]


# ------------------------------------------------------------------ 2. endless headers, idle connections
def _limited_server(make_service, **limits: object) -> tuple[QAService, ThreadedServer]:  # type: ignore[no-untyped-def]
    service = make_service(**limits)
    return service, ThreadedServer(create_app(service.settings, service=service), service.settings)


def _read_all(sock: socket.socket) -> bytes:
    out = b""
    try:
        while chunk := sock.recv(65536):
            out += chunk
    except OSError:
        pass
    return out


def test_an_endless_header_gets_431_and_others_are_not_held_up(make_service) -> None:  # type: ignore[no-untyped-def]
    _, server = _limited_server(make_service)
    with server:
        attacker = socket.create_connection(("127.0.0.1", server.port))
        attacker.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Endless: ")
        sent, closed = 0, False
        block = b"a" * 65536
        while sent < 100 * 2**20:
            try:
                attacker.sendall(block)
            except OSError:
                closed = True
                break
            sent += len(block)
            if sent % (4 * 2**20) == 0:
                assert _search_ms(server.url) < 2000
        reply = _read_all(attacker)
        attacker.close()
    assert closed or sent < 100 * 2**20
    assert sent < 16 * 2**20, (
        f"{sent} bytes of one header went in before the server closed"
    )  # socket buffers hold a few MB
    assert reply.startswith(b"HTTP/1.1 431") and b"detail" in reply


@pytest.mark.slow
def test_idle_and_trickling_connections_are_closed_and_cannot_lock_others_out(make_service) -> None:  # type: ignore[no-untyped-def]
    _, server = _limited_server(make_service, header_timeout=1.5, max_idle_connections=50)
    with server:
        idle = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(150)]
        # Past 50 waiting connections the longest-waiting go: a client that asks at once is served.
        assert _search_ms(server.url) < 2000
        trickler = socket.create_connection(("127.0.0.1", server.port))
        for byte in b"GET /health HTTP/1.1\r\n":
            try:
                trickler.sendall(bytes([byte]))
            except OSError:
                break
            time.sleep(0.1)
        trickled = _read_all(trickler)
        assert trickled.startswith(b"HTTP/1.1 408"), trickled[:80]
        time.sleep(1.6)
        still_open = 0
        for sock in idle:
            sock.settimeout(3)
            try:
                data = sock.recv(65536)  # EOF, or the 408 before it
                assert data == b"" or data.startswith(b"HTTP/1.1 408"), data[:80]
            except TimeoutError:
                still_open += 1
            except OSError:
                pass  # reset: closed too
            sock.close()
        assert still_open == 0
        assert _search_ms(server.url) < 2000


# ------------------------------------------------------------------ 3. queued writers and readers
@pytest.mark.slow
def test_queued_writers_do_not_starve_readers(make_service) -> None:  # type: ignore[no-untyped-def]
    """The report: 45 PUTs behind a 17 s write held every worker thread, and a search took 14 s."""
    service = make_service(SlowEmbedder(delay=4.0), write_timeout=120, max_queued_writes=64)  # the gate, not the queue
    with ThreadedServer(create_app(service.settings, service=service), service.settings) as server:
        results: list[int] = []

        def put(name: str, text: str) -> None:
            r = httpx.put(f"{server.url}/documents/{name}", json={"text": text}, timeout=120)
            results.append(r.status_code)

        writers = [threading.Thread(target=put, args=("slow.txt", "SLOW document that takes long to embed."))]
        writers += [
            threading.Thread(target=put, args=(f"doc-{i}.txt", f"Document {i} about cranes.")) for i in range(45)
        ]
        _search_ms(server.url)  # warm: the first search loads the tokenizer's dictionaries
        writers[0].start()
        time.sleep(0.5)
        for w in writers[1:]:
            w.start()
        time.sleep(1.0)  # all 45 are queued behind the slow one now
        latencies = [_search_ms(server.url) for _ in range(10)]
        for w in writers:
            w.join(180)
    assert max(latencies) < 1500, latencies
    assert results.count(201) == 46, results


# ------------------------------------------------------------------ 4. a full disk
@pytest.fixture
def small_disk(tmp_path: Path):  # type: ignore[no-untyped-def]
    mount = tmp_path / "disk"
    mount.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=20m", "tmpfs", str(mount)], capture_output=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {proc.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(disk: Path) -> Path:
    filler = disk / "filler.bin"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        for size in (2**20, 2**14, 2**10, 64, 1):
            while True:
                try:
                    os.write(fd, b"\0" * size)
                except OSError:
                    break
    finally:
        os.close(fd)
    return filler


def _leftovers(root: Path) -> list[str]:
    return sorted(p.name for p in root.rglob(".*") if ".tmp-" in p.name or ".bak-" in p.name)


@pytest.mark.slow
def test_a_full_disk_changes_nothing_and_answers_507(small_disk: Path, fake_embedder) -> None:  # type: ignore[no-untyped-def]
    service = seed_service(small_disk, fake_embedder, allowed_hosts="testserver")
    client = TestClient(create_app(service.settings, service=service))
    docs = service.settings.docs_dir
    seed_bytes = (docs / SEED.name).read_bytes()
    assert client.put("/documents/kept.txt", json={"text": "A harbour crane document."}).status_code == 201
    filler = _fill(small_disk)

    r = client.put("/documents/new.txt", json={"text": "Brand new text about lighthouses. " * 200})
    assert r.status_code == 507 and "no space" in r.json()["detail"], r.text
    assert not (docs / "new.txt").exists()
    r = client.put(f"/documents/{SEED.name}", json={"text": "replacement about lighthouses"})
    assert r.status_code == 507
    assert (docs / SEED.name).read_bytes() == seed_bytes
    bulk = [{"doc_id": f"b{i}.txt", "text": f"Bulk text {i} about lighthouses. " * 100} for i in range(3)]
    r = client.post("/documents/bulk", json={"documents": bulk})
    assert r.status_code == 507, r.text  # none of them, not some
    assert not any((docs / f"b{i}.txt").exists() for i in range(3))
    r = client.delete("/documents/kept.txt")
    assert r.status_code in (200, 507), r.text
    deleted = r.status_code == 200
    assert (docs / "kept.txt").exists() != deleted  # the folder and the index agree either way
    hits = client.post("/search", json={"query": "harbour crane", "mode": "lexical"}).json()["results"]
    assert any(h["doc_id"] == "kept.txt" for h in hits) != deleted
    assert client.post("/search", json={"query": "lighthouses", "mode": "lexical"}).json()["results"] == []
    assert _leftovers(small_disk) == []
    assert not list(service.settings.index_dir.glob(".tmp-*"))

    # A restart on the full disk serves what is there.
    again = QAService(service.settings, fake_embedder)
    assert again.start() is None
    assert SEED.name in again.index.manifest.documents

    filler.unlink()
    assert client.put("/documents/new.txt", json={"text": "Brand new text about lighthouses."}).status_code == 201
    assert client.post("/search", json={"query": "lighthouses", "mode": "lexical"}).json()["results"]


# ------------------------------------------------------------------ 5. deeply nested HTML
@pytest.mark.slow
def test_deeply_nested_html_is_read(make_service) -> None:  # type: ignore[no-untyped-def]
    service = make_service()
    client = TestClient(create_app(service.settings, service=service))
    page = "<html><body>" + "<div>" * 5000 + "<p>Deep lighthouse text.</p>" + "</div>" * 5000 + "</body></html>"
    r = client.post("/documents", files={"file": ("deep.html", page.encode())})
    assert r.status_code == 201, r.text
    assert client.get("/documents/deep.html").json()["text"] == "Deep lighthouse text.\n"
    (service.settings.docs_dir / "deeper.html").write_text("<div>" * 20000 + "x", encoding="utf-8")
    assert QAService(service.settings, service.embedder).writer.ensure() is not None  # a folder scan reads it too


# ------------------------------------------------------------------ 6. a write racing a collection delete
@pytest.mark.slow
def test_a_write_queued_behind_a_collection_delete_does_not_recreate_it(make_service) -> None:  # type: ignore[no-untyped-def]
    service = make_service(SlowEmbedder(delay=2.0), write_timeout=60)
    client = TestClient(create_app(service.settings, service=service))
    assert client.post("/collections", json={"name": "x"}).status_code == 201
    statuses: dict[str, int] = {}

    def call(name: str, method: str, url: str, **kw: object) -> None:
        statuses[name] = client.request(method, url, **kw).status_code  # type: ignore[arg-type]

    slow = threading.Thread(
        target=call, args=("slow", "PUT", "/documents/s.txt?collection=x"), kwargs={"json": {"text": "SLOW one"}}
    )
    slow.start()
    time.sleep(0.5)
    delete = threading.Thread(target=call, args=("delete", "DELETE", "/collections/x"))
    delete.start()
    time.sleep(0.3)
    late = threading.Thread(
        target=call, args=("late", "PUT", "/documents/l.txt?collection=x"), kwargs={"json": {"text": "late"}}
    )
    late.start()
    for t in (slow, delete, late):
        t.join(60)
    assert statuses["delete"] == 204, statuses
    assert statuses["late"] in (201, 404), statuses
    assert "x" not in {c["name"] for c in client.get("/collections").json()["collections"]}
    assert not (service.settings.collections_dir / "x").exists()


# ------------------------------------------------------------------ 7. cross-site writes and foreign hosts
def test_cross_site_writes_and_foreign_hosts_are_refused(make_service) -> None:  # type: ignore[no-untyped-def]
    service = make_service()
    client = TestClient(create_app(service.settings, service=service))
    files = {"file": ("evil.txt", b"planted by another site")}
    assert client.post("/documents", files=files, headers={"Origin": "http://evil.example"}).status_code == 403
    assert client.post("/documents", files=files, headers={"Sec-Fetch-Site": "cross-site"}).status_code == 403
    assert client.post("/index/rebuild", content=b"", headers={"content-type": "text/plain"}).status_code == 415
    assert client.post("/index/rebuild", headers={"Origin": "null"}).status_code == 403
    assert not (service.settings.docs_dir / "evil.txt").exists()
    r = client.get("/health", headers={"Host": "rebound.example"})
    assert r.status_code == 400 and "QA_ALLOWED_HOSTS" in r.json()["detail"]
    # The same writes from qa's own origin (its page) or from no browser at all go through.
    own = {"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"}
    assert client.post("/documents", files=files, headers=own).status_code == 201
    assert client.post("/index/rebuild").status_code == 202


# ------------------------------------------------------------------ 8. huge documents
@pytest.mark.slow
def test_a_large_document_is_indexed_in_the_background_without_blocking_writes(make_service) -> None:  # type: ignore[no-untyped-def]
    service = make_service(SlowEmbedder(delay=3.0), max_sync_windows=20)
    client = TestClient(create_app(service.settings, service=service))
    big = "\n\n".join(f"SLOW paragraph {i} of a long report about harbour cranes and lighthouses." for i in range(60))
    r = client.put("/documents/report.txt", json={"text": big})
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["kind"] == "document" and r.headers["location"] == f"/index/jobs/{job['id']}"
    started = time.monotonic()
    assert client.post("/documents", json={"doc_id": "small.txt", "text": "A small note."}).status_code == 201
    assert time.monotonic() - started < 2.0  # not behind the large one's embedding
    job = wait_for_job(lambda: client.get(f"/index/jobs/{job['id']}").json())
    assert job["state"] == "succeeded", job
    assert job["result"]["doc_id"] == "report.txt" and job["result"]["created"] is True
    hits = client.post("/search", json={"query": "paragraph 59 harbour", "mode": "lexical"}).json()["results"]
    assert hits[0]["doc_id"] == "report.txt"


def test_start_up_serves_at_once_and_catches_up_in_the_background(make_service, fake_embedder) -> None:  # type: ignore[no-untyped-def]
    service = make_service()
    (service.settings.docs_dir / "dropped.txt").write_text("A file dropped in while nothing ran.", encoding="utf-8")
    restarted = QAService(service.settings, fake_embedder)
    job = restarted.start()
    assert job is not None and restarted.index.manifest.documents.keys() == {SEED.name}  # served as it was
    assert wait_for_job(lambda: restarted.jobs.get(job.id)).state == "succeeded"
    assert "dropped.txt" in restarted.index.manifest.documents


# ------------------------------------------------------------------ 9. damaged or changing files
def test_a_vector_file_truncated_while_serving_is_a_503_not_a_crash(
    folder_segments, make_service, fake_embedder
) -> None:  # type: ignore[no-untyped-def]
    service = QAService(make_service().settings, fake_embedder)
    service.start()  # serves the generation on disk, memory-mapped
    client = TestClient(create_app(service.settings, service=service))
    assert client.post("/search", json={"query": "虚拟现实"}).status_code == 200
    vectors = service.settings.index_dir / service.index.segments[0].name / segment.VECTORS
    os.truncate(vectors, 64)
    r = client.post("/search", json={"query": "虚拟现实", "mode": "hybrid"})
    assert r.status_code == 503 and "qa index --rebuild" in r.json()["detail"]
    assert client.post("/search", json={"query": "虚拟现实", "mode": "lexical"}).status_code == 200


@pytest.mark.parametrize(
    "damage",
    [
        "segments: null",
        "segment documents: []",
        "CURRENT is a folder",
        "a chunk's doc_id renamed",
        "commit not an object",
        "deletions past the end",
    ],
)
def test_a_damaged_index_is_one_readable_error(folder_segments, make_service, damage: str) -> None:  # type: ignore[no-untyped-def]
    service = make_service()  # a segment folder, whose files can be damaged one by one (tests/test_packed.py: a file)
    index_dir = service.settings.index_dir
    commit_file = store.current_path(index_dir)
    commit = json.loads(commit_file.read_text())
    seg = index_dir / commit["segments"][0]["name"]
    if damage == "segments: null":
        commit_file.write_text(json.dumps(commit | {"segments": None}))
    elif damage == "segment documents: []":
        info = json.loads((seg / segment.SEGMENT).read_text())
        (seg / segment.SEGMENT).write_text(json.dumps(info | {"documents": []}))
    elif damage == "CURRENT is a folder":
        (index_dir / store.CURRENT).unlink()
        (index_dir / store.CURRENT).mkdir()
    elif damage == "commit not an object":
        commit_file.write_text("[1, 2]")
    elif damage == "deletions past the end":
        (index_dir / store.DELETES / "bad.json").write_text(json.dumps({"rows": [10**6], "documents": []}))
        commit["segments"][0]["deletes"] = "bad.json"
        commit_file.write_text(json.dumps(commit))
    else:
        lines = (seg / segment.CHUNKS).read_text(encoding="utf-8").splitlines()
        first = json.loads(lines[0])
        first["doc_id"] = "renamed.txt"
        (seg / segment.CHUNKS).write_text(
            "\n".join([json.dumps(first, ensure_ascii=False), *lines[1:]]) + "\n", encoding="utf-8"
        )
    with pytest.raises(IndexCorrupt, match="qa index --rebuild"):
        QAService(service.settings, service.embedder).writer.load()
    assert QAService(service.settings, service.embedder).writer.sync(rebuild=True).chunks > 0  # and the remedy works


# ------------------------------------------------------------------ 10. what answered a bare 500
def test_what_answered_a_bare_500_is_a_readable_4xx(make_service) -> None:  # type: ignore[no-untyped-def]
    service = make_service()
    client = TestClient(create_app(service.settings, service=service), raise_server_exceptions=False)
    for length in (201, 242, 255):
        r = client.put(f"/documents/{'x' * (length - 4)}.txt", json={"text": "long name"})
        assert r.status_code == 400 and "bytes" in r.json()["detail"], (length, r.text)
    assert client.put(f"/documents/{SEED.name}/inner.txt", json={"text": "under a file"}).status_code == 400
    nested = "[" * 100_000
    r = client.post("/documents", files={"file": ("m.txt", b"hi")}, data={"metadata": nested})
    assert r.status_code == 400 and "metadata" in r.json()["detail"]
    for filters in (
        {"type": ["eq"], "key": "a", "value": 1},
        {"type": {"x": 1}, "key": "a"},
        {"type": "and", "filters": [1]},
    ):
        r = client.post("/v1/vector_stores/default/search", json={"query": "x", "filters": filters})
        assert r.status_code == 422 and r.json()["detail"], (filters, r.text)
    r = client.put("/search", json={})
    assert r.status_code == 405 and set(r.headers["allow"].split(", ")) == {"GET", "POST"}


def test_an_unexpected_error_is_a_json_500(make_service, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    service = make_service()
    monkeypatch.setattr(service, "search", lambda *a, **kw: 1 / 0)
    client = TestClient(create_app(service.settings, service=service), raise_server_exceptions=False)
    r = client.post("/search", json={"query": "x"})
    assert r.status_code == 500 and "ZeroDivisionError" in r.json()["detail"]


# ------------------------------------------------------------------ 11. smaller ones
def test_an_oversized_chunked_upload_stops_at_the_cap(make_service) -> None:  # type: ignore[no-untyped-def]
    service = make_service(max_document_bytes=100_000)
    sent = [0]

    def body():  # type: ignore[no-untyped-def]
        boundary = b'--b\r\nContent-Disposition: form-data; name="file"; filename="big.txt"\r\n\r\n'
        yield boundary
        for _ in range(3000):  # 192 MB if it were all read
            sent[0] += 65536
            yield b"a" * 65536

    with ThreadedServer(create_app(service.settings, service=service), service.settings) as server:
        try:
            r = httpx.post(
                f"{server.url}/documents",
                content=body(),
                headers={"content-type": "multipart/form-data; boundary=b"},
                timeout=30,
            )
            assert r.status_code == 413, r.text
        except httpx.HTTPError:
            pass  # the server may close the connection while the client still sends
        assert _search_ms(server.url) < 2000
    assert sent[0] < 20 * 2**20


def test_health_does_not_reveal_collections_when_reads_need_the_key(make_service) -> None:  # type: ignore[no-untyped-def]
    service = make_service(api_key="k", api_key_reads=True)
    client = TestClient(create_app(service.settings, service=service))
    assert (
        client.post("/collections", json={"name": "secret"}, headers={"Authorization": "Bearer k"}).status_code == 201
    )
    assert client.get("/health").status_code == 200  # probes stay open
    assert client.get("/health", params={"collection": "secret"}).status_code == 401
    assert client.get("/health", params={"collection": "nothing"}).status_code == 401
    assert (
        client.get("/health", params={"collection": "secret"}, headers={"Authorization": "Bearer k"}).status_code == 200
    )


def test_two_servers_on_one_index_see_each_others_writes(make_service, fake_embedder) -> None:  # type: ignore[no-untyped-def]
    a = make_service()
    b = QAService(a.settings, fake_embedder)
    b.start()
    for i in range(4):
        a.put(f"from-a-{i}.txt", f"Written through server A, note {i}.".encode())
    deadline = time.monotonic() + 5
    while len(b.index.manifest.documents) < 5 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert set(b.index.manifest.documents) == {SEED.name, *(f"from-a-{i}.txt" for i in range(4))}
    assert b.search("Written through server A note 3", 1, "lexical").results[0].doc_id == "from-a-3.txt"
