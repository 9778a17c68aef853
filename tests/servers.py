"""Real servers on 127.0.0.1 for tests where the network matters: uvicorn in a thread, or `qa serve` as a process."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import uvicorn
from fastapi import FastAPI

from qa.api import server
from qa.config import Settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ThreadedServer:
    """A real uvicorn serving ``app`` on a free port, in a thread of the test process (so it can share the loaded model)."""

    def __init__(self, app: FastAPI, settings: Settings | None = None) -> None:
        """With ``settings``, the limits of ``qa serve`` (qa.api.server) apply; without, plain uvicorn."""
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        if settings is not None:
            config = server.config(
                app, settings.model_copy(update={"host": "127.0.0.1", "port": self.port}), log_level="warning"
            )
        else:
            config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> ThreadedServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


def qa_command(*args: str) -> list[str]:
    return [str(Path(sys.executable).with_name("qa")), *args]


def offline_env() -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1"}


def wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 240) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = proc.stderr.read().decode()[-2000:] if proc.stderr else ""
            raise AssertionError(f"qa serve exited with {proc.returncode}: {err}")
        try:
            r = httpx.get(url + "/health", timeout=2)
            if r.status_code == 200:
                return r.json()
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise AssertionError("qa serve did not become healthy in time")


def stop(procs: list[subprocess.Popen], sig: int = signal.SIGTERM, timeout: float = 30) -> None:
    """Signal every process first, then wait for each (killed when it outlasts ``timeout``)."""
    for p in procs:
        p.send_signal(sig)
    for p in procs:
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()


@contextmanager
def qa_serve(docs: Path, index: Path) -> Iterator[tuple[str, dict]]:
    """`qa serve` as a process on a free port: yields its URL and first /health once healthy; stops it with Ctrl-C."""
    port = free_port()
    proc = subprocess.Popen(
        qa_command("serve", "--docs", str(docs), "--index", str(index), "--port", str(port)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=offline_env(),
    )
    url = f"http://127.0.0.1:{port}"
    try:
        yield url, wait_healthy(url, proc)
    finally:
        stop([proc], signal.SIGINT, timeout=20)


def wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    """Until something listens on ``port``; RuntimeError when ``proc`` exits or ``timeout`` passes first."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError(f"nothing listens on {port}") from None
            time.sleep(0.1)


@contextmanager
def milvus_lite_server(data_dir: Path) -> Iterator[str]:
    """`milvus-lite server`: one process owning the data, serving several clients over gRPC as a Milvus server does;
    yields its URI."""
    port = free_port()
    exe = Path(sys.executable).with_name("milvus-lite")
    proc = subprocess.Popen(
        [str(exe), "server", "--data-dir", str(data_dir), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_port(port, proc, timeout=60)
    except RuntimeError:
        proc.kill()
        raise RuntimeError("milvus-lite server did not start") from None
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop([proc], timeout=20)
