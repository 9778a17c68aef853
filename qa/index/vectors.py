"""The vector index policy: which FAISS index holds the window vectors, and growing it instead of rebuilding.

Exact (flat) search is best while it is fast enough; past
:attr:`VectorSpec.threshold` vectors ``auto`` switches to HNSW, which needs no
training and keeps every vector reconstructable (incremental updates copy
stored vectors). HNSW beat IVF on recall per millisecond in
benchmarks/bench_scale.py.
"""

from __future__ import annotations

import faiss
import numpy as np

from qa.config import VectorSpec


def vector_index(vectors: np.ndarray, dim: int, spec: VectorSpec) -> faiss.Index:
    index: faiss.Index
    if spec.chosen(len(vectors)) == "hnsw":
        graph = faiss.IndexHNSWFlat(dim, spec.m, faiss.METRIC_INNER_PRODUCT)
        graph.hnsw.efConstruction = spec.ef_construction
        graph.hnsw.efSearch = spec.ef_search  # saved with the index; searches raise it to the depth they need
        index = graph
    else:
        index = faiss.IndexFlatIP(dim)
    if len(vectors):
        index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return index


def extended(base: faiss.Index, vectors: np.ndarray, spec: VectorSpec) -> faiss.Index | None:
    """``base`` plus the rows of ``vectors`` past its end, when that is cheaper than a new index.

    The caller guarantees that ``vectors[:base.ntotal]`` are base's own rows.
    An HNSW graph takes minutes to build at a million vectors but new vectors
    join it in milliseconds; a flat index is rebuilt as fast as it is copied.
    """
    if not isinstance(base, faiss.IndexHNSWFlat) or spec.chosen(len(vectors)) != "hnsw" or len(vectors) < base.ntotal:
        return None
    grown = faiss.clone_index(base)
    if len(vectors) > base.ntotal:
        grown.add(np.ascontiguousarray(vectors[base.ntotal :], dtype=np.float32))
    return grown


def build(vectors: np.ndarray, dim: int, spec: VectorSpec, base: faiss.Index | None = None) -> faiss.Index:
    """An index of ``vectors``; with ``base`` (whose rows are a prefix of them) it may grow a copy of base instead."""
    return (extended(base, vectors, spec) if base is not None else None) or vector_index(vectors, dim, spec)
