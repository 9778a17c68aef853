"""`qa serve` as a real process on a free 127.0.0.1 port, building its index on first start."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from conftest import SEED

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 240) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"qa serve exited with {proc.returncode}: {proc.stderr.read().decode()[-2000:]}")
        try:
            r = httpx.get(url + "/health", timeout=2)
            if r.status_code == 200:
                return r.json()
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise AssertionError("qa serve did not become healthy in time")


def test_qa_serve_builds_the_index_and_answers(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / SEED.name).write_bytes(SEED.read_bytes())
    port = _free_port()
    qa = Path(sys.executable).with_name("qa")
    proc = subprocess.Popen(
        [str(qa), "serve", "--docs", str(docs), "--index", str(tmp_path / "index"), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        health = _wait_healthy(url, proc)
        assert health["status"] == "ok" and health["documents"] == 1
        r = httpx.post(url + "/search", json={"query": "青岛市虚拟现实产业园规划面积有多大?", "top_k": 3}, timeout=30)
        assert r.status_code == 200
        assert "1969亩" in r.json()["results"][0]["text"]
        assert httpx.post(url + "/search", json={"query": " "}, timeout=30).status_code == 422
        assert (tmp_path / "index" / "CURRENT").exists()
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
