"""Several qa processes writing one Milvus collection: one writer at a time through the collection's lease, and a
rebuild through one replica carrying what the others wrote while it ran.

Services in this process share milvus-lite's file as replicas share a server; the slow tests run two real
`qa serve` processes on a `milvus-lite server`, and compare what each answered with what Milvus holds.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from conftest import SEED, CountingEmbedder, seed_service, wait_for_job
from servers import free_port, milvus_lite_server, offline_env, qa_command, stop, wait_healthy

pytest.importorskip("pymilvus", reason="the milvus extra is not installed: pip install -e '.[milvus]'")
pytest.importorskip("milvus_lite", reason="the milvus extra is not installed: pip install -e '.[milvus]'")

from qa.api import create_app
from qa.api.errors import status_of
from qa.errors import Conflict, FolderDisagrees
from qa.index.chunking import chunk_document, embedding_windows
from qa.index.milvus import layout, lease
from qa.index.segment import DocEntry
from qa.index.writer import DocumentChange
from qa.service.changes import NewDocument
from qa.service.core import QAService

pytestmark = pytest.mark.slow  # milvus-lite, and seconds of waiting on each other, in every test

RACE = Path(__file__).parent / "fixtures" / "race"  # a sitecustomize that widens the race in `qa serve` (see there)


def milvus(tmp_path: Path) -> dict[str, object]:
    return {"backend": "milvus", "milvus_uri": str(tmp_path / "milvus.db"), "min_paragraph": 1}


def version(name: str, k: int, paragraphs: int = 4) -> str:
    """Text whose every passage names its version, so a document mixed from two writes shows."""
    return "\n\n".join(
        f"{name} 第{k}版 第{p}段：这一段只属于第{k}版，用来检查写入是否混合。" for p in range(paragraphs)
    )


def stored(collection: Any) -> dict[str, tuple[str, list[str]]]:
    """What Milvus holds: each document's sha256 and its passages' texts (window 0 carries the text)."""
    docs = {
        r["doc_id"]: r["info"]["sha256"] for r in collection.query(f"kind == {layout.DOCUMENT}", ["doc_id", "info"])
    }
    texts: dict[str, list[str]] = {d: [] for d in docs}
    for r in collection.query(f"kind == {layout.WINDOW} and window == 0", ["doc_id", "text"]):
        texts.setdefault(r["doc_id"], []).append(r["text"])
    return {d: (docs.get(d, ""), sorted(t)) for d, t in texts.items()}


def versions_in(texts: list[str]) -> set[str]:
    return {t.split("：")[0].split(" ")[1] for t in texts}


def claim(service: QAService, expires_in: float) -> None:
    """A claim as another process' writer leaves it (alive, or killed ``-expires_in`` seconds after renewing)."""
    info = {"owner": "elsewhere", "token": "x", "priority": False, "expires": time.time() + expires_in}
    collection = service.writer.collection  # type: ignore[attr-defined]
    collection.write(collection.behind(), [layout.claim_entity("x", 16, info)])  # by name: with BM25 in Milvus too


def test_writers_of_two_services_take_turns_through_the_lease(tmp_path: Path) -> None:
    a = seed_service(tmp_path / "a", CountingEmbedder(), **milvus(tmp_path))
    b = seed_service(tmp_path / "b", CountingEmbedder(), **milvus(tmp_path))
    with a.writer.exclusive(5):  # a holds the lease, as it does while it writes
        with pytest.raises(Conflict, match="another qa process"):
            b.put("one.txt", version("one", 1).encode(), timeout=1)
        held = a.writer._lease  # type: ignore[attr-defined]
        held.check()
        held.renewed -= lease.LEASE  # as if its renewals had stalled: it must not write on
        with pytest.raises(Conflict, match="lapsed"):
            held.check()
    assert not (tmp_path / "b" / "docs" / "one.txt").exists()  # refused before the folder was touched
    b.put("one.txt", version("one", 1).encode(), timeout=1)

    claim(b, lease.LEASE)  # another process is writing: wait for it, then give up
    with pytest.raises(Conflict):
        b.put("one.txt", version("one", 2).encode(), timeout=1)
    claim(b, -1.0)  # it was killed: its claim expired, and is out of the way
    b.put("one.txt", version("one", 2).encode(), timeout=5)
    assert b.writer.collection.claims(b.writer.collection.behind()) == []  # type: ignore[attr-defined]
    assert versions_in(stored(b.writer.collection)["one.txt"][1]) == {"第2版"}  # type: ignore[attr-defined]


def test_a_renewal_that_lands_late_ends_the_lease_for_good(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A claim that lands late may have been seen expired, and deleted, by a writer that holds the lease now: the
    holder must not write on, even once its renewals land in time again."""
    monkeypatch.setattr(lease, "LEASE", 6.0)  # renewals every second; a holder stops 4 s after the last one
    monkeypatch.setattr(lease, "RENEW", 1.0)
    a = seed_service(tmp_path / "a", CountingEmbedder(), **milvus(tmp_path))
    collection = a.writer.collection  # type: ignore[attr-defined]
    write, slow = collection.write, threading.Event()

    def writing(name: str | None, rows: list[dict[str, Any]]) -> None:
        if slow.is_set() and rows[0]["kind"] == layout.CLAIM:
            time.sleep(1.5)  # lands, but after RENEW: it may have been too late
        write(name, rows)

    monkeypatch.setattr(collection, "write", writing)
    with a.writer.exclusive(5):
        held = a.writer._lease  # type: ignore[attr-defined]
        time.sleep(6.5)  # longer than the lease: renewals that land in time keep it
        held.check()
        slow.set()
        time.sleep(3.0)  # a renewal lands late
        slow.clear()
        time.sleep(2.5)  # renewals land in time again: the lease stays lapsed
        with pytest.raises(Conflict, match="lapsed"):
            held.check()
    slow.set()  # a writer whose claims all land late cannot take the lease
    with pytest.raises(Conflict, match="another qa process"):
        a.put("one.txt", version("one", 1).encode(), timeout=4)
    slow.clear()
    a.put("one.txt", version("one", 1).encode(), timeout=5)


def test_a_write_failing_midway_leaves_every_service_serving_what_is_stored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Milvus has no transactions: a batch whose lease lapses after its first document answers 409 with that
    document stored. The state is renewed all the same, so no service goes on serving the version it replaced."""
    a = seed_service(tmp_path / "a", CountingEmbedder(), **milvus(tmp_path))
    b = seed_service(tmp_path / "b", CountingEmbedder(), **milvus(tmp_path))
    a.live._every = b.live._every = 0.0  # look at every search rather than once a second
    for doc_id in ("more.txt", "notes.txt"):
        a.put(doc_id, version(doc_id, 1).encode())
    collection = a.writer.collection  # type: ignore[attr-defined]
    delete = collection.delete_ids

    def deleting(ids: list[str], name: str | None = None) -> None:
        delete(ids, name)
        if name is None:  # the first document is written: the lease lapses (its renewals stalled)
            a.writer._lease.renewed -= lease.LEASE  # type: ignore[attr-defined]

    monkeypatch.setattr(collection, "delete_ids", deleting)
    batch = a.prepare([NewDocument(d, version(d, 2).encode()) for d in ("more.txt", "notes.txt")])
    with pytest.raises(Conflict, match="lapsed"):
        a.write(batch)
    monkeypatch.undo()
    held = stored(collection)
    assert versions_in(held["more.txt"][1]) == {"第2版"} and versions_in(held["notes.txt"][1]) == {"第1版"}
    for service in (a, b):
        service.search("第2版", 1, "lexical")
        assert {d: e.sha256 for d, e in service.index.manifest.documents.items()} == {
            d: s for d, (s, _) in held.items()
        }


def test_concurrent_writes_to_one_document_store_one_whole_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the lease, two replicas replacing one document interleave and leave its passages mixed."""
    a = seed_service(tmp_path / "a", CountingEmbedder(), **milvus(tmp_path))
    b = seed_service(tmp_path / "b", CountingEmbedder(), **milvus(tmp_path))
    a.live._every = b.live._every = 0.0
    for service in (a, b):  # widen the race: a pause between reading a document's stale windows and writing anew
        collection = service.writer.collection  # type: ignore[attr-defined]
        read = collection.window_ids
        monkeypatch.setattr(collection, "window_ids", lambda doc_id, read=read: (read(doc_id), time.sleep(0.2))[0])
    answered: dict[str, str] = {}

    def write(service: QAService, k: int) -> None:
        change = service.put("shared.txt", version("shared", k).encode(), timeout=60)
        answered[change.sha256 or ""] = f"第{k}版"
        service.put(f"own-{k}.txt", version(f"own-{k}", k).encode(), timeout=60)

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda k: write((a, b)[k % 2], k), range(8)))
    held = stored(a.writer.collection)  # type: ignore[attr-defined]
    sha, texts = held["shared.txt"]
    assert versions_in(texts) == {answered[sha]} and len(texts) == 4  # one whole version, the one its record names
    assert all(versions_in(held[f"own-{k}.txt"][1]) == {f"第{k}版"} for k in range(8))
    for service in (a, b):  # each replica's view is what is stored
        service.search("第一版", 1, "lexical")
        view = service.index
        assert {d: e.sha256 for d, e in view.manifest.documents.items()} == {d: s for d, (s, _) in held.items()}
        mine = sorted(view.chunks[r].text for r in view.doc_rows("shared.txt"))
        assert mine == texts


def test_a_rebuild_carries_what_another_service_wrote_while_it_ran(tmp_path: Path) -> None:
    a = seed_service(tmp_path / "a", CountingEmbedder(), **milvus(tmp_path))
    b = seed_service(tmp_path / "b", CountingEmbedder(), **milvus(tmp_path))
    a.put("notes.txt", version("notes", 1).encode())
    wrote: list[str] = []

    def meanwhile(done: int, total: int) -> None:  # a's rebuild has begun filling its new collection
        if not wrote:
            b.put("robots.txt", version("robots", 1).encode())
            b.put("notes.txt", version("notes", 2).encode())
            b.delete(SEED.name)
            wrote.append("done")

    a.writer.sync(rebuild=True, progress=meanwhile)
    assert wrote
    held = stored(a.writer.collection)  # type: ignore[attr-defined]
    assert set(held) == {"robots.txt", "notes.txt"}
    assert versions_in(held["notes.txt"][1]) == {"第2版"}
    assert set(a.index.manifest.documents) == {"robots.txt", "notes.txt"}
    assert a.search("notes 第2版", 1, "lexical").results[0].doc_id == "notes.txt"
    assert b.writer.on_disk().manifest.documents == a.index.manifest.documents  # type: ignore[union-attr]


def test_a_rebuild_carries_a_delete_of_a_document_created_while_it_ran(tmp_path: Path) -> None:
    """A document the rebuilding folder holds, created and deleted through another service meanwhile, leaves no
    version to compare: its tombstone keeps the rebuild from bringing it back. Marker and tombstones go with it."""
    a = seed_service(tmp_path / "a", CountingEmbedder(), **milvus(tmp_path))
    b = seed_service(tmp_path / "b", CountingEmbedder(), **milvus(tmp_path))
    (tmp_path / "a" / "docs" / "ghost.txt").write_text(version("ghost", 1), encoding="utf-8")  # never indexed
    wrote: list[str] = []

    def meanwhile(done: int, total: int) -> None:
        if not wrote:
            b.put("ghost.txt", version("ghost", 2).encode())
            b.delete("ghost.txt")
            wrote.append("done")

    a.writer.sync(rebuild=True, progress=meanwhile, from_folder=True)  # ghost.txt is a's folder's, not Milvus'
    assert wrote
    collection = a.writer.collection  # type: ignore[attr-defined]
    held = stored(collection)
    assert set(held) == {SEED.name} == set(a.index.manifest.documents)
    b.delete(SEED.name)  # no rebuild under way: no tombstone
    marks = f"kind in [{layout.MARK}, {layout.TOMB}]"
    assert [r for name in collection.names() for r in collection.query(marks, ["id"], name)] == []


def test_a_rebuild_from_a_folder_lacking_another_replicas_write_is_refused(tmp_path: Path) -> None:
    """Milvus is the truth, a's folder a copy: a rebuild from it would drop what b wrote. It is refused (409, the
    collection untouched) at the request, and at the job's start when b wrote after the request; it proceeds once
    the folder is made the truth, and a folder that agrees rebuilds as before."""
    a = seed_service(tmp_path / "a", CountingEmbedder(), **milvus(tmp_path))
    b = seed_service(tmp_path / "b", CountingEmbedder(), **milvus(tmp_path))
    collection = a.writer.collection  # type: ignore[attr-defined]
    a.writer.sync(rebuild=True)  # the folders agree: rebuilt as before
    first, held = collection.behind(), stored(collection)
    b.put("robots.txt", version("robots", 1).encode())
    held = stored(collection)
    with pytest.raises(FolderDisagrees) as refused:
        a.start_rebuild()
    assert status_of(refused.value) == 409
    assert "1 document stored there is missing from this folder (robots.txt)" in str(refused.value)
    assert "--from-folder" in str(refused.value) and "from_folder=true" in str(refused.value)
    with TestClient(create_app(a.settings, service=a)) as http:
        assert http.post("/index/rebuild").status_code == 409
        (tmp_path / "a" / "docs" / "robots.txt").write_text(version("robots", 1), encoding="utf-8")
        with a.writer.exclusive(leased=False):  # the job waits for the writer: b writes after the request
            job = http.post("/index/rebuild").json()
            b.delete("robots.txt")
        polled = wait_for_job(lambda: http.get(f"/index/jobs/{job['id']}").json())
        assert polled["state"] == "failed"
        assert (
            "1 document in this folder is not stored there (deleted through another replica?) (robots.txt)"
            in (polled["error"])
        )
    assert collection.behind() == first and stored(collection) == {SEED.name: held[SEED.name]}
    marks = f"kind in [{layout.MARK}, {layout.TOMB}]"
    assert [r for name in collection.names() for r in collection.query(marks, ["id"], name)] == []
    a.writer.sync(rebuild=True, from_folder=True)  # the folder made the truth: robots.txt is back
    assert collection.behind() != first and set(stored(collection)) == {SEED.name, "robots.txt"}


def test_a_rebuild_starts_between_writes_never_halfway_through_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rebuild beginning while another service writes a batch waits for it: the batch is wholly before the
    rebuild's start (so the folder the rebuild indexes decides) or wholly after (carried over), never half of each."""
    a = seed_service(tmp_path / "a", CountingEmbedder(), **milvus(tmp_path))
    b = seed_service(tmp_path / "b", CountingEmbedder(), **milvus(tmp_path))
    for doc_id in ("more.txt", "notes.txt"):
        a.put(doc_id, version(doc_id, 1).encode())
    collection = b.writer.collection  # type: ignore[attr-defined]
    delete, halfway = collection.delete_ids, threading.Event()

    def deleting(ids: list[str], name: str | None = None) -> None:
        delete(ids, name)
        if name is None and not halfway.is_set():  # b's first document is written, its second not yet
            halfway.set()
            time.sleep(1.5)

    monkeypatch.setattr(collection, "delete_ids", deleting)
    batch = b.prepare([NewDocument(d, version(d, 2).encode()) for d in ("more.txt", "notes.txt")])
    refused: list[BaseException] = []

    def rebuild_a() -> None:
        halfway.wait(30)
        try:
            a.writer.sync(rebuild=True)
        except FolderDisagrees as exc:
            refused.append(exc)

    rebuild = threading.Thread(target=rebuild_a)
    rebuild.start()
    written = b.write(batch)
    rebuild.join(60)
    assert halfway.is_set() and not rebuild.is_alive()
    assert all(isinstance(o, DocumentChange) for o in written.outcomes)
    # b's batch was whole before the rebuild began: a's folder (the first versions) differs in both documents, so
    # the rebuild is refused naming both (half of the batch would name one), and b's versions stay.
    assert refused and "2 documents are stored in another version (more.txt, notes.txt)" in str(refused[0])
    held = stored(a.writer.collection)  # type: ignore[attr-defined]
    assert versions_in(held["more.txt"][1]) == versions_in(held["notes.txt"][1]) == {"第2版"}


def test_a_reader_meeting_a_write_halfway_keeps_one_version(tmp_path: Path) -> None:
    """Another process' write of a document caught between its upsert and its delete: the record still names the
    old version, some windows are the new one's; a process reading then serves the old version alone."""
    a = seed_service(tmp_path / "a", CountingEmbedder(), **milvus(tmp_path))
    a.put("one.txt", version("one", 1).encode())
    params, embedder = a.settings.chunk_params, CountingEmbedder()
    chunks = chunk_document("one.txt", version("one", 2), params)
    vectors = [embedder.encode_passages(embedding_windows(c, params)) for c in chunks]
    rows = layout.document_entities("one.txt", DocEntry("new", len(chunks), {}), chunks, vectors, embedder.dim)
    a.writer.collection.write(None, rows[:-1])  # type: ignore[attr-defined]  # the windows, not yet the record
    b = QAService(a.settings.model_copy(update={"docs_dir": tmp_path / "b"}), CountingEmbedder())
    (tmp_path / "b").mkdir()
    b.start()
    served = [b.index.chunks[r].text for r in b.index.doc_rows("one.txt")]
    assert versions_in(served) == {"第1版"} and len(served) == 4


# ------------------------------------------------------------ two `qa serve` on one Milvus (a shared lite server)
@pytest.fixture
def replicas(tmp_path: Path) -> Iterator[tuple[str, str, Any]]:
    """Two `qa serve` on one `milvus-lite server`, and a client of it for the test to read what is stored."""
    from pymilvus import MilvusClient

    procs = []
    with milvus_lite_server(tmp_path / "lite") as uri:
        urls = []
        try:
            for name in ("a", "b"):
                docs = tmp_path / name / "docs"
                docs.mkdir(parents=True)
                shutil.copy(SEED, docs / SEED.name)
                port = free_port()
                env = {**offline_env(), "QA_BACKEND": "milvus", "QA_MILVUS_URI": uri}
                env |= {"QA_MIN_PARAGRAPH": "1", "QA_QUERY_CACHE_SIZE": "0", "PYTHONPATH": str(RACE)}
                cmd = qa_command(
                    "serve", "--docs", str(docs), "--index", str(tmp_path / name / "index"), "--port", str(port)
                )
                procs.append(subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
                urls.append(f"http://127.0.0.1:{port}")
                wait_healthy(urls[-1], procs[-1])  # one after the other: the first builds the collection
            yield urls[0], urls[1], MilvusClient(uri=uri)
        finally:
            stop(procs)


class Held:
    """What the collection behind the alias holds, read straight from Milvus."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def query(self, expr: str, fields: list[str]) -> Iterator[dict[str, Any]]:
        yield from self.client.query("qa_default", filter=expr, output_fields=fields, limit=16384)


def listed(url: str) -> dict[str, str]:
    docs = httpx.get(f"{url}/documents", params={"limit": 1000}, timeout=30).json()["documents"]
    return {d["doc_id"]: d["sha256"] for d in docs}


def settle(urls: tuple[str, ...], held: dict[str, tuple[str, list[str]]]) -> None:
    """Each replica lists what is stored, once it followed the last write (it looks once a second)."""
    want = {d: s for d, (s, _) in held.items()}
    deadline = time.monotonic() + 15
    for url in urls:
        while listed(url) != want:
            assert time.monotonic() < deadline, (url, listed(url), want)
            time.sleep(0.3)


@pytest.mark.model  # in the two `qa serve` processes
def test_two_qa_serve_processes_writing_at_once_report_what_is_stored(replicas: tuple[str, str, Any]) -> None:
    a, b, client = replicas
    together = threading.Barrier(4)

    def put(url: str, doc_id: str, text: str) -> tuple[int, dict[str, Any]]:
        together.wait(timeout=120)
        r = httpx.put(f"{url}/documents/{doc_id}", json={"doc_id": doc_id, "text": text}, timeout=120)
        return r.status_code, r.json()

    held: dict[str, tuple[str, list[str]]] = {}
    for k in range(0, 12, 2):  # each round: both replicas replace one document, and write one of their own, at once
        jobs = [(a, "shared.txt", version("shared", k, 12)), (b, "shared.txt", version("shared", k + 1, 12))]
        jobs += [(a, f"own-{k}.txt", version("own", k)), (b, f"own-{k + 1}.txt", version("own", k + 1))]
        with ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(lambda job: put(*job), jobs))
        assert {status for status, _ in answers} <= {200, 201, 409}, answers
        before, held = held, stored(Held(client))
        ok = {
            body["sha256"]: text
            for (status, body), (_, _, text) in zip(answers[:2], jobs[:2], strict=True)
            if status < 300
        }
        if ok:  # the document is one of this round's answered versions, whole and unmixed
            sha, texts = held["shared.txt"]
            assert sha in ok and versions_in(texts) == versions_in(ok[sha].split("\n\n")) and len(texts) == 12
        else:  # both refused (409): nothing of either was stored
            assert held.get("shared.txt") == before.get("shared.txt")
        for (status, body), (_, doc_id, text) in zip(answers[2:], jobs[2:], strict=True):
            if status < 300:
                assert held[doc_id][0] == body["sha256"] and held[doc_id][1] == sorted(text.split("\n\n"))
            else:
                assert doc_id not in held  # refused: not stored
    settle((a, b), held)


@pytest.mark.model  # in the two `qa serve` processes
def test_a_rebuild_through_one_replica_loses_nothing_written_through_the_other(
    tmp_path: Path, replicas: tuple[str, str, Any]
) -> None:
    a, b, client = replicas
    for i in range(60):  # enough for the rebuild to take a while
        (tmp_path / "a" / "docs" / f"bulk-{i}.txt").write_text(version(f"bulk-{i}", i), encoding="utf-8")
    for i in range(5):  # a's folder holds what b writes, so a delete through b that the rebuild missed would show
        (tmp_path / "a" / "docs" / f"b-{i}.txt").write_text(version(f"b-{i}", 99), encoding="utf-8")
    # a's folder holds documents Milvus does not: refused (409) unless the folder is made the truth
    assert httpx.post(f"{a}/index/rebuild", timeout=30).status_code == 409
    job = httpx.post(f"{a}/index/rebuild", params={"from_folder": "true"}, timeout=30).json()
    answered: dict[str, str | None] = {}
    k = 0

    def polled() -> dict[str, Any]:
        return dict(httpx.get(f"{a}/index/jobs/{job['id']}", timeout=30).json())

    def running() -> bool:
        return polled()["state"] in ("queued", "running")

    # From when it knows what it embeds: a write before it began is the old collection's, which a rebuild of a's
    # folder replaces (the folder is what a rebuild indexes).
    while polled()["total"] == 0:
        assert running()
        time.sleep(0.05)

    while running() or k < 3:  # write through b throughout the rebuild, and a few times after
        doc_id = f"b-{k % 5}.txt"
        if k % 7 == 6:
            r = httpx.delete(f"{b}/documents/{doc_id}", timeout=60)
            if r.status_code == 200:
                answered[doc_id] = None
        else:
            r = httpx.put(f"{b}/documents/{doc_id}", json={"doc_id": doc_id, "text": version(doc_id, k)}, timeout=60)
            if r.status_code < 300:
                answered[doc_id] = r.json()["sha256"]
        assert r.status_code in (200, 201, 404, 409), r.text
        k += 1
    assert httpx.get(f"{a}/index/jobs/{job['id']}", timeout=30).json()["state"] == "succeeded"
    assert k > 5, "the rebuild was over before b wrote anything much"
    held = stored(Held(client))
    for doc_id, sha in answered.items():  # every acknowledged write, in the collection the rebuild switched to
        assert (held[doc_id][0] if doc_id in held else None) == sha, doc_id
    assert all(f"bulk-{i}.txt" in held for i in range(60))
    settle((a, b), held)
