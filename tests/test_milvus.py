"""QA_BACKEND=milvus against real milvus-lite: writes embed only their document, rebuilds switch an alias under
live searches, a second service follows a first one's writes, and bad settings fail at start in one line.

Skipped, saying why, where the ``milvus`` extra (pymilvus, milvus-lite) is not installed; CI installs it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from conftest import SEED, TEST_HOSTS, CountingEmbedder, seed_service
from servers import free_port, milvus_lite_server, offline_env, qa_command, stop, wait_healthy

pytest.importorskip("pymilvus", reason="the milvus extra is not installed: pip install -e '.[milvus]'")
pytest.importorskip("milvus_lite", reason="the milvus extra is not installed: pip install -e '.[milvus]'")

from qa.config import Settings
from qa.errors import BackendUnavailable, ModelMismatch
from qa.index.chunking import chunk_document, embedding_windows
from qa.index.milvus.view import MilvusView
from qa.search.filters import equals
from qa.service.catalog import Catalog
from qa.service.core import QAService

pytestmark = pytest.mark.slow  # milvus-lite starts a server per test

ROBOTS = (
    "崂山机器人馆十月十八日开馆，展出工业机器人和服务机器人。\n\n馆内还有一个为孩子们准备的编程教室，周末免费开放。"
)


def milvus(tmp_path: Path, **extra: object) -> dict[str, object]:
    return {"backend": "milvus", "milvus_uri": str(tmp_path / "milvus.db"), **extra}


def windows_of(doc_id: str, text: str, settings: Settings) -> int:
    params = settings.chunk_params
    return sum(len(embedding_windows(c, params)) for c in chunk_document(doc_id, text, params))


def count(service: QAService, expr: str) -> int:
    collection = service.writer.collection  # type: ignore[attr-defined]
    return sum(1 for _ in collection.query(expr, ["id"]))


def test_add_replace_and_delete_embed_only_that_document(tmp_path: Path) -> None:
    embedder = CountingEmbedder()
    service = seed_service(tmp_path, embedder, **milvus(tmp_path))
    assert isinstance(service.index, MilvusView)
    seed_chunks = service.index.live_size
    assert seed_chunks > 1 and count(service, "kind == 0") == embedder.passages_embedded

    before = embedder.passages_embedded
    change = service.put("robots.txt", ROBOTS.encode(), {"lang": "zh"})
    assert change.created and change.report.added == ["robots.txt"]
    assert embedder.passages_embedded - before == windows_of("robots.txt", ROBOTS, service.settings)
    hits = service.search("机器人馆什么时候开馆", 3, "lexical").results
    assert hits[0].doc_id == "robots.txt" and hits[0].metadata == {"lang": "zh"}
    dense = service.search("x", 3, "dense", where=equals({"lang": "zh"})).results
    assert {h.doc_id for h in dense} == {"robots.txt"}  # the filter reaches Milvus' search

    # Metadata only: nothing is embedded, the stored vectors move with it.
    before = embedder.passages_embedded
    service.put("robots.txt", ROBOTS.encode(), {"lang": "en"})
    assert embedder.passages_embedded == before
    assert service.search("机器人馆", 1, "lexical").results[0].metadata == {"lang": "en"}

    replaced = "青岛啤酒节在八月举行。"
    service.put("robots.txt", replaced.encode())
    assert count(service, 'kind == 0 and doc_id == "robots.txt"') == windows_of(
        "robots.txt", replaced, service.settings
    )
    assert "机器人" not in "".join(
        h.text for h in service.search("机器人馆", 5, "hybrid").results if h.doc_id == "robots.txt"
    )

    service.writer.delete("robots.txt")
    assert count(service, 'doc_id == "robots.txt"') == 0
    assert "robots.txt" not in service.index.manifest.documents
    assert all(h.doc_id != "robots.txt" for h in service.search("啤酒节", 5, "hybrid").results)
    assert service.index.live_size == seed_chunks


def test_a_restarted_process_serves_the_collection_without_embedding(tmp_path: Path) -> None:
    """A new process reopens the milvus-lite file (which starts unloaded) and serves it as it was."""
    code = (
        "import sys; sys.path.insert(0, {tests!r})\n"
        "from pathlib import Path\n"
        "from conftest import CountingEmbedder, seed_service\n"
        "s = seed_service(Path({root!r}), CountingEmbedder(), backend='milvus', milvus_uri={db!r})\n"
        "print(s.stats()['chunks'], s.search('虚拟现实', 1, 'hybrid').results[0].doc_id, s.writer.embedder.passages_embedded)"
    ).format(tests=str(Path(__file__).parent), root=str(tmp_path), db=str(tmp_path / "milvus.db"))
    runs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120) for _ in range(2)]
    (chunks, top, embedded), (chunks2, top2, embedded2) = (r.stdout.split() for r in runs)
    assert (chunks2, top2) == (chunks, top) == (chunks, SEED.name) and int(embedded) > 0 and embedded2 == "0"


def test_rankings_match_the_local_store(tmp_path: Path) -> None:
    """Same documents, same vectors: both backends rank every mode alike (scores to float32 rounding)."""
    embedder = CountingEmbedder()
    local = seed_service(tmp_path / "local", embedder)
    remote = seed_service(tmp_path / "milvus", embedder, **milvus(tmp_path))
    for service in (local, remote):
        service.put("robots.txt", ROBOTS.encode(), {"lang": "zh"})
    for query in ("虚拟现实产业", "机器人馆什么时候开馆", "Laoshan robots"):
        for mode in ("dense", "lexical", "hybrid"):
            a = local.search(query, 8, mode).results  # type: ignore[arg-type]
            b = remote.search(query, 8, mode).results  # type: ignore[arg-type]
            assert [h.chunk_id for h in a] == [h.chunk_id for h in b], (query, mode)
            assert np.allclose([h.score for h in a], [h.score for h in b], atol=1e-5)
    a, b = local.ask("机器人馆什么时候开馆"), remote.ask("机器人馆什么时候开馆")
    assert a.answer == b.answer


@pytest.mark.parametrize("lexical", ["process", "milvus"])
def test_a_rebuild_fills_a_new_collection_and_searches_never_fail(tmp_path: Path, lexical: str) -> None:
    """Searches during two rebuilds all find the passage: a view searches the collection it was read from, not
    the alias (with BM25 in Milvus, a view reading the new collection's windows through the alias kept none of
    them, as their versions were not its records')."""
    service = seed_service(tmp_path, CountingEmbedder(), **milvus(tmp_path, milvus_lexical=lexical))
    collection = service.writer.collection  # type: ignore[attr-defined]
    first = collection.behind()
    errors: list[BaseException] = []
    stop = threading.Event()
    searched = 0

    def search() -> None:
        nonlocal searched
        while not stop.is_set():
            try:
                assert service.search("虚拟现实", 3, "hybrid").results
                searched += 1
            except BaseException as exc:  # noqa: BLE001 - any failure is the test's failure
                errors.append(exc)

    threads = [threading.Thread(target=search) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        for _ in range(2):
            report = service.writer.sync(rebuild=True)
            assert report.embedded > 0
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not errors and searched > 0
    assert collection.behind() not in (None, first)
    # The collection a rebuild replaced stays for searches that resolved the alias before the switch, then goes.
    names = [n for n in collection.client.list_collections() if n.startswith("qa_default_") and len(n) == 19]
    assert len(names) == 2 and first not in names


def test_a_second_service_follows_the_first_ones_writes(tmp_path: Path) -> None:
    """Two services on one collection (as two processes would be): what one writes the other finds, no restart."""
    a = seed_service(tmp_path / "a", CountingEmbedder(), **milvus(tmp_path))
    b = seed_service(tmp_path / "b", CountingEmbedder(), **milvus(tmp_path))
    b.live._every = 0.0  # look at every search rather than once a second, so the test need not wait
    embedded = b.writer.embedder.passages_embedded  # type: ignore[attr-defined]
    a.put("robots.txt", ROBOTS.encode())
    assert b.search("机器人馆", 1, "lexical").results[0].doc_id == "robots.txt"
    only_robots = equals({"doc_id": ["robots.txt"]})
    assert b.search("机器人馆", 3, "dense", where=only_robots).results  # its vectors, found through b's view
    a.writer.delete("robots.txt")
    assert all(h.doc_id != "robots.txt" for h in b.search("机器人馆", 5, "hybrid").results)
    assert b.writer.embedder.passages_embedded == embedded  # following reads passages, never embeds  # type: ignore[attr-defined]
    # b's folder never held robots.txt: opening b again must not "sync" a's documents away.
    b2 = QAService(b.settings, CountingEmbedder())
    a.put("robots.txt", ROBOTS.encode())
    b2.start()
    assert "robots.txt" in b2.index.manifest.documents


def test_collections_live_in_milvus_and_go_with_their_collection(tmp_path: Path) -> None:
    settings = Settings(
        docs_dir=tmp_path / "docs",
        index_dir=tmp_path / "index",
        collections_dir=tmp_path / "c",
        **milvus(tmp_path),
        **TEST_HOSTS,
    )
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / SEED.name).write_bytes(SEED.read_bytes())
    catalog = Catalog(settings, CountingEmbedder())
    catalog.get().writer.ensure()
    service = catalog.create("my-notes")
    service.put("robots.txt", ROBOTS.encode())
    client = service.writer.collection.client  # type: ignore[attr-defined]
    assert client.has_collection("qa_default__myDnotes")
    assert "my-notes" in catalog.names() and catalog.info("my-notes").documents == 1
    catalog.delete("my-notes")
    assert not client.has_collection("qa_default__myDnotes")
    assert not any(n.startswith("qa_default__myDnotes") for n in client.list_collections())
    assert catalog.info("default").documents == 1


# ------------------------------------------------------------ bad settings fail at start, in one line
def test_an_unreachable_milvus_fails_at_start_naming_the_setting(tmp_path: Path) -> None:
    for uri in ("http://127.0.0.1:1", str(tmp_path / "missing" / "x.db"), "ftp://example.org"):
        with pytest.raises(BackendUnavailable) as err:
            QAService(
                Settings(docs_dir=tmp_path, index_dir=tmp_path / "i", backend="milvus", milvus_uri=uri),
                CountingEmbedder(),
            )
        assert "QA_MILVUS_URI" in str(err.value) and "\n" not in str(err.value)


class OtherModel(CountingEmbedder):
    name, dim = "test:other-model", 8


def test_a_collection_of_another_model_or_dimension_is_refused(tmp_path: Path) -> None:
    seed_service(tmp_path, CountingEmbedder(), **milvus(tmp_path))
    other = QAService(
        Settings(docs_dir=tmp_path / "docs", index_dir=tmp_path / "index", **milvus(tmp_path)), OtherModel()
    )
    with pytest.raises(ModelMismatch) as err:
        other.start()
    assert "QA_MILVUS_COLLECTION" in str(err.value) and "QA_MODEL" in str(err.value) and "\n" not in str(err.value)

    class SameDimOtherName(CountingEmbedder):
        name = "test:renamed"

    renamed = QAService(
        Settings(docs_dir=tmp_path / "docs", index_dir=tmp_path / "index", **milvus(tmp_path)), SameDimOtherName()
    )
    with pytest.raises(ModelMismatch, match="QA_MODEL='test:hash-embedder'"):
        renamed.start()
    # The remedy the message names: a rebuild onto the other model (its lease claimed in the 16-d collection it
    # replaces, with entities of that collection's dimension).
    other.sync(rebuild=True)
    other.start()
    assert other.writer.collection.state().dim == OtherModel.dim  # type: ignore[attr-defined]
    assert other.search("崂山", 1, "lexical").results[0].doc_id == SEED.name


def test_a_milvus_lite_file_held_by_another_process_fails_in_one_line(tmp_path: Path) -> None:
    seed_service(tmp_path, CountingEmbedder(), **milvus(tmp_path))  # this process holds milvus.db now
    code = (
        "from qa.config import Settings\n"
        "from qa.index.milvus.collection import Collection\n"
        "from qa.errors import QAError\n"
        f"try:\n    Collection(Settings(backend='milvus', milvus_uri={str(tmp_path / 'milvus.db')!r}))\n"
        "except QAError as e:\n    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=offline_env())
    line = out.stdout.strip()
    assert "QA_MILVUS_URI" in line and "milvus-lite server" in line and "\n" not in line


# ------------------------------------------------------------ two `qa serve` on one Milvus (a shared lite server)
@pytest.fixture
def lite_server(tmp_path: Path) -> Iterator[str]:
    with milvus_lite_server(tmp_path / "lite") as uri:
        yield uri


@pytest.mark.model  # in the two `qa serve` processes
def test_two_qa_serve_processes_share_one_milvus(tmp_path: Path, lite_server: str) -> None:
    procs, urls = [], []
    try:
        for name in ("a", "b"):
            docs = tmp_path / name / "docs"
            docs.mkdir(parents=True)
            shutil.copy(SEED, docs / SEED.name)
            port = free_port()
            env = {**offline_env(), "QA_BACKEND": "milvus", "QA_MILVUS_URI": lite_server, "QA_QUERY_CACHE_SIZE": "0"}
            cmd = qa_command(
                "serve", "--docs", str(docs), "--index", str(tmp_path / name / "index"), "--port", str(port)
            )
            procs.append(subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
            urls.append(f"http://127.0.0.1:{port}")
            wait_healthy(urls[-1], procs[-1])  # one after the other: the first builds the collection
        a, b = urls
        r = httpx.put(f"{a}/documents/robots.txt", json={"doc_id": "robots.txt", "text": ROBOTS}, timeout=120)
        assert r.status_code == 201, r.text
        deadline = time.monotonic() + 10
        while True:  # b looks for newer writes once a second
            hits = httpx.post(f"{b}/search", json={"query": "机器人馆什么时候开馆", "top_k": 1}, timeout=30).json()[
                "results"
            ]
            if hits and hits[0]["doc_id"] == "robots.txt":
                break
            assert time.monotonic() < deadline, hits
            time.sleep(0.3)
        assert httpx.get(f"{b}/health").json()["documents"] == 2
        assert httpx.delete(f"{b}/documents/robots.txt", timeout=60).status_code == 200
        deadline = time.monotonic() + 10
        while httpx.get(f"{a}/health").json()["documents"] != 1:
            assert time.monotonic() < deadline
            time.sleep(0.3)
    finally:
        stop(procs)


def test_qa_serve_refuses_a_bad_milvus_in_one_line(tmp_path: Path) -> None:
    env = {**offline_env(), "QA_BACKEND": "milvus", "QA_MILVUS_URI": "http://127.0.0.1:1"}
    (tmp_path / "a.txt").write_text("A document, so the docs folder is not refused first.", encoding="utf-8")
    out = subprocess.run(
        qa_command("index", "--docs", str(tmp_path)), env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode != 0
    assert out.stderr.strip().splitlines()[-1].startswith("Error: Milvus at QA_MILVUS_URI=http://127.0.0.1:1")


# ------------------------------------------------------------ a real Milvus server, when one is given
SERVER = os.environ.get("QA_TEST_MILVUS_URI")  # e.g. http://127.0.0.1:19530 with authorization enabled
needs_server = pytest.mark.skipif(not SERVER, reason="QA_TEST_MILVUS_URI (and QA_TEST_MILVUS_TOKEN) name no server")


@needs_server
def test_a_server_refuses_a_wrong_token_naming_the_setting(tmp_path: Path) -> None:
    settings = Settings(docs_dir=tmp_path, backend="milvus", milvus_uri=SERVER, milvus_token="root:certainly-wrong")
    with pytest.raises(BackendUnavailable, match="refused QA_MILVUS_TOKEN") as err:
        QAService(settings, CountingEmbedder())
    assert "\n" not in str(err.value)


@needs_server
def test_writes_and_searches_on_a_server(tmp_path: Path) -> None:
    extra = {"milvus_uri": SERVER, "milvus_token": os.environ.get("QA_TEST_MILVUS_TOKEN")}
    service = seed_service(
        tmp_path, CountingEmbedder(), backend="milvus", milvus_collection=f"qa_test_{os.getpid()}", **extra
    )
    try:
        service.put("robots.txt", ROBOTS.encode())
        assert service.search("机器人馆什么时候开馆", 1, "lexical").results[0].doc_id == "robots.txt"
        assert service.search("x", 2, "dense", where=equals({"doc_id": ["robots.txt"]})).results
        service.writer.sync(rebuild=True)
        assert service.index.manifest.documents.keys() == {"robots.txt", SEED.name}
    finally:
        service.writer.destroy()  # type: ignore[attr-defined]
