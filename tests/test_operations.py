"""Running qa as a service: /metrics scraped with Prometheus's own parser, request ids and the access log, and
the liveness and readiness probes, all over real uvicorn on 127.0.0.1 with the counting embedder."""

from __future__ import annotations

import io
import json
import logging
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from qa.api import create_app
from qa.encoder.batching import BatchingEmbedder
from qa.logs import ACCESS, JsonFormatter, TextFormatter
from qa.service.core import QAService

from conftest import CountingEmbedder, seed_service, wait_for_job
from servers import ThreadedServer

KEY = "s3cret-key"


def scrape(url: str, **headers: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of /metrics, parsed by prometheus_client's own parser: (name, labels) -> value."""
    r = httpx.get(url + "/metrics", headers=headers, timeout=10)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain; version=")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(r.text)
        for s in family.samples
    }


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture
def batching_service(tmp_path: Path) -> QAService:
    """The seed service with the counting embedder behind the real micro-batcher (whose metrics are scraped)."""
    return seed_service(tmp_path, BatchingEmbedder(CountingEmbedder(), wait_ms=0, cache_size=64))


@pytest.fixture
def served(batching_service: QAService) -> Iterator[ThreadedServer]:
    with ThreadedServer(create_app(batching_service.settings, service=batching_service)) as server:
        yield server


def test_metrics_count_requests_index_jobs_and_the_encoder(served: ThreadedServer) -> None:
    url = served.url
    for _ in range(2):  # the second is a cache hit
        assert httpx.post(url + "/search", json={"query": "虚拟现实产业园"}, timeout=10).status_code == 200
    for gate in (0.0, 1.0):  # nothing is below 0: an answer; everything is below 1: an abstention
        asked = httpx.post(url + "/ask", json={"question": "规划面积有多大?", "min_relevance": gate}, timeout=10)
        assert asked.status_code == 200 and (asked.json()["answer"] is None) == (gate == 1.0)
    doc = {"doc_id": "ferry.txt", "text": "The ferry to Huangdao leaves at noon. " * 5}
    assert httpx.post(url + "/documents", json=doc, timeout=30).status_code == 201
    assert httpx.delete(url + "/documents/ferry.txt", timeout=30).status_code == 200
    job = httpx.post(url + "/index/rebuild", timeout=10).json()
    assert wait_for_job(lambda: httpx.get(f"{url}/index/jobs/{job['id']}", timeout=10).json())["state"] == "succeeded"
    assert httpx.get(url + "/no/such/page", timeout=10).status_code == 404

    m = scrape(url)
    assert value(m, "qa_http_requests_total", method="POST", route="/search", status="200") == 2
    assert value(m, "qa_http_request_duration_seconds_count", method="POST", route="/search") == 2
    assert value(m, "qa_http_requests_total", method="DELETE", route="/documents/{doc_id}", status="200") == 1
    assert value(m, "qa_http_requests_total", method="GET", route="unmatched", status="404") == 1
    assert value(m, "qa_answers_total", outcome="answered") == 1
    assert value(m, "qa_answers_total", outcome="abstained") == 1
    default = {"collection": "default"}
    assert value(m, "qa_index_documents", **default) == 1
    passages = value(m, "qa_index_passages", **default)
    assert passages > 0 and value(m, "qa_index_windows", **default) >= passages
    assert value(m, "qa_index_segments", **default) >= 1
    assert value(m, "qa_index_commits_total", **default) >= 3  # the upload, the delete, the rebuild
    assert value(m, "qa_jobs", collection="default", kind="rebuild", state="succeeded") == 1
    assert value(m, "qa_jobs", collection="default", kind="rebuild", state="running") == 0
    assert value(m, "qa_encoder_queries_total", path="cached") >= 1
    assert value(m, "qa_encoder_queries_total", path="packed") + value(m, "qa_encoder_queries_total", path="lone") >= 2
    assert value(m, "qa_encoder_batch_size_count") >= 2
    assert ("qa_encoder_queries_in_flight", frozenset()) in m
    assert value(m, "process_resident_memory_bytes") > 0


def test_deleted_rows_show_until_a_merge(make_service: Any) -> None:
    service = make_service()
    service.writer.on_commit = None  # no background merge: the deleted rows stay in their segment
    service.put("a.txt", b"Alpha beta gamma. " * 10)
    service.put("a.txt", b"Delta epsilon. " * 10)  # the first version's rows are deleted, still stored
    with ThreadedServer(create_app(service.settings, service=service)) as server:
        m = scrape(server.url)
    assert value(m, "qa_index_deleted_rows", collection="default") >= 1
    assert value(m, "qa_index_segments", collection="default") >= 2


@pytest.mark.parametrize("reads_need_key", [False, True])
def test_metrics_are_guarded_like_reads(make_service: Any, reads_need_key: bool) -> None:
    service = make_service(api_key=KEY, api_key_reads=reads_need_key)
    with ThreadedServer(create_app(service.settings, service=service)) as server:
        bare = httpx.get(server.url + "/metrics", timeout=10)
        assert bare.status_code == (401 if reads_need_key else 200)
        wrong = httpx.get(server.url + "/metrics", headers={"Authorization": "Bearer nope"}, timeout=10)
        assert wrong.status_code == (403 if reads_need_key else 200)
        assert scrape(server.url, Authorization=f"Bearer {KEY}")


@pytest.fixture
def access_lines() -> Iterator[io.StringIO]:
    """The access log as qa.logs' JSON formatter writes it."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger(ACCESS)
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield out
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def test_every_response_has_a_request_id_and_one_json_access_line(
    served: ThreadedServer, access_lines: io.StringIO
) -> None:
    sent = httpx.get(served.url + "/documents/laoshan-vr-ai.txt", headers={"X-Request-ID": "trace-42.a"}, timeout=10)
    assert sent.status_code == 200 and sent.headers["x-request-id"] == "trace-42.a"
    fresh = httpx.get(served.url + "/health", timeout=10)
    assert re.fullmatch(r"[0-9a-f]{32}", fresh.headers["x-request-id"])
    hostile = httpx.get(served.url + "/health", headers={"X-Request-ID": 'a b"c'}, timeout=10)
    assert re.fullmatch(r"[0-9a-f]{32}", hostile.headers["x-request-id"])  # not echoed into the log: replaced
    refused = httpx.get(served.url + "/search?q=x&collection=nope", timeout=10)
    assert refused.status_code == 404 and refused.headers["x-request-id"]

    lines = [json.loads(line) for line in access_lines.getvalue().splitlines()]
    assert len(lines) == 4  # one per request
    first = lines[0]
    assert first["request_id"] == "trace-42.a" and first["logger"] == ACCESS and first["level"] == "info"
    assert first["method"] == "GET" and first["route"] == "/documents/{doc_id}"
    assert first["path"] == "/documents/laoshan-vr-ai.txt" and first["status"] == 200
    assert first["collection"] == "default" and first["duration_ms"] >= 0
    assert lines[1]["request_id"] == fresh.headers["x-request-id"]
    assert lines[3]["collection"] == "nope" and lines[3]["status"] == 404


def test_text_log_lines_carry_the_same_fields() -> None:
    record = logging.LogRecord(ACCESS, logging.INFO, __file__, 1, "GET / 200", None, None)
    record.request_id, record.status = "abc", 200
    assert TextFormatter().format(record) == "INFO qa.access: GET / 200 request_id=abc status=200"


def test_live_at_once_ready_once_loaded_and_warm(tmp_path: Path) -> None:
    """A server loading its index answers liveness, refuses the rest with 503 and the reason, then serves."""
    loaded = threading.Event()
    fake = CountingEmbedder()

    def load() -> QAService:
        loaded.wait(30)
        return seed_service(tmp_path, fake)

    settings = seed_service(tmp_path / "probe", fake).settings  # only for the app's own settings
    with ThreadedServer(create_app(settings, load=load)) as server:
        assert httpx.get(server.url + "/health/live", timeout=10).json() == {"status": "live"}
        ready = httpx.get(server.url + "/health/ready", timeout=10)
        assert ready.status_code == 503 and "loading" in ready.json()["detail"]
        search = httpx.get(server.url + "/search", params={"q": "x"}, timeout=10)
        assert search.status_code == 503 and "starting" in search.json()["detail"]
        assert httpx.get(server.url + "/metrics", timeout=10).status_code == 200  # scrapable while loading
        loaded.set()
        wait = httpx.Client(base_url=server.url, timeout=10)
        assert _eventually(lambda: wait.get("/health/ready").status_code == 200)
        assert wait.get("/health/ready").json() == {"status": "ready"}
        assert wait.get("/search", params={"q": "虚拟现实"}).status_code == 200


def test_a_failed_load_is_reported_by_the_probe_and_its_listener(make_settings: Any) -> None:
    from qa.errors import IndexCorrupt

    heard: list[BaseException] = []

    def load() -> QAService:
        raise IndexCorrupt("segment x is damaged; run `qa index --rebuild`")

    with ThreadedServer(create_app(make_settings(), load=load, on_error=heard.append)) as server:
        assert _eventually(lambda: heard)
        ready = httpx.get(server.url + "/health/ready", timeout=10)
        assert ready.status_code == 503 and "could not start: segment x is damaged" in ready.json()["detail"]
        assert httpx.get(server.url + "/health/live", timeout=10).status_code == 200


def _eventually(check: Any, timeout: float = 20) -> Any:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.05)
    return None


# ------------------------------------------------------------------ jobs across a restart

_KILLED_MID_REBUILD = """
import sys, threading, time
sys.path.insert(0, {tests!r})
from conftest import CountingEmbedder, seed_service
from pathlib import Path

class Stuck(CountingEmbedder):
    def encode_passages(self, texts):
        if threading.current_thread().name.startswith("job-"):
            time.sleep(3600)  # the rebuild hangs here until the process is killed
        return super().encode_passages(texts)

service = seed_service(Path({root!r}), Stuck())
job = service.start_rebuild()
while service.jobs.get(job.id).state != "running":
    time.sleep(0.01)
print(job.id, flush=True)
time.sleep(3600)
"""


@pytest.mark.slow
def test_a_job_running_when_the_process_died_is_interrupted_and_can_run_again(tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys

    script = _KILLED_MID_REBUILD.format(tests=str(Path(__file__).parent), root=str(tmp_path))
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        job_id = proc.stdout.readline().strip()
        assert job_id.startswith("job-")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)

    service = seed_service(tmp_path, CountingEmbedder())  # the restart: same folders, a new process's view
    with ThreadedServer(create_app(service.settings, service=service)) as server:
        job = httpx.get(f"{server.url}/index/jobs/{job_id}", timeout=10).json()
        assert job["state"] == "interrupted" and job["kind"] == "rebuild" and job["finished_at"]
        assert "stopped while this job ran" in job["error"] and "start it again" in job["error"]
        again = httpx.post(server.url + "/index/rebuild", timeout=10).json()  # not blocked by the interrupted one
        done = wait_for_job(lambda: httpx.get(f"{server.url}/index/jobs/{again['id']}", timeout=10).json())
        assert done["state"] == "succeeded" and done["result"]["chunks"] > 0
        m = scrape(server.url)
        assert value(m, "qa_jobs", collection="default", kind="rebuild", state="interrupted") == 1

    later = seed_service(tmp_path, CountingEmbedder())  # and again: both records, as they ended, with the result
    states = {j.id: (j.state, j.result) for j in later.jobs.list()}
    assert states[job_id] == ("interrupted", None)
    assert states[again["id"]] == ("succeeded", done["result"])
