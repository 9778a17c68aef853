"""On Milvus a machine's docs folder is one replica's copy: a plain `qa index` refuses a folder that differs from
what Milvus holds (unless --from-folder), and a local `qa ask` / `qa search` only reads the collection, so neither
deletes what another replica wrote nor brings back what it deleted. The local backend still syncs its folder.

The real model and real milvus-lite; the CLI runs in this process (click's runner) over the session's model, with
"another replica" a second service on the same milvus-lite file, as in ``test_milvus_replicas.py``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from conftest import SEED, seed_service

pytest.importorskip("pymilvus", reason="the milvus extra is not installed: pip install -e '.[milvus]'")
pytest.importorskip("milvus_lite", reason="the milvus extra is not installed: pip install -e '.[milvus]'")

from qa import cli
from qa.index.milvus.collection import Collection
from qa.index.milvus.records import read_all
from qa.service.core import QAService

pytestmark = pytest.mark.slow  # milvus-lite

ROBOTS = (
    "崂山机器人馆十月十八日开馆，展出工业机器人和服务机器人。\n\n馆内还有一个为孩子们准备的编程教室，周末免费开放。"
)
Run = Callable[..., Result]


@pytest.fixture
def qa(tmp_path: Path, real_embedder: Any, monkeypatch: pytest.MonkeyPatch) -> Run:
    """``qa(*args, **env)``: the `qa` command as replica a (folder ``tmp_path/a/docs``) runs it, on Milvus unless
    ``QA_BACKEND`` says otherwise; exit code, stdout and stderr in the result."""
    monkeypatch.setattr(cli, "_open_service", lambda settings: QAService.open(settings, real_embedder))
    monkeypatch.setattr(cli.logs, "configure", lambda *a, **k: None)  # the test run's logging stays as it is
    env = {
        "QA_BACKEND": "milvus",
        "QA_MILVUS_URI": str(tmp_path / "milvus.db"),
        "QA_DOCS_DIR": str(tmp_path / "a" / "docs"),
        "QA_INDEX_DIR": str(tmp_path / "a" / "index"),
        "QA_COLLECTIONS_DIR": str(tmp_path / "a" / "collections"),
        "QA_MIN_RELEVANCE": "0",  # which documents answer is the claim here, not how sure the answer is
    }

    def run(*args: str, **more: str) -> Result:
        return CliRunner().invoke(cli.main, list(args), env={**env, **more})

    return run


def held(service: QAService) -> dict[str, str]:
    """What Milvus holds: each document's version (a new one for every write)."""
    return read_all(service.writer.collection)[1]  # type: ignore[attr-defined]


def found(result: Result) -> set[str]:
    assert result.exit_code == 0, result.stderr
    return {hit["doc_id"] for hit in json.loads(result.stdout)["results"]}


def test_another_replicas_writes_survive_a_plain_index_and_local_reads_until_the_folder_is_made_the_truth(
    tmp_path: Path, real_embedder: Any, qa: Run
) -> None:
    milvus = {"backend": "milvus", "milvus_uri": str(tmp_path / "milvus.db")}
    seed_service(tmp_path / "a", real_embedder, **milvus)  # a's folder holds the seed article, as Milvus did
    b = seed_service(tmp_path / "b", real_embedder, **milvus)
    b.put("robots.txt", ROBOTS.encode())  # through replica b: a's folder never sees it
    b.delete(SEED.name)  # and deleted through b: a's folder still holds it
    before = held(b)
    assert set(before) == {"robots.txt"}

    refused = qa("index")
    assert refused.exit_code == 1
    assert "1 document stored there is missing from this folder (robots.txt)" in refused.stderr
    assert f"1 document in this folder is not stored there (deleted through another replica?) ({SEED.name})" in (
        refused.stderr
    )
    assert "nothing was written" in refused.stderr and "`qa add` / `qa delete`" in refused.stderr
    assert "`qa index --from-folder`" in refused.stderr and "Traceback" not in refused.output
    assert held(b) == before

    assert found(qa("search", "机器人馆什么时候开馆？", "--json")) == {"robots.txt"}  # the seed is not brought back
    asked = qa("ask", "机器人馆什么时候开馆？", "--json")
    assert asked.exit_code == 0, asked.stderr
    assert "十月十八日" in json.loads(asked.stdout)["answer"]["text"]
    assert held(b) == before  # reading changed nothing, not even a version

    made = qa("index", "--from-folder", "--json")  # the folder made the truth: it wins
    assert made.exit_code == 0, made.stderr
    assert json.loads(made.stdout) | {"chunks": 0, "embedded": 0} == {
        "added": 1,
        "changed": 0,
        "removed": 1,
        "unchanged": 0,
        "chunks": 0,
        "embedded": 0,
    }
    assert set(held(b)) == {SEED.name}
    again = qa("index", "--json")  # a folder that agrees syncs as before: nothing to do
    assert again.exit_code == 0, again.stderr
    assert json.loads(again.stdout)["unchanged"] == 1 and json.loads(again.stdout)["embedded"] == 0


def test_a_local_read_of_a_missing_collection_says_so_and_builds_nothing(tmp_path: Path, qa: Run) -> None:
    (tmp_path / "a" / "docs").mkdir(parents=True)
    (tmp_path / "a" / "docs" / "robots.txt").write_text(ROBOTS, encoding="utf-8")
    for verb in ("search", "ask"):
        missing = qa(verb, "机器人馆什么时候开馆？", QA_MILVUS_COLLECTION="qa_elsewhere")
        assert missing.exit_code == 1
        assert "no Milvus collection 'qa_elsewhere'" in missing.stderr and "`qa index`" in missing.stderr
        assert "they never build it" in missing.stderr
    elsewhere = {"backend": "milvus", "milvus_uri": str(tmp_path / "milvus.db"), "milvus_collection": "qa_elsewhere"}
    assert not Collection(cli.load_settings(**elsewhere)).exists()
    built = qa("index", QA_MILVUS_COLLECTION="qa_elsewhere")  # what the message says to do
    assert built.exit_code == 0, built.stderr
    assert found(qa("search", "机器人馆什么时候开馆？", "--json", QA_MILVUS_COLLECTION="qa_elsewhere")) == {
        "robots.txt"
    }


def test_a_local_read_still_brings_the_local_index_up_to_date_from_its_folder(tmp_path: Path, qa: Run) -> None:
    local = {"QA_BACKEND": "local"}
    (tmp_path / "a" / "docs").mkdir(parents=True)
    (tmp_path / "a" / "docs" / SEED.name).write_bytes(SEED.read_bytes())
    assert qa("index", **local).exit_code == 0
    (tmp_path / "a" / "docs" / "robots.txt").write_text(ROBOTS, encoding="utf-8")  # dropped in by hand
    assert "robots.txt" in found(qa("search", "机器人馆什么时候开馆？", "--json", **local))
