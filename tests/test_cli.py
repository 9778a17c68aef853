"""The `qa` command as a user runs it, in real processes: mistakes are one line and a non-zero exit before anything
loads, `--url` drives a running server (real uvicorn) through qa.client, and `qa serve` binds before it indexes."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from qa.api import create_app

from conftest import SEED, seed_service
from servers import ThreadedServer, free_port, offline_env, qa_command

pytestmark = pytest.mark.slow  # every test runs `qa` as a process (each imports torch)


def qa(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        qa_command(*args),
        capture_output=True,
        text=True,
        env=env or offline_env(),
        timeout=300,
        stdin=subprocess.DEVNULL,
    )


def one_line_error(proc: subprocess.CompletedProcess[str], code: int = 1) -> str:
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), proc.stderr
    return lines[0]


# ------------------------------------------------------------------ mistakes, before anything loads


def test_a_missing_docs_folder_is_refused_and_nothing_is_built(tmp_path: Path) -> None:
    for command in ("index", "ask", "serve", "mcp", "rebuild"):
        args = [command, "question"] if command == "ask" else [command]
        line = one_line_error(qa(*args, "--docs", str(tmp_path / "nope"), "--index", str(tmp_path / "index")))
        assert "no documents folder" in line and "--allow-empty" in line, (command, line)
    assert not (tmp_path / "index").exists()


def test_an_empty_docs_folder_is_refused_unless_allowed(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "notes.xyz").write_text("not a format qa reads")
    line = one_line_error(qa("index", "--docs", str(docs), "--index", str(tmp_path / "index")))
    assert "holds no documents qa reads (.txt, .md" in line
    allowed = qa("index", "--docs", str(tmp_path / "new"), "--index", str(tmp_path / "index"), "--allow-empty")
    assert allowed.returncode == 0, allowed.stderr
    assert allowed.stdout.startswith("0 added, 0 changed, 0 removed, 0 unchanged; 0 chunks")


def test_bad_flags_and_settings_are_one_line(tmp_path: Path) -> None:
    assert "No such option '--frobnicate'" in one_line_error(qa("ask", "--frobnicate", "x"), code=2)
    assert "invalid port (QA_PORT)" in one_line_error(qa("serve", "--port", "99999"))
    assert "invalid url (QA_URL)" in one_line_error(qa("ask", "x", "--url", "ftp://example.org"))
    env = offline_env() | {"QA_CHUNK_OVERLAP": "5000"}
    assert "chunk_overlap (5000) must be smaller" in one_line_error(qa("index", "--docs", str(SEED.parent), env=env))


def test_a_taken_port_is_refused_before_the_index_is_built(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = one_line_error(
            qa("serve", "--docs", str(SEED.parent), "--index", str(tmp_path / "i"), "--port", str(port))
        )
    assert f"port {port} on 127.0.0.1 is taken" in line
    assert not (tmp_path / "i").exists()


def test_an_unreachable_server_is_one_line() -> None:
    line = one_line_error(qa("status", "--url", f"http://127.0.0.1:{free_port()}"))
    assert "cannot reach the qa server at http://127.0.0.1:" in line


# ------------------------------------------------------------------ --url: a running server


@pytest.fixture
def server(make_service: Any) -> Iterator[ThreadedServer]:
    service = make_service(api_key="k3y")
    with ThreadedServer(create_app(service.settings, service=service)) as s:
        yield s


def test_every_verb_works_through_a_running_server(server: ThreadedServer, tmp_path: Path) -> None:
    env = offline_env() | {"QA_URL": server.url, "QA_API_KEY": "k3y"}
    ferry = tmp_path / "ferry.md"
    ferry.write_text("# Ferry\n\nThe ferry to Huangdao leaves at noon.", encoding="utf-8")
    added = qa("add", str(ferry), "--metadata", '{"src": "cli"}', env=env)
    assert added.returncode == 0 and added.stdout == "ferry.md: added, 1 passage\n", added.stderr
    listed = qa("list", env=env).stdout.splitlines()
    assert listed[0] == 'ferry.md  1 passage  {"src": "cli"}' and listed[1].startswith("laoshan-vr-ai.txt  ")
    found = json.loads(qa("search", "ferry to Huangdao", "--mode", "lexical", "-k", "1", "--json", env=env).stdout)
    assert found["mode"] == "lexical" and found["results"][0]["doc_id"] == "ferry.md"
    asked = qa("ask", "When does the ferry leave?", "--mode", "lexical", "-k", "1", env=env)
    assert asked.returncode == 0 and asked.stdout.startswith("1. ferry.md, Ferry [0:") and "noon" in asked.stdout
    status = qa("status", env=env).stdout
    assert status.startswith(f"2 documents, 15 passages in {server.url}; model test:hash-embedder (16 dimensions)")
    assert qa("delete", "ferry.md", env=env).stdout == "ferry.md: deleted\n"
    missing = one_line_error(qa("delete", "ferry.md", env=env))
    assert "the server answered 404: no document 'ferry.md'" in missing
    rebuilt = qa("rebuild", env=env)
    assert rebuilt.returncode == 0 and rebuilt.stdout.startswith(
        "0 added, 0 changed, 0 removed, 1 unchanged; 14 chunks"
    )
    assert "401" in one_line_error(qa("rebuild", env=env | {"QA_API_KEY": ""}))


# ------------------------------------------------------------------ the real model


def test_ask_through_a_server_prints_what_ask_prints_here(tmp_path: Path, real_embedder: Any) -> None:
    service = seed_service(tmp_path, real_embedder)
    where = ["--docs", str(service.settings.docs_dir), "--index", str(service.settings.index_dir)]
    question = "青岛市虚拟现实产业园规划面积有多大?"
    with ThreadedServer(create_app(service.settings, service=service)) as s:
        remote = qa("ask", question, "-k", "3", "--url", s.url)
    local = qa("ask", question, "-k", "3", *where)
    assert remote.returncode == local.returncode == 0, (remote.stderr, local.stderr)
    assert remote.stdout == local.stdout and "1969亩" in remote.stdout


@pytest.mark.model  # in the `qa serve` it starts
def test_serve_binds_first_answers_liveness_then_readiness(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / SEED.name).write_bytes(SEED.read_bytes())
    port = free_port()
    proc = subprocess.Popen(
        qa_command("serve", "--docs", str(docs), "--index", str(tmp_path / "index"), "--port", str(port)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=offline_env(),
    )
    url = f"http://127.0.0.1:{port}"
    try:
        assert proc.stderr is not None
        first = next(line for line in proc.stderr if line.startswith("qa: "))  # uvicorn's own lines come first
        assert first.startswith(f"qa: serving on {url}; loading the index"), first
        # Said once bound: the port answers at once, liveness yes, readiness not yet (the model is loading).
        assert httpx.get(url + "/health/live", timeout=5).json() == {"status": "live"}
        early = httpx.get(url + "/health/ready", timeout=5)
        assert early.status_code == 503 and "qa is starting" in early.json()["detail"]
        deadline = time.monotonic() + 240
        while httpx.get(url + "/health/ready", timeout=5).status_code != 200:
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.5)
        r = httpx.get(url + "/search", params={"q": "青岛市虚拟现实产业园规划面积有多大?"}, timeout=30)
        assert "1969亩" in r.json()["results"][0]["text"]
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    rest = proc.stderr.read()
    assert "qa: 14 chunks from 1 document (" in rest and "Traceback" not in rest
