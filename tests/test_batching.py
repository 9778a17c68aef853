"""Micro-batching and the query cache, over the counting embedder slowed down so that requests overlap."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import numpy as np
import pytest

from qa.encoder.batching import BatchingEmbedder

from conftest import CountingEmbedder


class SlowEmbedder(CountingEmbedder):
    """Each encoder call takes a while, as the model does; records the size of every call."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[int] = []
        self.running = 0
        self.most_at_once = 0
        self._lock = threading.Lock()

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        with self._lock:
            self.calls.append(len(texts))
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        time.sleep(0.05)
        with self._lock:
            self.running -= 1
        if "boom" in texts:
            raise RuntimeError("encoder failed")
        return super().encode_queries(texts)


def _concurrently(fn, args: list[str]) -> list:  # type: ignore[no-untyped-def, type-arg]
    out: list = [None] * len(args)  # type: ignore[type-arg]
    start = threading.Barrier(len(args))

    def run(i: int) -> None:
        start.wait()
        try:
            out[i] = fn(args[i])
        except Exception as exc:  # noqa: BLE001
            out[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(args))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return out


def test_concurrent_queries_share_encoder_calls_and_get_their_own_vectors() -> None:
    inner = SlowEmbedder()
    batching = BatchingEmbedder(inner, wait_ms=5, max_batch=8, cache_size=0)
    queries = [f"question {i}" for i in range(24)]
    vecs = _concurrently(batching.encode_query, queries)
    assert sum(inner.calls) == 24 and len(inner.calls) < 24 and max(inner.calls) <= 8
    reference = CountingEmbedder()
    for q, v in zip(queries, vecs, strict=True):
        assert np.allclose(v, reference.encode_queries([q])[0])


def test_with_two_workers_two_batches_encode_at_once() -> None:
    """One gathering thread per encoder worker: while a batch encodes, the next gathers and runs beside it."""
    inner = SlowEmbedder()
    batching = BatchingEmbedder(inner, wait_ms=5, max_batch=4, cache_size=0, parallel=2)
    queries = [f"question {i}" for i in range(16)]
    vecs = _concurrently(batching.encode_query, queries)
    assert sum(inner.calls) == 16 and max(inner.calls) <= 4
    assert inner.most_at_once == 2
    reference = CountingEmbedder()
    for q, v in zip(queries, vecs, strict=True):
        assert np.allclose(v, reference.encode_queries([q])[0])


def test_a_lone_client_is_never_held_back_and_repeats_hit_the_cache() -> None:
    inner = SlowEmbedder()
    batching = BatchingEmbedder(inner, wait_ms=50, cache_size=2)
    for q in ["a", "b", "c"]:
        batching.encode_queries([q])
    assert inner.calls == [1, 1, 1]
    v = batching.encode_query("c")
    assert inner.calls == [1, 1, 1]  # cached
    with pytest.raises(ValueError):
        v[0] = 1.0  # shared vectors are read-only
    batching.encode_query("a")  # evicted (the cache holds 2)
    assert inner.calls == [1, 1, 1, 1]
    # Several texts at once go straight through, unbatched and uncached.
    assert batching.encode_queries(["x", "y"]).shape == (2, 16) and inner.calls[-1] == 2


def test_identical_queries_encode_once_and_errors_reach_every_caller() -> None:
    inner = SlowEmbedder()
    batching = BatchingEmbedder(inner, wait_ms=20, cache_size=0)
    vecs = _concurrently(batching.encode_query, ["same"] * 6)
    assert sum(inner.calls) < 6 and all(np.array_equal(v, vecs[0]) for v in vecs)
    errors = _concurrently(batching.encode_query, ["boom"] * 3)
    assert all(isinstance(e, RuntimeError) for e in errors)
    assert np.allclose(batching.encode_query("after"), CountingEmbedder().encode_queries(["after"])[0])  # still serving


def test_a_bad_query_fails_alone_and_its_batch_mates_get_their_vectors() -> None:
    """An encoder error on one query of a batch is retried query by query, so the others never see it."""
    inner = SlowEmbedder()
    batching = BatchingEmbedder(inner, wait_ms=50, max_batch=16, cache_size=0)
    queries = ["boom"] + [f"good question {i}" for i in range(7)]
    out = _concurrently(batching.encode_query, queries)
    assert isinstance(out[0], RuntimeError)
    reference = CountingEmbedder()
    for q, v in zip(queries[1:], out[1:], strict=True):
        assert isinstance(v, np.ndarray) and np.allclose(v, reference.encode_queries([q])[0]), v
    assert max(inner.calls) > 1  # they really shared a batch before the retry


class LoneCapable(SlowEmbedder):
    """Also has a lone path, as the real embedder has with ONNX Runtime; records what each call found running."""

    def __init__(self) -> None:
        super().__init__()
        self.alone: list[str] = []
        self.crowded_alone = 0

    def encode_alone(self, text: str) -> np.ndarray:
        with self._lock:
            self.alone.append(text)
            self.crowded_alone += self.running > 0  # a lone call must never start beside another call
            self.running += 1
        time.sleep(0.02)
        with self._lock:
            self.running -= 1
        return super(SlowEmbedder, self).encode_queries([text])[0]


def test_a_query_with_no_company_takes_the_lone_path_and_company_takes_batches() -> None:
    inner = LoneCapable()
    batching = BatchingEmbedder(inner, wait_ms=5, max_batch=8, cache_size=0, parallel=2)
    for q in ["a", "b"]:
        batching.encode_query(q)
    assert inner.alone == ["a", "b"] and inner.calls == []
    queries = [f"question {i}" for i in range(24)]
    vecs = _concurrently(batching.encode_query, queries)
    assert sum(inner.calls) + len(inner.alone) - 2 == 24
    assert len(inner.alone) - 2 <= 4 and max(inner.calls) > 1  # under company: batches
    assert inner.crowded_alone == 0
    reference = CountingEmbedder()
    for q, v in zip(queries, vecs, strict=True):
        assert np.allclose(v, reference.encode_queries([q])[0])
