"""`qa serve` as a real process on a free 127.0.0.1 port, building its index on first start."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import httpx
import pytest

from conftest import SEED, seed_service
from servers import free_port, offline_env, qa_command, qa_serve

pytestmark = pytest.mark.slow


def test_qa_serve_builds_the_index_and_answers(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / SEED.name).write_bytes(SEED.read_bytes())
    with qa_serve(docs, tmp_path / "index") as (url, health):
        assert health["status"] == "ok" and health["documents"] == 1
        r = httpx.post(url + "/search", json={"query": "青岛市虚拟现实产业园规划面积有多大?", "top_k": 3}, timeout=30)
        assert r.status_code == 200
        assert "1969亩" in r.json()["results"][0]["text"]
        assert httpx.post(url + "/search", json={"query": " "}, timeout=30).status_code == 422
        assert (tmp_path / "index" / "CURRENT").exists()


def test_a_damaged_index_stops_the_start_with_the_remedy(tmp_path: Path, real_embedder) -> None:  # type: ignore[no-untyped-def]
    from qa.index import store

    docs = seed_service(tmp_path, real_embedder).settings.docs_dir
    index_dir = tmp_path / "index"
    commit = json.loads(store.current_path(index_dir).read_text())
    packed = index_dir / commit["segments"][0]["name"]  # the seed article's segment is one file
    packed.write_bytes(packed.read_bytes()[:100])  # truncated, as by a full disk
    proc = subprocess.run(
        qa_command("serve", "--docs", str(docs), "--index", str(tmp_path / "index"), "--port", str(free_port())),
        capture_output=True,
        env=offline_env(),
        timeout=240,
    )
    err = proc.stderr.decode()
    assert proc.returncode == 1
    assert "qa index --rebuild" in err and "Traceback" not in err


def test_qa_add_indexes_files_as_one_change(tmp_path: Path, real_embedder) -> None:  # type: ignore[no-untyped-def]
    docs = seed_service(tmp_path, real_embedder).settings.docs_dir
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    (incoming / "ferry.md").write_text("# Ferry\n\nThe ferry to Huangdao leaves at noon.", encoding="utf-8")
    (incoming / "tram.txt").write_text("The tram depot is in Licang district.", encoding="utf-8")
    (incoming / "scan.pdf").write_bytes(b"%PDF-1.7 truncated")
    proc = subprocess.run(
        qa_command(
            "add",
            "--docs",
            str(docs),
            "--index",
            str(tmp_path / "index"),
            "--metadata",
            '{"src": "cli"}',
            "--json",
            *(str(incoming / n) for n in ("ferry.md", "tram.txt", "scan.pdf")),
        ),
        capture_output=True,
        env=offline_env(),
        timeout=240,
    )
    assert proc.returncode == 1, proc.stderr.decode()  # one file was refused
    out = json.loads(proc.stdout)
    assert [d["status"] for d in out["documents"]] == [201, 201, 400] and out["index"]["added"] == 2
    assert (docs / "ferry.md").exists() and not (docs / "scan.pdf").exists()
    service = seed_service(tmp_path, real_embedder)  # reopens the same folders
    assert service.search("When does the ferry to Huangdao leave?", top_k=1).results[0].doc_id == "ferry.md"
    assert service.index.manifest.documents["tram.txt"].metadata == {"src": "cli"}
