"""A small segment packed into one file: what a one-document write leaves on disk, what it costs in fsyncs,
damage to the file, and indexes written before the layout (format 2, folders only), all on real files."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from qa.errors import IndexCorrupt
from qa.index import packed, segment, store
from qa.service.core import QAService

NOTE = "港口新到了两台起重机，明天开始装卸作业。".encode()


def _what(path: str, folders: dict[str, str]) -> str:
    """What an fsynced path is, its temporary name (before the rename) taken back to the name it gets."""
    if path in folders:
        return folders[path]
    name = Path(path).name
    name = re.sub(r"^\.tmp-CURRENT-[0-9a-f]+$", "CURRENT", name)
    name = re.sub(r"^\.(.+)\.tmp-[0-9a-f]+$", r"\1", name)  # a document, through its hidden temporary file
    return name.removeprefix(".tmp-")  # a segment, before its rename


def _listing(index_dir: Path) -> set[str]:
    return {p.relative_to(index_dir).as_posix() for p in index_dir.rglob("*")}


def test_a_one_document_write_adds_one_file_and_costs_seven_fsyncs(make_service, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    service: QAService = make_service()
    service.writer.on_commit = None  # no merge in the background to count
    index_dir = service.settings.index_dir
    before = _listing(index_dir)
    fsyncs = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: fsyncs.append(os.readlink(f"/proc/self/fd/{fd}")) or real(fd))
    service.put("note.txt", NOTE)
    added = _listing(index_dir) - before
    [new] = service.index.segments[1:]
    assert new.is_packed and new.name in added
    assert {a for a in added if not a.startswith("commit-")} == {new.name}  # one file: no folder, no deletions
    # The document's file and the docs folder; the segment, the commit and the index folder before the switch;
    # CURRENT's new content and the index folder after its rename. Nothing else.
    folders = {str(service.settings.docs_dir): "docs/", str(index_dir): "index/"}
    commit = store.current_path(index_dir).name
    assert sorted(_what(f, folders) for f in fsyncs) == sorted(
        ["note.txt", "docs/", new.name, commit, "index/", "CURRENT", "index/"]
    ), fsyncs
    reloaded = QAService(service.settings, service.embedder)
    reloaded.writer.load()
    assert "note.txt" in reloaded.index.manifest.documents
    assert [h.doc_id for h in reloaded.search("港口起重机装卸", 1, "lexical").results] == ["note.txt"]


def test_packing_round_trips_every_part(make_service) -> None:  # type: ignore[no-untyped-def]
    service: QAService = make_service()
    [written] = service.index.segments
    path = service.settings.index_dir / written.name
    parts = packed.read(path)
    assert set(parts) == {
        "segment.json", "chunks.jsonl", "vectors.faiss", "windows.npy",
        *(f"{f}/{n}" for f in ("lexical", "bridge") for n in ("indptr.npy", "rows.npy", "counts.npy", "lengths.npy", "terms.json")),
    }  # fmt: skip
    loaded = segment.Segment.load(path)
    assert [c.text for c in loaded.chunks] == [c.text for c in written.chunks]
    assert loaded.vectors.ntotal == written.vectors.ntotal and loaded.documents == written.documents
    assert loaded.lexical.terms == written.lexical.terms and (loaded.lexical.rows == written.lexical.rows).all()


@pytest.mark.parametrize("damage", ["a flipped byte", "cut short", "grown", "not a packed segment", "repacked wrong"])
def test_a_damaged_packed_segment_is_one_readable_error(make_service, damage: str) -> None:  # type: ignore[no-untyped-def]
    service: QAService = make_service()
    path = service.settings.index_dir / service.index.segments[0].name
    data = bytearray(path.read_bytes())
    if damage == "a flipped byte":
        data[-200] ^= 0x01
    elif damage == "cut short":
        data = data[: len(data) - 1]
    elif damage == "grown":
        data += b"\0"
    elif damage == "repacked wrong":  # whole, with a checksum that matches, but its chunks name another document
        parts = {k: bytes(v) for k, v in packed.unpack(bytes(data)).items()}
        parts["chunks.jsonl"] = parts["chunks.jsonl"].replace(b'"doc_id": "laoshan', b'"doc_id": "renamed', 1)
        data = bytearray(packed.pack(parts))
    else:
        data[:6] = b"QASEG9"
    path.write_bytes(bytes(data))
    with pytest.raises(IndexCorrupt, match=("chunks of" if damage == "repacked wrong" else path.name) + ".*--rebuild"):
        QAService(service.settings, service.embedder).writer.load()


def test_an_index_of_format_2_loads_as_it_is_and_takes_packed_segments(make_service, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Format 2 is format 3 without packed segments: its folders are read in place, nothing converted or embedded."""
    monkeypatch.setattr(segment, "PACKED_MAX_WINDOWS", -1)
    service: QAService = make_service()
    index_dir = service.settings.index_dir
    commit_file = store.current_path(index_dir)
    commit = json.loads(commit_file.read_text())
    commit["format_version"] = 2  # what the release before packed segments wrote, folders and all
    commit_file.write_text(json.dumps(commit))
    [old] = service.index.segments
    assert (index_dir / old.name / segment.VECTORS).is_file()
    monkeypatch.setattr(segment, "PACKED_MAX_WINDOWS", 4096)

    embedder = type(service.embedder)()
    upgraded = QAService(service.settings, embedder)
    upgraded.writer.load()
    assert embedder.passages_embedded == 0 and upgraded.index.segments[0].name == old.name
    upgraded.writer.on_commit = None
    upgraded.put("note.txt", NOTE)
    assert store.read_manifest(index_dir).format_version == store.FORMAT_VERSION == 3
    reloaded = QAService(service.settings, service.embedder)
    reloaded.writer.load()
    kinds = [s.is_packed for s in reloaded.index.segments]
    assert kinds == [False, True] and (index_dir / old.name).is_dir()
    assert [h.doc_id for h in reloaded.search("港口起重机装卸", 1, "lexical").results] == ["note.txt"]
    assert reloaded.index.manifest.documents.keys() == {"laoshan-vr-ai.txt", "note.txt"}
