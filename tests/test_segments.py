"""Writes that cost what they change: segments, deletions, merges; and results that do not depend on history.

Over the counting embedder (deterministic vectors), so two indexes of the
same documents must agree to the last digit, whatever order they were
written in.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from qa.index import merging, store
from qa.service.core import QAService

from conftest import ROOT, CountingEmbedder

TOPICS = ["港口", "起重机", "虚拟现实", "人工智能", "渡轮", "机器人", "图书馆", "地铁"]
QUERIES = ["港口起重机", "虚拟现实产业园", "渡轮航线时间", "robot training", "图书馆开放", "地铁 robot 港口", "崂山"]


def _text(i: int, version: int = 0) -> str:
    a, b = TOPICS[i % len(TOPICS)], TOPICS[(i * 3 + version) % len(TOPICS)]
    english = "Robot training at the harbour." if i % 3 == 0 else "The library opens at nine."
    return (
        f"第{i}号文档（版本{version}）介绍{a}与{b}的最新进展，包括建设规划、运营数据和市民反馈。\n\n"
        f"{english} 该项目由崂山区推进，{a}相关的配套设施将于明年完成。" * (1 + i % 3)
    )


def _results(service: QAService) -> dict[str, list[tuple[str, float]]]:
    out = {}
    for mode in ("dense", "lexical", "hybrid"):
        for q in QUERIES:
            hits = service.search(q, 8, mode).results  # type: ignore[arg-type]
            out[f"{mode}:{q}"] = [(h.chunk_id, h.score) for h in hits]
    return out


def _same(a: dict[str, list[tuple[str, float]]], b: dict[str, list[tuple[str, float]]]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert [c for c, _ in a[key]] == [c for c, _ in b[key]], key
        assert all(abs(x - y) < 1e-5 for (_, x), (_, y) in zip(a[key], b[key], strict=True)), key


@pytest.mark.slow
def test_the_same_documents_rank_alike_however_they_were_written(make_settings, tmp_path: Path) -> None:
    final = {f"doc-{i}.txt": _text(i, version=1 if i % 4 == 0 else 0) for i in range(24) if i % 5 != 4}

    one_go_docs = tmp_path / "one" / "docs"
    one_go_docs.mkdir(parents=True)
    for name, text in final.items():
        (one_go_docs / name).write_text(text, encoding="utf-8")
    one_go = QAService(make_settings(docs_dir=one_go_docs, index_dir=tmp_path / "one" / "index"), CountingEmbedder())
    one_go.writer.sync()
    assert len(one_go.index.segments) == 1

    history = QAService(
        make_settings(docs_dir=tmp_path / "h" / "docs", index_dir=tmp_path / "h" / "index"), CountingEmbedder()
    )
    history.writer.on_commit = None  # merges happen below, where the test says
    history.writer.sync()
    rng = random.Random(7)
    order = list(range(24))
    rng.shuffle(order)
    for step, i in enumerate(order):
        history.put(f"doc-{i}.txt", _text(i).encode())  # version 0 first ...
        if step % 7 == 6:
            history.writer.merger.merge(history.index)
    for i in range(24):
        if i % 5 == 4:
            history.writer.delete(f"doc-{i}.txt")  # ... some deleted ...
        elif i % 4 == 0:
            history.put(f"doc-{i}.txt", _text(i, version=1).encode())  # ... some replaced
    assert len(history.index.segments) > 2 and any(len(r) for r in history.index.deleted_rows)
    _same(_results(one_go), _results(history))

    while history.writer.merger.merge(history.index):  # merged down, with deletions dropped: still the same
        pass
    assert len(history.index.segments) <= merging.MAX_SEGMENTS
    _same(_results(one_go), _results(history))
    reloaded = QAService(history.settings, history.embedder)
    reloaded.writer.load()
    _same(_results(one_go), _results(reloaded))


def test_a_write_leaves_every_existing_segment_untouched(make_service) -> None:  # type: ignore[no-untyped-def]
    service: QAService = make_service()
    service.writer.on_commit = None
    first = service.index.segments[0]
    folder = service.settings.index_dir / first.name  # a packed file here; a folder's files alike
    stamps = {p: (p.stat().st_mtime_ns, p.stat().st_size) for p in [folder, *folder.rglob("*")]}
    change = service.put("note.txt", "港口新到了两台起重机。".encode())
    assert change.report.embedded == 1  # one window: the note's, nothing else
    service.put("note.txt", "港口又到了三台起重机。".encode())
    service.writer.delete("note.txt")
    assert {p: (p.stat().st_mtime_ns, p.stat().st_size) for p in [folder, *folder.rglob("*")]} == stamps
    view = service.index
    assert view.segments[0] is first and "note.txt" not in view.manifest.documents
    assert view.live_size == first.size


def test_deletions_made_during_a_merge_are_not_undone_by_it(make_service) -> None:  # type: ignore[no-untyped-def]
    service: QAService = make_service()
    service.writer.on_commit = None
    for i in range(4):
        service.put(f"n{i}.txt", f"第{i}条通知：港口起重机检修。".encode())
    snapshot = service.index
    names = merging.plan(snapshot) or [s.name for s in snapshot.segments]
    merged = merging._rewrite(snapshot, names, service.writer.spec)
    service.writer.delete("n2.txt")  # while the merge was being written
    with service.writer.exclusive(None):
        view = merging._commit(service.settings.index_dir, service.writer.on_disk(), snapshot, merged)
    assert view is not None and "n2.txt" not in view.manifest.documents
    service.writer.live.set(view)
    assert all(h.doc_id != "n2.txt" for h in service.search("港口起重机检修", 10, "lexical").results)
    assert set(view.manifest.documents) == {"laoshan-vr-ai.txt", "n0.txt", "n1.txt", "n3.txt"}


def test_an_index_of_the_earlier_format_is_converted_once(folder_segments, make_service, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Format 1 (one generation folder) opens: converted into a segment, with a log line, nothing embedded."""
    service: QAService = make_service()
    before = {q: [h.chunk_id for h in service.search(q, 5, "hybrid").results] for q in QUERIES}
    index_dir = service.settings.index_dir
    [segment] = service.index.segments
    gen = index_dir / "gen-20250101T000000-abcdef"
    gen.mkdir()
    seg_dir = index_dir / segment.name
    for name in ("chunks.jsonl", "vectors.faiss", "windows.npy"):
        (gen / name).write_bytes((seg_dir / name).read_bytes())
    info = json.loads((seg_dir / "segment.json").read_text())
    manifest = {
        "model": service.embedder.name,
        "dim": service.embedder.dim,
        "chunking": service.index.manifest.chunking,
        "documents": info["documents"],
        "created_at": "2025-01-01",
        "format_version": 1,
    }
    (gen / "manifest.json").write_text(json.dumps(manifest))
    (index_dir / "CURRENT").write_text(gen.name + "\n")
    embedder = CountingEmbedder()
    converted = QAService(service.settings, embedder)
    converted.writer.load()
    assert embedder.passages_embedded == 0 and not gen.exists()
    assert store.read_manifest(index_dir).format_version == store.FORMAT_VERSION
    assert {q: [h.chunk_id for h in converted.search(q, 5, "hybrid").results] for q in QUERIES} == before


_WRITER = """
import sys, random
sys.path.insert(0, {tests!r})
from conftest import CountingEmbedder
from qa.config import Settings
from qa.service.core import QAService
service = QAService(Settings(docs_dir={docs!r}, index_dir={index!r}), CountingEmbedder())
service.writer.on_commit = None
service.writer.ensure()
rng = random.Random({seed})
print("ready", flush=True)
for step in range(10_000):
    i = rng.randrange(40)
    if rng.random() < 0.25:
        try:
            service.writer.delete(f"w{{i}}.txt")
        except Exception:
            pass
    else:
        service.put(f"w{{i}}.txt", f"第{{i}}号：港口起重机第{{step}}次检修。".encode())
    if step % 5 == 4:
        service.writer.merger.merge(service.index)
"""


@pytest.mark.slow
def test_sigkill_during_writes_and_merges_leaves_an_index_that_opens(make_service, tmp_path: Path) -> None:
    service: QAService = make_service()
    settings = service.settings
    for seed in range(6):
        script = _WRITER.format(
            tests=str(ROOT / "tests"), docs=str(settings.docs_dir), index=str(settings.index_dir), seed=seed
        )
        proc = subprocess.Popen(
            [sys.executable, "-c", script], stdout=subprocess.PIPE, env={**os.environ, "HF_HUB_OFFLINE": "1"}
        )
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
        time.sleep(random.Random(seed).uniform(0.3, 2.5))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        view = store.load(settings.index_dir, model=service.embedder.name, dim=service.embedder.dim)
        for doc_id in view.manifest.documents:  # every listed document has all its chunks, each searchable
            rows = view.doc_rows(doc_id)
            assert len(rows) == view.manifest.documents[doc_id].chunks and all(view.live[r] for r in rows)
    restarted = QAService(settings, CountingEmbedder())
    assert restarted.start() is not None or restarted.index.live_size > 0  # opens, catching up with the folder
    assert restarted.search("港口起重机检修", 3, "lexical").results


@pytest.mark.parametrize("kind", ["flat", "hnsw"])
def test_filters_and_deletions_reach_the_vector_search_of_every_segment(make_service, kind: str) -> None:  # type: ignore[no-untyped-def]
    service: QAService = make_service(index_type=kind)
    service.writer.on_commit = None
    for i in range(3):
        service.put(f"x{i}.txt", f"第{i}份：崂山港口的起重机。".encode())
    service.writer.delete("x1.txt")
    view = service.index
    row = view.doc_rows("x2.txt")[0]
    vec = view.window_vectors([row])[0][0]
    assert next(iter(view.dense(vec, 3))) == row
    dense = service.search("x", 10, "dense", where=lambda doc_id, meta: doc_id.startswith("x"))
    assert {h.doc_id for h in dense.results} == {"x0.txt", "x2.txt"}
