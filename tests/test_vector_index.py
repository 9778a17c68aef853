"""The vector index type: exact up to a threshold, HNSW beyond, both behind the same store and search."""

from __future__ import annotations

import faiss
import numpy as np
import pytest

from qa.config import VectorSpec
from qa.index import store, vectors

from conftest import SEED


@pytest.mark.parametrize(
    ("kind", "threshold", "expected"),
    [("auto", 10**6, "IndexFlatIP"), ("auto", 5, "IndexHNSWFlat"), ("hnsw", 10**6, "IndexHNSWFlat")],
)
def test_index_type_by_size_and_setting(make_service, fake_embedder, kind, threshold, expected) -> None:  # type: ignore[no-untyped-def]
    service = make_service(index_type=kind, hnsw_threshold=threshold)
    assert type(service.index.segments[0].vectors).__name__ == expected
    loaded = store.load(service.settings.index_dir, model=fake_embedder.name, dim=fake_embedder.dim)  # memory-mapped
    [segment] = loaded.segments
    assert (
        type(segment.vectors).__name__ == expected
        and segment.vectors.ntotal == service.index.segments[0].vectors.ntotal
    )
    # Dense search over the stored vectors finds a window's own chunk first, filtered or not.
    chunk = loaded.chunks[3]
    window = loaded.window_vectors([3])[0][0]
    from qa.search import retrieval

    class Fixed:
        name, dim = fake_embedder.name, fake_embedder.dim

        def encode_queries(self, texts):  # type: ignore[no-untyped-def]
            return window[None, :]

    hits = retrieval.search(loaded, Fixed(), "q", 3, "dense")  # type: ignore[arg-type]
    assert hits[0].chunk == chunk and hits[0].dense_score == pytest.approx(1.0, abs=1e-5)
    assert retrieval.search(loaded, Fixed(), "q", 3, "dense", where=lambda doc_id, meta: False) == []  # type: ignore[arg-type]
    # Incremental updates copy vectors out of it, whatever its type.
    service.put("extra.txt", b"An extra document about harbour cranes.")
    assert set(service.index.manifest.documents) == {SEED.name, "extra.txt"}
    assert np.allclose(service.index.window_vectors([3])[0], loaded.window_vectors([3])[0])
    # A filter restricts the vector search itself: the seed's own window still finds only the other document.
    hits = retrieval.search(service.index, Fixed(), "q", 3, "dense", where=lambda doc_id, meta: doc_id == "extra.txt")  # type: ignore[arg-type]
    assert [h.doc_id for h in hits] == ["extra.txt"]


def test_hnsw_keeps_its_search_depth() -> None:
    spec = VectorSpec(kind="hnsw", ef_search=77)
    index = vectors.vector_index(np.eye(4, 8, dtype=np.float32), 8, spec)
    assert isinstance(index, faiss.IndexHNSWFlat) and index.hnsw.efSearch == 77
    assert (
        spec.chosen(10) == "hnsw" and VectorSpec(threshold=3).chosen(4) == "hnsw" and VectorSpec().chosen(4) == "flat"
    )


def test_a_new_document_leaves_the_existing_vector_index_alone(make_service, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A write adds a segment of its own: the HNSW graph already built is neither rebuilt nor copied."""
    service = make_service(index_type="hnsw")
    before = service.index
    [first] = before.segments
    path = service.settings.index_dir / first.name  # a packed file, or a folder of files
    files = {p.name: p.stat().st_mtime_ns for p in [path, *path.rglob("*")]}
    built = []
    real = vectors.vector_index
    monkeypatch.setattr(vectors, "vector_index", lambda v, *a, **kw: built.append(len(v)) or real(v, *a, **kw))
    service.put("new.txt", b"A new document about harbour cranes and their loading schedule.")
    after = service.index
    assert after.segments[0] is first and len(after.segments) == 2
    assert built == [after.segments[1].vectors.ntotal]  # only the new document's windows were indexed
    assert {p.name: p.stat().st_mtime_ns for p in [path, *path.rglob("*")]} == files
    row = after.doc_rows("new.txt")[0]
    vec = after.window_vectors([row])[0][0]
    assert max(after.dense(vec, 1), key=lambda r: r) == row
    # A replacement deletes the old rows where they are and adds the new text as another segment.
    service.put("new.txt", b"Replaced text.")
    assert len(service.index.segments) == 3 and service.index.segments[0] is first
    assert [service.index.chunks[r].text for r in service.index.doc_rows("new.txt")] == ["Replaced text."]
