"""Hostile input, second pass: each attack of issue 25 reproduced over loopback with real files, bounded in time.

Every case checks the two halves of the promise: the hostile request gets a
readable 4xx (or 429/503 with Retry-After), and nobody else notices.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import socket
import subprocess
import threading
import time
from pathlib import Path

import hostile_files
import httpx
import pytest
from fastapi.testclient import TestClient

from qa.api import create_app
from qa.errors import IndexCorrupt
from qa.index import store
from qa.service.core import QAService

from conftest import CountingEmbedder, seed_service
from servers import ThreadedServer, free_port, offline_env, qa_command


def _read_all(sock: socket.socket) -> bytes:
    out = b""
    try:
        while chunk := sock.recv(65536):
            out += chunk
    except OSError:
        pass
    return out


def _serve(service):  # type: ignore[no-untyped-def]
    return ThreadedServer(create_app(service.settings, service=service), service.settings)


# ------------------------------------------------------------------ 6. converter errors
@pytest.mark.parametrize("kind", ["laughs", "deep"])
def test_a_malformed_docx_is_a_400_alone_and_the_connection_lives_on(make_service, kind: str) -> None:  # type: ignore[no-untyped-def]
    """The report: 500 MaybeEncodingError (lxml's error cannot cross processes), the whole bulk failed, connection reset."""
    service = make_service()
    bad, good = hostile_files.malformed_docx(kind), hostile_files.docx("Cranes lift containers in the harbour.")
    with _serve(service) as server, httpx.Client(base_url=server.url, timeout=60) as http:
        r = http.post("/documents", files={"file": ("bad.docx", bad)})
        assert r.status_code == 400 and "bad.docx" in r.json()["detail"], r.text
        files = [("file", ("bad.docx", bad)), ("file", ("good.docx", good))]
        r = http.post("/documents/bulk", files=files)
        assert r.status_code == 200, r.text
        assert [d["status"] for d in r.json()["documents"]] == [400, 201]
        assert http.get("/health").status_code == 200  # on the same keep-alive connection
    assert "good.docx" in service.index.manifest.documents and "bad.docx" not in service.index.manifest.documents


def test_the_folder_indexer_skips_a_malformed_docx_with_one_warning(make_service, caplog) -> None:  # type: ignore[no-untyped-def]
    service = make_service()
    (service.settings.docs_dir / "bad.docx").write_bytes(hostile_files.malformed_docx("deep"))
    (service.settings.docs_dir / "good.docx").write_bytes(hostile_files.docx())
    with caplog.at_level(logging.WARNING):
        report = service.writer.sync(rebuild=True)
    assert "good.docx" in report.added and "bad.docx" not in service.index.manifest.documents
    skipped = [r.getMessage() for r in caplog.records if "bad.docx" in r.getMessage()]
    assert len(skipped) == 1 and "\n" not in skipped[0], skipped


# ------------------------------------------------------------------ 3. one slow converter
@pytest.mark.slow
def test_one_slow_pdf_fails_alone_and_is_the_one_named(make_service) -> None:  # type: ignore[no-untyped-def]
    """The report: a 1,000-page PDF held the one converter; then 12 innocent uploads failed, each blamed for it."""
    service = make_service(convert_timeout=3)
    outcomes: dict[str, httpx.Response] = {}

    def upload(name: str, data: bytes) -> None:
        outcomes[name] = httpx.post(f"{server.url}/documents", files={"file": (name, data)}, timeout=120)

    with _serve(service) as server:
        slow = threading.Thread(target=upload, args=("slow.pdf", hostile_files.slow_pdf()))
        slow.start()
        innocent = [
            threading.Thread(target=upload, args=(f"innocent-{i}.pdf", hostile_files.pdf(f"Innocent report {i}.")))
            for i in range(12)
        ]
        for t in innocent:
            t.start()
        for t in [slow, *innocent]:
            t.join(120)
    assert outcomes["slow.pdf"].status_code == 400, outcomes["slow.pdf"].text
    assert "slow.pdf took longer than 3 s" in outcomes["slow.pdf"].json()["detail"]
    failed = {n: r.text for n, r in outcomes.items() if n != "slow.pdf" and r.status_code != 201}
    assert failed == {} and len(outcomes) == 13


# ------------------------------------------------------------------ also seen: two Host headers
def test_two_host_headers_are_a_400(make_service) -> None:  # type: ignore[no-untyped-def]
    """The report: with two Host headers the first counted, so a proxy routing by the other could be bypassed."""
    with _serve(make_service()) as server, socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: evil.example\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        reply = _read_all(sock)
    assert reply.startswith(b"HTTP/1.1 400"), reply[:200]
    assert b"2 Host headers" in reply


# ------------------------------------------------------------------ 9. the spec
def test_the_spec_validates_and_every_ref_resolves(make_service) -> None:  # type: ignore[no-untyped-def]
    """The report: the bulk body held '#/$defs/DocumentIn', which resolves nowhere; an empty file list was valid."""
    from openapi_spec_validator import validate

    service = make_service()
    spec = create_app(service.settings, service=service).openapi()
    validate(spec)
    for ref in set(re.findall(r'"\$ref": "([^"]+)"', json.dumps(spec))):
        node = spec
        for part in ref.removeprefix("#/").split("/"):
            node = node[part]
    bulk = spec["paths"]["/documents/bulk"]["post"]["requestBody"]["content"]
    assert bulk["multipart/form-data"]["schema"]["properties"]["file"]["minItems"] == 1


# ------------------------------------------------------------------ 7. memory-mapped term counts
@pytest.mark.parametrize("file", ["lexical/rows.npy", "lexical/counts.npy", "bridge/indptr.npy", "bridge/lengths.npy"])
def test_a_term_count_file_cut_short_is_a_503_not_a_sigbus(
    folder_segments, make_service, fake_embedder, file: str
) -> None:  # type: ignore[no-untyped-def]
    """The report: truncating lexical/rows.npy of a served segment killed the server at the next search (exit 135)."""
    service = QAService(make_service().settings, fake_embedder)
    service.start()  # serves the segment on disk, memory-mapped
    client = TestClient(create_app(service.settings, service=service))
    assert client.post("/search", json={"query": "虚拟现实", "mode": "lexical"}).status_code == 200
    path = service.settings.index_dir / service.index.segments[0].name / file
    os.truncate(path, 130)  # the header stays whole: only the data is gone
    for mode in ("lexical", "hybrid", "dense"):
        r = client.post("/search", json={"query": "virtual reality 虚拟现实", "mode": mode})
        assert r.status_code == 503 and "qa index --rebuild" in r.json()["detail"], (mode, r.text)
    with pytest.raises(IndexCorrupt, match=f"{Path(file).name} is 130 bytes; its header says"):
        QAService(service.settings, fake_embedder).writer.load()  # checked before it is mapped at start-up too


# ------------------------------------------------------------------ 10. start-up on a damaged index
@pytest.mark.slow
def test_start_up_on_a_damaged_index_exits_1_never_134(tmp_path: Path, real_embedder) -> None:  # type: ignore[no-untyped-def]
    """The report: the remedy was printed, then 'terminate called without an active exception' and exit 134.

    The dictionary of English glosses was built by a thread started before the
    index was opened; a damaged index ended the process while that thread was
    in C++, which aborts. The failure came at random (2 starts in 3), so the start is tried twice.
    """
    docs = seed_service(tmp_path, real_embedder).settings.docs_dir
    (tmp_path / "index" / store.CURRENT).write_text("commit-that-is-gone")
    for _ in range(2):
        proc = subprocess.run(
            qa_command("serve", "--docs", str(docs), "--index", str(tmp_path / "index"), "--port", str(free_port())),
            capture_output=True,
            env=offline_env(),
            timeout=240,
        )
        err = proc.stderr.decode()
        assert proc.returncode == 1, err[-500:]
        # The server binds and logs its start first (docs/operations.md), then the load fails: one error line, last.
        errors = [line for line in err.strip().splitlines() if not line.startswith(("INFO ", "qa: serving on"))]
        assert len(errors) == 1 and "qa index --rebuild" in errors[0] and "terminate" not in err, err[-800:]


def test_a_rebuild_over_a_file_at_the_index_path_says_what_to_remove(make_service, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The report: with the index path a regular file, `qa index --rebuild` died on FileExistsError."""
    service = make_service(index_dir=tmp_path / "not-a-folder")
    in_the_way = tmp_path / "a-file"
    in_the_way.write_text("someone's notes")
    broken = QAService(service.settings.model_copy(update={"index_dir": in_the_way}), service.embedder)
    for attempt in (broken.writer.load, lambda: broken.writer.sync(rebuild=True)):
        with pytest.raises(IndexCorrupt, match="a-file is a file, so no index can be written there; remove it"):
            attempt()
    assert in_the_way.read_text() == "someone's notes"


# ------------------------------------------------------------------ 1. slow bodies
def _slow_body(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port))
    head = b"POST /search HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
    sock.sendall(head + b"{")
    return sock


@pytest.mark.slow
def test_a_slow_body_flood_locks_nobody_out_and_every_answer_is_json(make_service) -> None:  # type: ignore[no-untyped-def]
    """The report: ~1,100 connections sending one body byte every 5 s; everyone else got plain-text 503s."""
    service = make_service(max_connections=120, max_idle_connections=40, request_timeout=4, read_timeout=30)
    with _serve(service) as server:
        flood = [_slow_body(server.port) for _ in range(300)]  # over both limits, as the ~1,100 were over the defaults
        answers = []
        with httpx.Client(base_url=server.url, timeout=10) as http:
            for _ in range(20):
                for sock in flood[-40:]:  # the newest trickle on: each byte well inside QA_READ_TIMEOUT
                    with contextlib.suppress(OSError):
                        sock.sendall(b" ")
                answers.append(http.post("/search", json={"query": "虚拟现实", "mode": "lexical"}))
                time.sleep(0.1)
        closed = []
        for sock in flood:
            sock.settimeout(8)  # QA_REQUEST_TIMEOUT ends even a steady trickle
            closed.append(_read_all(sock))
            sock.close()
    assert [r.status_code for r in answers] == [200] * 20
    assert all(c == b"" or (c.startswith(b"HTTP/1.1 408") and b'"detail"' in c) for c in closed), {
        c[:40] for c in closed
    }
    assert any(b"this one started longest ago" in c for c in closed)  # evicted: told why, in JSON
    assert any(b"did not arrive whole within 4 seconds" in c for c in closed)  # the trickle ran out of time


def test_past_max_connections_the_answer_is_json_with_retry_after(make_service) -> None:  # type: ignore[no-untyped-def]
    service = make_service(max_connections=5)
    with _serve(service) as server:
        held = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(8)]
        time.sleep(0.2)
        r = httpx.get(server.url + "/health", timeout=10)
        for sock in held:
            sock.close()
    assert r.status_code == 503 and r.headers["retry-after"] == "1" and "too many connections" in r.json()["detail"]


# ------------------------------------------------------------------ 4, 5. big bodies
def _reads_during(url: str, attack) -> tuple[list[int], float]:  # type: ignore[no-untyped-def]
    """Statuses of searches sent while ``attack()`` runs in a thread, and the slowest one in ms."""
    statuses, slowest = [], 0.0
    worker = threading.Thread(target=attack)
    with httpx.Client(base_url=url, timeout=60) as http:
        assert http.post("/search", json={"query": "虚拟现实", "mode": "lexical"}).status_code == 200  # warm
        worker.start()
        while worker.is_alive() or not statuses:
            started = time.monotonic()
            statuses.append(http.post("/search", json={"query": "虚拟现实", "mode": "lexical"}).status_code)
            slowest = max(slowest, (time.monotonic() - started) * 1000)
    worker.join(60)
    return statuses, slowest


@pytest.mark.slow
def test_a_60_mb_search_is_refused_before_it_is_read(make_service) -> None:  # type: ignore[no-untyped-def]
    """The report: a 10-million-item doc_id filter was accepted; readers' p99 18 s, RSS 2.6 GB."""
    service = make_service()
    ids = ",".join(f'"doc-{i:07d}.txt"' for i in range(4_000_000))
    body = ('{"query": "虚拟现实", "filter": {"doc_id": [' + ids + "]}}").encode()
    assert len(body) > 60_000_000
    answers: list[httpx.Response] = []

    def attack() -> None:
        headers = {"content-type": "application/json"}
        answers.append(httpx.post(server.url + "/search", content=body, headers=headers, timeout=60))

        def chunked():  # type: ignore[no-untyped-def]
            for k in range(0, len(body), 1 << 20):
                yield body[k : k + (1 << 20)]

        answers.append(httpx.post(server.url + "/search", content=chunked(), headers=headers, timeout=60))

    with _serve(service) as server:
        statuses, slowest = _reads_during(server.url, attack)
    assert [r.status_code for r in answers] == [413, 413], [r.text[:200] for r in answers]
    assert all("larger than this endpoint takes" in r.json()["detail"] for r in answers)
    assert set(statuses) == {200} and slowest < 2000, slowest


def test_a_bulk_of_two_million_entries_is_counted_before_it_is_validated(make_service) -> None:  # type: ignore[no-untyped-def]
    """The report: 2 million tiny entries (49.6 MB) were validated on the event loop for 30-79 s before the count check."""
    service = make_service()
    body = b'{"documents": [' + b",".join([b'{"text":"x"}'] * 2_000_000) + b"]}"
    answers: list[httpx.Response] = []

    def attack() -> None:
        answers.append(
            httpx.post(
                server.url + "/documents/bulk", content=body, headers={"content-type": "application/json"}, timeout=60
            )
        )

    with _serve(service) as server:
        statuses, slowest = _reads_during(server.url, attack)
    assert answers[0].status_code == 413 and "at most 100" in answers[0].json()["detail"], answers[0].text[:300]
    assert set(statuses) == {200} and slowest < 2000, slowest


# ------------------------------------------------------------------ 2. work before the write gate
class SlowEmbedder(CountingEmbedder):
    """Passages that contain SLOW take ``delay`` seconds to embed, as 30 KB does with the real model on a busy box."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay

    def encode_passages(self, texts):  # type: ignore[no-untyped-def]
        if any("SLOW" in t for t in texts):
            time.sleep(self.delay)
        return super().encode_passages(texts)


@pytest.mark.slow
def test_many_bulk_writes_are_queued_or_told_to_retry_and_reads_stay_fast(make_service) -> None:  # type: ignore[no-untyped-def]
    """The report: 45 concurrent bulk requests held every pool thread preparing and embedding; a search took 100 s."""
    service = make_service(SlowEmbedder(delay=0.5), write_workers=2, max_queued_writes=8, write_timeout=120)
    text = "SLOW harbour crane log. " * 1250  # 30 KB
    answers: list[httpx.Response] = []

    def bulk(i: int) -> None:
        body = {"documents": [{"doc_id": f"bulk-{i}.txt", "text": text + str(i)}]}
        answers.append(httpx.post(server.url + "/documents/bulk", json=body, timeout=120))

    def attack() -> None:
        threads = [threading.Thread(target=bulk, args=(i,)) for i in range(45)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)

    with _serve(service) as server:
        statuses, slowest = _reads_during(server.url, attack)
    assert set(statuses) == {200} and slowest < 2000, slowest
    codes = sorted(r.status_code for r in answers)
    assert set(codes) == {200, 429} and codes.count(200) >= 10, codes
    assert all(r.headers["retry-after"].isdigit() for r in answers if r.status_code == 429)
    landed = {r.json()["documents"][0]["doc_id"] for r in answers if r.status_code == 200}
    assert landed <= set(service.index.manifest.documents)  # nothing accepted was lost


# ------------------------------------------------------------------ 8. a large document
def _words(n: int, seed: int = 1) -> str:
    import random

    rng = random.Random(seed)
    vocabulary = "harbour crane lifts containers at dawn the ship port of Qingdao steel rope tide pier".split()
    return " ".join(rng.choice(vocabulary) for _ in range(n))


@pytest.mark.slow
def test_a_large_document_holds_the_writer_only_to_commit(make_service) -> None:  # type: ignore[no-untyped-def]
    """The report: a 9.5 MB one-line PUT held the writer 85 s (its HNSW graph and term counts were built under the
    lock), and small writes got 409 after 30 s."""
    service = make_service(index_type="hnsw", hnsw_ef_construction=200, write_timeout=3, max_sync_windows=64)
    big = _words(400_000)  # one line, ~2.5 MB, ~35,000 windows: its graph takes seconds to build
    with _serve(service) as server, httpx.Client(base_url=server.url, timeout=120) as http:
        r = http.put("/documents/big.txt", json={"text": big})
        assert r.status_code == 202, r.text
        job, small = r.json()["id"], []
        while (state := http.get(f"/index/jobs/{job}").json())["state"] in ("queued", "running"):
            started = time.monotonic()
            r = http.put(f"/documents/small-{len(small)}.txt", json={"text": f"Crane log entry {len(small)}."})
            small.append((r.status_code, time.monotonic() - started))
            time.sleep(0.2)
    assert state["state"] == "succeeded", state
    assert len(small) >= 3 and all(code == 201 for code, _ in small), small
    assert {"big.txt", *(f"small-{i}.txt" for i in range(len(small)))} <= set(service.index.manifest.documents)


def test_repeated_windows_are_stored_once(make_service) -> None:  # type: ignore[no-untyped-def]
    """The report: 5 MB of one repeated phrase made a 156 MB vectors.faiss, 30 times the upload."""
    service = make_service()
    phrase = "The harbour crane lifts containers at dawn. "
    service.put("repeated.txt", (phrase * 20_000).encode())
    rows = service.index.doc_rows("repeated.txt")
    vectors, _ = service.index.window_vectors(rows)
    assert len(vectors) == len(rows)  # one window a passage, not the ~11 its text repeats
