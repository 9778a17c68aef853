"""The document API over the real app, store and BM25, with the counting embedder (these are not claims about meaning)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from qa.api import create_app
from qa.errors import Conflict
from qa.index import store
from qa.ingest.formats import SUFFIXES
from qa.service.core import QAService
from qa.service.jobs import Jobs

from conftest import SEED, CountingEmbedder, wait_for_job

NOTE = "The Laoshan VR park signed a cooperation agreement with Example Robotics on 5 May.\n\nIt covers robot training."


@pytest.fixture
def app_for(make_service):  # type: ignore[no-untyped-def]
    def make(**kw: object) -> tuple[TestClient, QAService]:
        service = make_service(**kw)
        return TestClient(create_app(service.settings, service=service)), service

    return make


@pytest.fixture
def client(app_for) -> TestClient:  # type: ignore[no-untyped-def]
    return app_for()[0]


def _lexical(client: TestClient, query: str, **body: object) -> list[dict]:
    r = client.post("/search", json={"query": query, "mode": "lexical", **body})
    assert r.status_code == 200, r.text
    return r.json()["results"]


def test_add_find_list_get_replace_delete(client: TestClient, seed_docs: Path, fake_embedder: CountingEmbedder) -> None:
    before = fake_embedder.passages_embedded
    r = client.post("/documents", json={"doc_id": "notes/robots", "text": NOTE, "metadata": {"lang": "en"}})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["doc_id"] == "notes/robots.txt" and body["created"] is True and body["chunks"] == 1
    assert body["index"]["added"] == 1 and body["index"]["unchanged"] == 1
    # Only the new document was embedded; the seed's vectors were reused.
    assert fake_embedder.passages_embedded - before == body["index"]["embedded"] > 0
    assert (seed_docs / "notes" / "robots.txt").read_text(encoding="utf-8") == NOTE

    hits = _lexical(client, "Example Robotics agreement")
    assert hits[0]["doc_id"] == "notes/robots.txt" and hits[0]["metadata"] == {"lang": "en"}
    listed = {d["doc_id"]: d for d in client.get("/documents").json()["documents"]}
    assert set(listed) == {SEED.name, "notes/robots.txt"} and listed["notes/robots.txt"]["chunks"] == 1
    one = client.get("/documents/notes/robots.txt").json()
    assert one["text"] == NOTE and one["metadata"] == {"lang": "en"} and len(one["sha256"]) == 64

    assert client.post("/documents", json={"doc_id": "notes/robots.txt", "text": "x"}).status_code == 409
    r = client.put("/documents/notes/robots.txt", json={"text": "Robots moved to Qingdao harbour."})
    assert r.status_code == 200 and r.json()["created"] is False and r.json()["index"]["changed"] == 1
    assert _lexical(client, "harbour")[0]["doc_id"] == "notes/robots.txt"
    # The old text is gone (its words may still find Chinese passages through their translations).
    assert all(h["doc_id"] == SEED.name for h in _lexical(client, "Example agreement"))
    assert client.get("/documents/notes/robots.txt").json()["metadata"] == {}  # PUT replaces metadata too

    r = client.delete("/documents/notes/robots.txt")
    assert r.status_code == 200 and r.json()["index"]["removed"] == 1
    assert not (seed_docs / "notes" / "robots.txt").exists()
    assert client.get("/documents/notes/robots.txt").status_code == 404
    assert client.delete("/documents/notes/robots.txt").status_code == 404
    assert _lexical(client, "harbour") == []


def test_put_creates_and_metadata_filters(client: TestClient) -> None:
    r = client.put(
        "/documents/a.md", json={"text": "# Alpha\n\nAlpha park opened a robot lab.", "metadata": {"team": "x"}}
    )
    assert r.status_code == 201
    client.put(
        "/documents/b.md", json={"text": "# Beta\n\nBeta park opened a robot lab.", "metadata": {"team": ["y", "z"]}}
    )
    assert {h["doc_id"] for h in _lexical(client, "robot lab")} == {"a.md", "b.md"}
    assert [h["doc_id"] for h in _lexical(client, "robot lab", filter={"team": "z"})] == ["b.md"]
    assert [h["doc_id"] for h in _lexical(client, "robot lab", filter={"doc_id": ["a.md"]})] == ["a.md"]
    assert _lexical(client, "robot lab", filter={"team": "nobody"}) == []
    got = client.get("/search", params={"q": "robot lab", "mode": "lexical", "doc_id": "b.md"}).json()["results"]
    assert [h["doc_id"] for h in got] == ["b.md"]
    # Dense and hybrid honour the filter too.
    for mode in ("dense", "hybrid"):
        r = client.post("/search", json={"query": "park", "mode": mode, "top_k": 10, "filter": {"doc_id": "a.md"}})
        assert {h["doc_id"] for h in r.json()["results"]} == {"a.md"}


def test_multipart_upload_of_markdown_and_html(client: TestClient, seed_docs: Path) -> None:
    r = client.post("/documents", files={"file": ("guide.md", b"# Guide\n\nThe guide explains VR headsets.")})
    assert r.status_code == 201, r.text
    assert r.json()["doc_id"] == "guide.md"
    html = (
        "<html><head><title>Park news</title><script>var secret = 'tracking';</script></head>"
        "<body><h1>Opening</h1><p>The <b>holography</b> hall opens in June.</p><p>Tickets are free.</p></body></html>"
    )
    r = client.post(
        "/documents",
        files={"file": ("news.html", html.encode(), "text/html")},
        data={"metadata": '{"source": "web"}'},
    )
    assert r.status_code == 201, r.text
    text = client.get("/documents/news.html").json()["text"]
    assert text == "Park news\n\nOpening\n\nThe holography hall opens in June.\n\nTickets are free.\n"
    hit = _lexical(client, "holography hall")[0]
    assert hit["doc_id"] == "news.html" and hit["metadata"] == {"source": "web"}
    assert text[hit["start"] : hit["end"]] == hit["text"]
    assert all(h["doc_id"] != "news.html" for h in _lexical(client, "tracking secret"))  # script is not text
    assert (seed_docs / "news.html").read_bytes() == html.encode()  # the original is kept, so rebuilds re-read it


BAD_NAMES = [
    "../escape.txt",
    "../../etc/passwd.txt",
    "/etc/passwd.txt",
    "a/../../b.txt",
    "a\x00.txt",
    "evil\u202etxt.md",
    "zero\u200bwidth.txt",
    ".hidden.txt",
    "dir/.git/config.txt",
    "C:\\Windows\\x.txt",
    "a//b.txt",
    " padded.txt",
    "x" * 300 + ".txt",
]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_unsafe_names_are_refused_and_nothing_is_written(client: TestClient, seed_docs: Path, name: str) -> None:
    root = seed_docs.parent

    def outside() -> list[Path]:
        return sorted(p for p in root.rglob("*") if not p.is_relative_to(root / "index"))

    before = outside()
    r = client.post("/documents", json={"doc_id": name, "text": "hello"})
    assert r.status_code == 400, (name, r.text)
    assert r.json()["detail"]
    assert outside() == before
    # The multipart client itself may percent-encode a file name (NUL becomes '%00'): then the stored
    # name is a harmless one inside the docs folder. Either way nothing lands outside it.
    r = client.post("/documents", files={"file": (name, b"hello")})
    if r.status_code == 201:
        stored = (seed_docs / r.json()["doc_id"]).resolve()
        assert stored.is_relative_to(seed_docs.resolve()) and stored.read_bytes() == b"hello"
    else:
        assert r.status_code in (400, 415), (name, r.text)
    assert [p for p in outside() if not p.is_relative_to(seed_docs)] == [
        p for p in before if not p.is_relative_to(seed_docs)
    ]


def test_bad_uploads(app_for) -> None:  # type: ignore[no-untyped-def]
    client, _ = app_for(max_document_bytes=1000)
    assert client.post("/documents", files={"file": ("a.png", b"\x89PNG")}).status_code == 415
    assert client.post("/documents", files={"file": ("a.pdf", b"%PDF-1.4")}).status_code == 400  # a PDF, but damaged
    assert client.post("/documents", content=b"hello", headers={"content-type": "text/plain"}).status_code == 415
    r = client.post("/documents", files={"file": ("latin1.txt", "café".encode("latin-1"))})
    assert r.status_code == 400 and "UTF-8" in r.json()["detail"]
    r = client.post("/documents", files={"file": ("big.txt", b"a" * 1001)})
    assert r.status_code == 413 and "1000" in r.json()["detail"]
    assert client.post("/documents", json={"doc_id": "big.txt", "text": "a" * 1001}).status_code == 413
    assert client.post("/documents", json={"doc_id": "ok.txt", "text": "   "}).status_code == 400
    assert (
        client.post("/documents", json={"doc_id": "m.txt", "text": "hi", "metadata": {"doc_id": "x"}}).status_code
        == 400
    )
    assert (
        client.post("/documents", json={"doc_id": "m.txt", "text": "hi", "metadata": {"k": {"deep": 1}}}).status_code
        == 400
    )
    assert client.post("/documents", files={"file": ("m.txt", b"hi")}, data={"metadata": "{oops"}).status_code == 400
    assert client.post("/documents", json={"text": "no name"}).status_code == 400
    assert (
        client.post("/documents", content=b"{not json", headers={"content-type": "application/json"}).status_code == 422
    )
    assert client.post("/documents", files={"other": ("a.txt", b"hi")}).status_code == 400
    assert [d["doc_id"] for d in client.get("/documents").json()["documents"]] == [SEED.name]


def test_formats_says_what_an_upload_may_be_and_stays_open(app_for) -> None:  # type: ignore[no-untyped-def]
    client, _ = app_for(max_document_bytes=1000, api_key="s3cret", api_key_reads=True)
    assert client.get("/formats").json() == {"suffixes": list(SUFFIXES), "max_bytes": 1000}
    assert client.post("/documents", files={"file": ("a.pdf", b"%PDF-1.4")}).status_code == 401  # it says, not lets
    operation = client.get("/openapi.json").json()["paths"]["/formats"]["get"]
    assert "security" not in operation and "401" not in operation["responses"]  # the spec says so too


def test_api_key_guards_writes_and_optionally_reads(app_for) -> None:  # type: ignore[no-untyped-def]
    client, _ = app_for(api_key="s3cret")
    doc = {"doc_id": "k.txt", "text": "keyed document"}
    r = client.post("/documents", json=doc)
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert client.post("/documents", json=doc, headers={"Authorization": "Basic abc"}).status_code == 401
    assert client.post("/documents", json=doc, headers={"Authorization": "Bearer wrong"}).status_code == 403
    assert client.delete("/documents/k.txt", headers={"Authorization": "Bearer s3cre"}).status_code == 403
    assert client.post("/index/rebuild").status_code == 401
    assert client.post("/documents", json=doc, headers={"Authorization": "Bearer s3cret"}).status_code == 201
    assert client.post("/search", json={"query": "keyed"}).status_code == 200  # reads stay open
    assert client.get("/documents").status_code == 200

    locked, _ = app_for(api_key="s3cret", api_key_reads=True)
    assert locked.post("/search", json={"query": "keyed"}).status_code == 401
    assert locked.get("/documents").status_code == 401
    assert locked.get("/search", params={"q": "keyed"}, headers={"Authorization": "Bearer s3cret"}).status_code == 200
    assert locked.get("/health").status_code == 200  # probes stay open


def test_rebuild_job_reports_progress_and_outcome(client: TestClient) -> None:
    r = client.post("/index/rebuild")
    assert r.status_code == 202
    job = r.json()
    assert job["kind"] == "rebuild" and job["state"] in ("queued", "running", "succeeded")
    job = wait_for_job(lambda: client.get(f"/index/jobs/{job['id']}").json())
    assert job["state"] == "succeeded", job
    # A rebuild reports content changes (none) and what it re-embedded (everything).
    assert job["result"]["unchanged"] == 1 and job["result"]["embedded"] == job["total"] == job["done"] > 0
    assert job["finished_at"] and job["error"] is None
    assert client.get("/index/jobs").json()["jobs"][0]["id"] == job["id"]
    assert client.get("/index/jobs/job-nope").status_code == 404


def test_one_job_at_a_time() -> None:
    jobs, release = Jobs(), threading.Event()
    first = jobs.start("rebuild", lambda progress: {"waited": release.wait(10)})
    with pytest.raises(Conflict, match=first.id):
        jobs.start("rebuild", lambda progress: {})
    release.set()
    assert wait_for_job(lambda: jobs.get(first.id)).result == {"waited": True}
    failing = jobs.start("rebuild", lambda progress: 1 / 0)
    failed = wait_for_job(lambda: jobs.get(failing.id))
    assert failed.state == "failed" and "ZeroDivisionError" in (failed.error or "")


def test_a_write_waits_for_another_writer_then_gets_409(app_for) -> None:  # type: ignore[no-untyped-def]
    client, service = app_for(write_timeout=0.3)
    # Another process (qa index, qa watch) holding the index folder's lock.
    with store.writer_lock(service.settings.index_dir):
        started = time.monotonic()
        r = client.post("/documents", json={"doc_id": "late.txt", "text": "late document"})
        assert r.status_code == 409 and "another writer" in r.json()["detail"]
        assert time.monotonic() - started >= 0.3
    assert not (service.settings.docs_dir / "late.txt").exists()  # refused before anything was written
    assert client.post("/documents", json={"doc_id": "late.txt", "text": "late document"}).status_code == 201


def test_unsafe_uploads_over_real_http(app_for, seed_docs: Path) -> None:  # type: ignore[no-untyped-def]
    """The same refusals through a real uvicorn, where the client's and server's URL and multipart handling apply."""
    import httpx

    from servers import ThreadedServer

    client, _ = app_for(max_document_bytes=1000)
    root = seed_docs.parent
    (root / "secret.txt").write_text("outside the docs folder", encoding="utf-8")
    before = sorted(p for p in root.rglob("*") if not p.is_relative_to(root / "index"))
    with ThreadedServer(client.app) as server, httpx.Client(base_url=server.url, timeout=30) as http:
        assert http.post("/documents", files={"file": ("../../escape.txt", b"x")}).status_code == 400
        assert http.post("/documents", files={"file": ("/etc/passwd.txt", b"x")}).status_code == 400
        assert http.post("/documents", json={"doc_id": "../secret.txt", "text": "overwritten"}).status_code == 400
        assert http.put("/documents/..%2Fsecret.txt", json={"text": "overwritten"}).status_code == 400
        assert http.delete("/documents/..%2Fsecret.txt").status_code == 400
        assert http.delete("/documents/%2E%2E/secret.txt").status_code in (400, 404)
        assert http.post("/documents", files={"file": ("big.txt", b"a" * 1001)}).status_code == 413
        assert (
            http.post("/documents", content=b"a" * 5_000_000, headers={"content-type": "application/json"}).status_code
            == 413
        )
        assert http.post("/documents", files={"file": ("x.exe", b"MZ")}).status_code == 415
        assert http.post("/documents", files={"file": ("bad.txt", b"\xff\xfe\xfa")}).status_code == 400
    assert (root / "secret.txt").read_text(encoding="utf-8") == "outside the docs folder"
    assert sorted(p for p in root.rglob("*") if not p.is_relative_to(root / "index")) == before


# ------------------------------------------------------------------ many documents in one request
def _docx_file(*paragraphs: str) -> bytes:
    import io

    import docx

    document = docx.Document()
    for p in paragraphs:
        document.add_paragraph(p)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def test_bulk_json_lands_as_one_change_and_bad_ones_fail_alone(  # type: ignore[no-untyped-def]
    app_for, seed_docs: Path, fake_embedder: CountingEmbedder
) -> None:
    client, service = app_for()
    changes = []
    apply = service.writer._apply
    service.writer._apply = lambda *a: changes.append(a) or apply(*a)  # type: ignore[method-assign]
    documents = [
        {
            "doc_id": f"notes/n{i}",
            "text": f"Harbour note {i}: ferry number {i} leaves at {i} o'clock.",
            "metadata": {"n": i},
        }
        for i in range(5)
    ]
    documents += [
        {"doc_id": "../escape.txt", "text": "nope"},  # refused name
        {"doc_id": "notes/n1", "text": "the same name twice in one request"},
        {"doc_id": "blank.txt", "text": "   "},
        {"doc_id": "fake.pdf", "text": "not a PDF at all"},
    ]
    before = fake_embedder.passages_embedded
    r = client.post("/documents/bulk", json={"documents": documents})
    assert r.status_code == 200, r.text
    body = r.json()
    out = body["documents"]
    assert [d["status"] for d in out[:5]] == [201] * 5 and all(d["chunks"] == 1 for d in out[:5])
    assert [d["doc_id"] for d in out[:5]] == [f"notes/n{i}.txt" for i in range(5)]
    assert body["errors"] is True and body["index"]["added"] == 5
    refused = {d["doc_id"]: (d["status"], d["error"]) for d in out[5:]}
    assert refused["../escape.txt"][0] == 400 and refused["notes/n1"][0] == 400
    assert "more than once" in refused["notes/n1"][1] and "no text" in refused["blank.txt"][1]
    assert refused["fake.pdf"][0] in (400, 415)
    assert not (seed_docs.parent / "escape.txt").exists() and not (seed_docs / "blank.txt").exists()
    # One change: only the five new documents were embedded, and the index moved by one commit.
    assert fake_embedder.passages_embedded - before == body["index"]["embedded"] == 5
    assert len(changes) == 1 and len(changes[0][0]) == 5
    assert _lexical(client, "ferry number 3")[0]["doc_id"] == "notes/n3.txt"
    assert (seed_docs / "notes" / "n1.txt").read_text(encoding="utf-8").startswith("Harbour note 1")

    # Again with replace=false: every one exists now, so each is a 409 and nothing changes.
    r = client.post("/documents/bulk?replace=false", json={"documents": documents[:2]})
    assert [d["status"] for d in r.json()["documents"]] == [409, 409] and r.json()["index"] is None
    # Replacing (the default) answers 200 per document.
    r = client.post("/documents/bulk", json={"documents": [{"doc_id": "notes/n0.txt", "text": "Ferry cancelled."}]})
    assert r.json()["documents"][0]["status"] == 200 and r.json()["errors"] is False
    assert r.json()["index"]["changed"] == 1


def test_bulk_multipart_files_by_real_tools(app_for, seed_docs: Path) -> None:
    client, _ = app_for()
    files = [
        ("file", ("guide.md", b"# Guide\n\nThe robot museum opens at nine.", "text/markdown")),
        (
            "file",
            (
                "minutes.docx",
                _docx_file("Minutes of the harbour board.", "The pier reopens in May."),
                "application/octet-stream",
            ),
        ),
        ("file", ("broken.pdf", b"%PDF-1.7\n1 0 obj <<", "application/pdf")),
    ]
    r = client.post("/documents/bulk", files=files, data={"metadata": '{"team": "ops"}'})
    assert r.status_code == 200, r.text
    out = {d["doc_id"]: d for d in r.json()["documents"]}
    assert out["guide.md"]["status"] == out["minutes.docx"]["status"] == 201
    assert out["broken.pdf"]["status"] == 400 and not (seed_docs / "broken.pdf").exists()
    assert (seed_docs / "minutes.docx").exists()
    hit = _lexical(client, "pier reopens")[0]
    assert hit["doc_id"] == "minutes.docx" and hit["metadata"] == {"team": "ops"}


def test_bulk_limits_auth_and_background_job(app_for) -> None:
    client, _ = app_for(api_key="k", max_bulk_documents=3, max_bulk_bytes=4096, max_sync_windows=2)
    auth = {"Authorization": "Bearer k"}
    docs = [{"doc_id": f"d{i}.txt", "text": f"Document {i} about the harbour."} for i in range(4)]
    assert client.post("/documents/bulk", json={"documents": docs[:1]}).status_code == 401
    r = client.post("/documents/bulk", json={"documents": docs}, headers=auth)
    assert r.status_code == 413 and "at most 3" in r.json()["detail"]
    big = [{"doc_id": "big.txt", "text": "x" * 5000}]
    assert client.post("/documents/bulk", json={"documents": big}, headers=auth).status_code == 413
    assert client.post("/documents/bulk", json={"documents": []}, headers=auth).status_code == 422
    r = client.put("/documents/bulk", json={"text": "not a document named bulk"}, headers=auth)
    assert r.status_code == 405 and r.headers["allow"] == "POST" and "bulk.txt" in r.json()["detail"]
    assert (
        client.post("/documents/bulk", content=b"x", headers=auth | {"content-type": "text/plain"}).status_code == 415
    )
    # More windows than QA_MAX_SYNC_WINDOWS in all: a background job whose result lists the outcomes.
    r = client.post("/documents/bulk", json={"documents": docs[:3]}, headers=auth)
    assert r.status_code == 202, r.text
    job = wait_for_job(lambda: client.get(f"/index/jobs/{r.json()['id']}", headers=auth).json())
    assert job["state"] == "succeeded" and [d["status"] for d in job["result"]["documents"]] == [201] * 3
    assert _lexical(client, "Document 2 harbour", top_k=3)[0]["doc_id"].startswith("d")


def test_bulk_failure_of_the_index_change_stores_nothing(app_for, seed_docs: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    client, service = app_for()
    live_before = service.index.path

    def full_disk(*args: object, **kwargs: object) -> None:  # a disk filling mid-write: not causable portably
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(service.writer, "_apply", full_disk)
    docs = [{"doc_id": f"x{i}.txt", "text": f"Text {i}."} for i in range(3)]
    r = client.post("/documents/bulk", json={"documents": docs})
    assert r.status_code == 507, r.text
    assert not any((seed_docs / f"x{i}.txt").exists() for i in range(3))
    assert sorted(p.name for p in seed_docs.iterdir() if not p.name.startswith(".")) == [SEED.name]
    assert service.index.path == live_before
