"""The index on disk (segments under commits): round trip, incremental updates, and failures that must stay loud."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from qa.errors import IndexCorrupt, IndexMissing, ModelMismatch
from qa.index import segment, store
from qa.index.chunking import embedding_windows
from qa.service.core import QAService

LONG = "这是一个足够长的段落,用来测试增量索引是否只嵌入发生变化的文档。" * 4


def _write(docs: Path, name: str, text: str) -> None:
    path = docs / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


@pytest.fixture
def service(make_settings, fake_embedder, tmp_path: Path) -> QAService:  # type: ignore[no-untyped-def]
    docs = tmp_path / "docs"
    _write(docs, "a.txt", "甲" + LONG)
    _write(docs, "b.md", "乙" + LONG + "\n\n" + "丙" + LONG)
    return QAService(make_settings(), fake_embedder)


def test_round_trip(service: QAService) -> None:
    report = service.writer.sync()
    assert report.added == ["a.txt", "b.md"] and report.chunks == 3
    loaded = store.load(service.settings.index_dir, model=service.embedder.name, dim=service.embedder.dim)
    assert [c.chunk_id for c in loaded.chunks] == [c.chunk_id for c in service.index.chunks]
    windows = sum(s.vectors.ntotal for s in loaded.segments)
    assert (
        windows == sum(len(embedding_windows(loaded.chunks[r], service.writer.params)) for r in range(loaded.size)) > 3
    )
    assert loaded.manifest.documents["b.md"].chunks == 2
    assert loaded.manifest.dim == 16 and loaded.manifest.model == "test:hash-embedder"
    hits = service.search("甲", 3, "lexical").results
    assert hits and hits[0].chunk.doc_id == "a.txt"


def test_unchanged_folder_embeds_nothing(service: QAService, fake_embedder) -> None:  # type: ignore[no-untyped-def]
    service.writer.sync()
    first = fake_embedder.passages_embedded
    report = service.writer.sync()
    assert fake_embedder.passages_embedded == first
    assert report.unchanged == ["a.txt", "b.md"] and not report.touched


def test_only_changed_documents_are_embedded(service: QAService, fake_embedder, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    service.writer.sync()
    docs = tmp_path / "docs"
    before = fake_embedder.passages_embedded
    _write(docs, "a.txt", "丁" + LONG)
    (docs / "b.md").unlink()
    _write(docs, "sub/c.txt", "戊" + LONG)
    report = service.writer.sync()
    assert (report.added, report.changed, report.removed) == (["sub/c.txt"], ["a.txt"], ["b.md"])
    reloaded = service.writer.load()
    live = [reloaded.chunks[r] for r in range(reloaded.size) if reloaded.live[r]]
    fresh = [c for c in live if c.doc_id in ("a.txt", "sub/c.txt")]
    assert fake_embedder.passages_embedded - before == sum(
        len(embedding_windows(c, service.writer.params)) for c in fresh
    )
    assert sorted(reloaded.manifest.documents) == ["a.txt", "sub/c.txt"]
    # reused and fresh vectors both still line up with their chunks' windows
    params = service.writer.params
    for row in range(reloaded.size):
        chunk = reloaded.chunks[row]
        vecs, _ = reloaded.window_vectors([row])
        expected = fake_embedder.encode_passages(embedding_windows(chunk, params))
        assert vecs.shape == expected.shape and abs(float(np.sum(vecs * expected)) - len(vecs)) < 1e-4


def test_missing_index_is_a_clear_error(make_settings, fake_embedder) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(IndexMissing, match="qa index"):
        QAService(make_settings(), fake_embedder).writer.load()


def test_another_model_is_a_clear_error(service: QAService) -> None:
    service.writer.sync()
    with pytest.raises(ModelMismatch, match="test:hash-embedder"):
        store.load(service.settings.index_dir, model="another-model", dim=16)
    with pytest.raises(ModelMismatch):
        store.load(service.settings.index_dir, model="test:hash-embedder", dim=384)


@pytest.mark.parametrize(
    "victim",
    [segment.VECTORS, segment.CHUNKS, segment.SEGMENT, segment.WINDOWS, "lexical/rows.npy", "commit", "packed"],
)
def test_truncated_files_are_a_clear_error(request: pytest.FixtureRequest, service: QAService, victim: str) -> None:
    if victim != "packed":  # a file of a segment folder (a large segment's layout)
        request.getfixturevalue("folder_segments")
    service.writer.sync()
    [written] = service.index.segments
    assert written.is_packed == (victim == "packed")
    commit = store.current_path(service.settings.index_dir)
    path = service.settings.index_dir / written.name
    path = commit if victim == "commit" else path if victim == "packed" else path / victim
    path.write_bytes(path.read_bytes()[: max(1, path.stat().st_size // 2)])
    with pytest.raises(IndexCorrupt, match="qa index --rebuild"):
        service.writer.load()
    restarted = QAService(service.settings, service.embedder)
    with pytest.raises(IndexCorrupt):
        restarted.writer.sync()  # an update needs the index it patches
    assert restarted.writer.sync(rebuild=True).embedded > 0  # the remedy works without reading the damaged files
    assert restarted.writer.load().live_size > 0


def test_a_killed_writer_leaves_the_last_good_index(service: QAService, tmp_path: Path) -> None:
    service.writer.sync()
    index_dir = service.settings.index_dir
    live = store.current_path(index_dir)
    # what a writer killed mid-way leaves: a half-written segment, a commit CURRENT never named
    half = index_dir / ".tmp-seg-killed"
    half.mkdir()
    (half / segment.CHUNKS).write_text("{not json")
    (index_dir / "commit-orphan.json").write_text("{}")
    assert store.current_path(index_dir) == live
    assert service.writer.load().live_size == 3
    _write(tmp_path / "docs", "new.txt", "己" + LONG)
    service.writer.sync()
    assert not half.exists() and not (index_dir / "commit-orphan.json").exists(), (
        "leftovers are pruned by the next write"
    )


def test_only_what_the_live_and_the_previous_commit_use_is_kept(service: QAService, tmp_path: Path) -> None:
    for i in range(4):
        _write(tmp_path / "docs", "a.txt", f"{i}" + LONG)
        service.writer.sync()
    index_dir = service.settings.index_dir
    commits = sorted(p.name for p in index_dir.glob("commit-*"))
    assert len(commits) == 2 and store.current_path(index_dir).name in commits
    used = {s.name for s in service.index.segments}
    assert used <= {p.name for p in index_dir.glob("seg-*")} and len(list(index_dir.glob("seg-*"))) <= len(used) + 1


def test_empty_docs_folder_gives_an_empty_index(make_settings, fake_embedder) -> None:  # type: ignore[no-untyped-def]
    service = QAService(make_settings(), fake_embedder)
    assert service.writer.sync().chunks == 0
    assert service.search("anything", 5, "hybrid").results == []
