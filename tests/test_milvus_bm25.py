"""QA_MILVUS_LEXICAL=milvus against real milvus-lite: qa's BM25 as sparse vectors and statistics in Milvus.

A process then ranks as the local store does, keeps the statistics right
through adds, replaces, metadata changes, deletes and rebuilds, and opens a
collection without reading its passages.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from conftest import CountingEmbedder, seed_service

pytest.importorskip("pymilvus", reason="the milvus extra is not installed: pip install -e '.[milvus]'")
pytest.importorskip("milvus_lite", reason="the milvus extra is not installed: pip install -e '.[milvus]'")

from qa.index.building import BuildReport
from qa.index.milvus import layout, remote, terms
from qa.index.milvus.collection import Collection
from qa.index.milvus.records import Records, read_all
from qa.index.milvus.remote import RemoteView
from qa.index.milvus.terms import Delta, Terms
from qa.index.milvus.view import MilvusView
from qa.ingest import folder
from qa.search.filters import equals
from qa.service.core import QAService

pytestmark = pytest.mark.slow  # milvus-lite starts a server per test

ROBOTS = (
    "崂山机器人馆十月十八日开馆，展出工业机器人和服务机器人。\n\n馆内还有一个为孩子们准备的编程教室，周末免费开放。"
)
BEER = "青岛啤酒节在八月举行，机器人乐队也会在啤酒城演出。"
QUERIES = ("虚拟现实产业", "机器人馆什么时候开馆", "崂山的人工智能", "啤酒节在几月")


def milvus(tmp_path: Path, **extra: object) -> dict[str, object]:
    return {"backend": "milvus", "milvus_uri": str(tmp_path / "milvus.db"), "milvus_lexical": "milvus", **extra}


def recount(collection: Collection) -> tuple[Delta, dict[str, int]]:
    """The statistics of the live passages as stored, counted from scratch, and those the stats collection holds."""
    name = collection.behind()
    assert name is not None
    versions = collection.versions()
    rows = collection.query(f"kind == {layout.WINDOW} and window == 0", ["doc_id", "text", "info"])
    expected = Delta()
    expected.add(Terms.of(r["text"]) for r in rows if versions.get(r["doc_id"]) == layout.version_of(r))
    stored = {r["id"]: int(r["df"]) for r in collection.query("df >= 0", ["id", "df"], name + terms.STATS_SUFFIX)}
    return expected, stored


def assert_stats_match(collection: Collection, service: QAService | None = None) -> None:
    if service is not None:  # the document count the view keeps up, without reading the records again
        assert len(service.index.manifest.documents) == len(read_all(collection)[0])
    expected, stored = recount(collection)
    name = collection.behind()
    assert name is not None
    totals = collection.totals(name)
    assert totals.n == expected.n
    assert totals.length == pytest.approx(expected.length)
    assert {k: v for k, v in stored.items() if k != terms.TOTALS} == {k: v for k, v in expected.df.items() if v}


def test_bm25_in_milvus_ranks_as_the_local_store(tmp_path: Path) -> None:
    """Same passages in one build, same vectors: lexical and hybrid rank alike, scores to float32 rounding."""
    embedder = CountingEmbedder()
    for root in (tmp_path / "local", tmp_path / "milvus"):
        (root / "docs").mkdir(parents=True)
        (root / "docs" / "robots.txt").write_text(ROBOTS, encoding="utf-8")
        (root / "docs" / "beer.txt").write_text(BEER, encoding="utf-8")
    local = seed_service(tmp_path / "local", embedder)
    remote = seed_service(tmp_path / "milvus", embedder, **milvus(tmp_path))
    assert isinstance(remote.index, RemoteView)
    for query in (*QUERIES, "When does the robot museum open?", "beer festival month"):  # English: a search per term
        for mode in ("lexical", "hybrid"):
            a = local.search(query, 8, mode).results  # type: ignore[arg-type]
            b = remote.search(query, 8, mode).results  # type: ignore[arg-type]
            assert a and [h.chunk_id for h in a] == [h.chunk_id for h in b], (query, mode)
            assert np.allclose([h.score for h in a], [h.score for h in b], atol=1e-5), (query, mode)
            assert [h.text for h in a] == [h.text for h in b]
    a, b = local.ask("机器人馆什么时候开馆"), remote.ask("机器人馆什么时候开馆")
    assert a.answer == b.answer
    only = equals({"doc_id": ["beer.txt"]})
    assert {h.doc_id for h in remote.search("机器人", 5, "lexical", where=only).results} == {"beer.txt"}


def test_later_writes_rank_alike_though_their_weights_use_the_average_of_their_time(tmp_path: Path) -> None:
    """Passages written after the build are weighted with the average length of then: the ranking holds, the
    scores drift by a few percent (docs/scaling-out.md)."""
    embedder = CountingEmbedder()
    local = seed_service(tmp_path / "local", embedder)
    remote = seed_service(tmp_path / "milvus", embedder, **milvus(tmp_path))
    for service in (local, remote):
        service.put("robots.txt", ROBOTS.encode())
        service.put("beer.txt", BEER.encode())
    for query in QUERIES:
        a = local.search(query, 8, "lexical").results
        b = remote.search(query, 8, "lexical").results
        assert [h.chunk_id for h in a] == [h.chunk_id for h in b], query
        assert np.allclose([h.score for h in a], [h.score for h in b], rtol=0.05), query


def test_statistics_follow_every_write(tmp_path: Path) -> None:
    service = seed_service(tmp_path, CountingEmbedder(), **milvus(tmp_path))
    collection = service.writer.collection  # type: ignore[attr-defined]
    assert_stats_match(collection, service)
    service.put("robots.txt", ROBOTS.encode(), {"lang": "zh"})
    assert_stats_match(collection, service)
    service.put("robots.txt", ROBOTS.encode(), {"lang": "en"})  # metadata only: counted out and in again
    assert_stats_match(collection, service)
    service.put("robots.txt", BEER.encode())  # replaced: the old passages' terms leave the counts
    assert_stats_match(collection, service)
    assert service.search("编程教室", 3, "lexical").results == [] or all(
        "编程" not in h.text for h in service.search("编程教室", 3, "lexical").results
    )
    service.writer.delete("robots.txt")
    assert_stats_match(collection, service)
    assert service.index.live_size == collection.totals(collection.behind()).n
    service.writer.sync(rebuild=True)  # a new collection, with its own statistics; the old ones go with it
    assert_stats_match(collection, service)


def test_weights_are_the_document_side_of_bm25(tmp_path: Path) -> None:
    """A passage's stored vector is tf / (tf + k1 (1 - b + b len / avglen)) per term, at the build's average."""
    service = seed_service(tmp_path, CountingEmbedder(), **milvus(tmp_path))
    collection = service.writer.collection  # type: ignore[attr-defined]
    totals = collection.totals(collection.behind())
    assert totals.built_avg == pytest.approx(totals.avg())
    rows = list(collection.query(f"kind == {layout.WINDOW}", ["window", "text", "sparse"]))
    for r in rows:
        if r["window"] == 0:
            expected = Terms.of(r["text"]).weights(totals.avg())
            assert r["sparse"].keys() == expected.keys()
            assert np.allclose([r["sparse"][k] for k in expected], list(expected.values()), atol=1e-6)
        else:
            assert r["sparse"] == terms.PLACEHOLDER


def test_a_process_opens_the_collection_without_reading_its_passages_or_records(tmp_path: Path) -> None:
    """A replica's start reads the totals, nothing that grows with the corpus; a search reads the records it meets."""
    first = seed_service(tmp_path / "a", CountingEmbedder(), **milvus(tmp_path))
    first.put("robots.txt", ROBOTS.encode())
    reads: Counter[str] = Counter()
    query = Collection.query

    def counted(self: Collection, expr: str, fields: list[str], name: str | None = None):  # type: ignore[no-untyped-def]
        reads[expr.split(" and ")[0]] += 1
        return query(self, expr, fields, name)

    Collection.query = counted  # type: ignore[method-assign]
    try:
        second = QAService(first.settings.model_copy(update={"docs_dir": tmp_path / "b"}), CountingEmbedder())
        second.start()
        assert isinstance(second.index, RemoteView) and second.index.chunks._view._rows.chunks == []
        assert reads == Counter()  # no passage, no document record
        assert second.search("机器人馆", 1, "lexical").results[0].doc_id == "robots.txt"
        assert second.search("机器人馆", 3, "hybrid").results
        assert reads == Counter()  # the records of what it found were read by id
        records = second.index.manifest.documents
        assert isinstance(records, Records) and set(records._known) <= set(first.index.manifest.documents)
        assert len(records) == len(first.index.manifest.documents) and "robots.txt" in records
        assert [d.doc_id for d in second.documents()] == [d.doc_id for d in first.documents()]  # a listing pages
        assert "gone.txt" not in records and records.get("gone.txt") is None
    finally:
        Collection.query = query  # type: ignore[method-assign]


def test_a_second_service_follows_writes_and_a_rebuild_carries_them(tmp_path: Path) -> None:
    a = seed_service(tmp_path / "a", CountingEmbedder(), **milvus(tmp_path))
    b = seed_service(tmp_path / "b", CountingEmbedder(), **milvus(tmp_path))
    b.live._every = 0.0  # look at every search rather than once a second
    a.put("robots.txt", ROBOTS.encode())
    assert b.search("机器人馆", 1, "lexical").results[0].doc_id == "robots.txt"
    a.writer.delete("robots.txt")
    assert all(h.doc_id != "robots.txt" for h in b.search("机器人馆", 5, "lexical").results)
    # A write through b between a rebuild's start and its switch is carried into the new collection, counted.
    # So is a delete of a document the rebuilding folder holds, created meanwhile (its tombstone): counted out.
    (tmp_path / "a" / "docs" / "robots.txt").write_text(ROBOTS, encoding="utf-8")
    began = a.writer._start(None)  # type: ignore[attr-defined]
    b.put("beer.txt", BEER.encode())
    b.put("robots.txt", ROBOTS.encode())
    b.delete("robots.txt")
    a.writer._build(folder.read_folder(a.settings.docs_dir), BuildReport(), None, began=began)  # type: ignore[attr-defined]
    collection = a.writer.collection  # type: ignore[attr-defined]
    assert_stats_match(collection)
    assert b.search("啤酒节", 1, "lexical").results[0].doc_id == "beer.txt"
    assert "robots.txt" not in a.index.manifest.documents
    assert all(h.doc_id != "robots.txt" for h in b.search("机器人馆", 5, "lexical").results)


def test_process_mode_collections_stay_as_they_were(tmp_path: Path) -> None:
    """QA_MILVUS_LEXICAL=process (the default) builds no sparse field and no stats collection."""
    service = seed_service(tmp_path, CountingEmbedder(), backend="milvus", milvus_uri=str(tmp_path / "milvus.db"))
    assert isinstance(service.index, MilvusView)
    collection = service.writer.collection  # type: ignore[attr-defined]
    name = collection.behind()
    assert not collection.sparse(name)
    assert not collection.client.has_collection(name + terms.STATS_SUFFIX)


def test_qa_index_moves_a_collection_between_the_two_places(tmp_path: Path) -> None:
    """A sync with the setting changed rebuilds the collection there; serving never does."""
    embedder = CountingEmbedder()
    service = seed_service(tmp_path, embedder, backend="milvus", milvus_uri=str(tmp_path / "milvus.db"))
    service.put("robots.txt", ROBOTS.encode())
    moved = QAService(service.settings.model_copy(update={"milvus_lexical": "milvus"}), embedder)
    moved.start()
    assert isinstance(moved.index, MilvusView)  # serving opens it as it was built
    moved.writer.sync()
    assert isinstance(moved.index, RemoteView)
    assert_stats_match(moved.writer.collection)  # type: ignore[attr-defined]
    assert moved.search("机器人馆", 1, "lexical").results[0].doc_id == "robots.txt"
    back = QAService(service.settings, embedder)
    back.writer.sync()
    assert isinstance(back.index, MilvusView)
    collection = back.writer.collection  # type: ignore[attr-defined]
    assert not collection.client.has_collection(str(collection.behind()) + terms.STATS_SUFFIX)


def test_a_view_that_met_many_passages_is_replaced_and_ranks_alike(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A replica's memory stays bounded: past SEEN passages met, the next look for writes gives searches an empty
    view, which ranks as the full one did."""
    service = seed_service(tmp_path, CountingEmbedder(), **milvus(tmp_path))
    service.put("robots.txt", ROBOTS.encode())
    service.put("beer.txt", BEER.encode())
    before = {q: [h.chunk_id for h in service.search(q, 3, "hybrid").results] for q in QUERIES}
    monkeypatch.setattr(remote, "SEEN", 2)
    full = service.live.peek()
    assert isinstance(full, RemoteView) and full.full
    service.live._every = service.live._next_look = 0.0  # look for writes before every search
    for query, ranked in before.items():
        assert [h.chunk_id for h in service.search(query, 3, "hybrid").results] == ranked
    assert service.live.peek() is not full
