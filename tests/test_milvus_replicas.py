"""Several qa processes writing one Milvus collection: each document served in one version.

Services in this process share milvus-lite's file as replicas share a server.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import CountingEmbedder, seed_service

pytest.importorskip("pymilvus", reason="the milvus extra is not installed: pip install -e '.[milvus]'")
pytest.importorskip("milvus_lite", reason="the milvus extra is not installed: pip install -e '.[milvus]'")

from qa.index.chunking import chunk_document, embedding_windows
from qa.index.milvus import layout
from qa.index.segment import DocEntry
from qa.service.core import QAService


def milvus(tmp_path: Path) -> dict[str, object]:
    return {"backend": "milvus", "milvus_uri": str(tmp_path / "milvus.db"), "min_paragraph": 1}


def version(name: str, k: int) -> str:
    """Text whose every passage names its version, so a document mixed from two writes shows."""
    return "\n\n".join(f"{name} 第{k}版 第{p}段：这一段只属于第{k}版，用来检查写入是否混合。" for p in range(4))


def versions_in(texts: list[str]) -> set[str]:
    return {t.split("：")[0].split(" ")[1] for t in texts}


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
