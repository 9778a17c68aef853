"""Query encoding under load: concurrent queries share one encoder call, and repeated queries hit an LRU.

The model dominates a query's cost, and one forward pass over 8 short
queries costs far less than 8 passes on a 2-core machine. Each of the inner
embedder's workers (one per core, see :mod:`qa.encoder.compute`) has a
gathering thread that takes the first waiting query, gathers others that
arrive within ``wait`` (only if other requests are in flight, so a lone
client never waits), and encodes them together; while one batch encodes, the
next gathers. Identical queries in a batch are encoded once; recent query
vectors are cached, so a chatbot's retries and repeated questions skip the
model entirely.

A query with nobody else in flight goes to the inner embedder's
``encode_alone`` when it has one: on every core (:mod:`qa.encoder.lone`)
rather than on one worker. The torch workers are idle then, so the cores are
not shared; a query that arrives meanwhile runs on a worker as usual.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
from cachetools import LRUCache
from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric

from qa.encoder.embedder import Embedder


@dataclass
class _Pending:
    text: str
    done: threading.Event = field(default_factory=threading.Event)
    vector: np.ndarray | None = None
    error: BaseException | None = None


class BatchingEmbedder:
    """An :class:`Embedder` whose single-query calls are micro-batched and cached; everything else passes through."""

    def __init__(
        self,
        inner: Embedder,
        *,
        wait_ms: float = 2.0,
        max_batch: int = 32,
        cache_size: int = 1024,
        parallel: int | None = None,
    ) -> None:
        self.inner = inner
        self.name, self.dim = inner.name, inner.dim
        self.wait = wait_ms / 1000
        self.max_batch = max_batch
        self._cache: LRUCache[str, np.ndarray] | None = LRUCache(cache_size) if cache_size > 0 else None
        self._cache_lock = threading.Lock()  # cachetools caches are not thread-safe
        workers = getattr(inner, "workers", 1)
        self.parallel: int = parallel or (workers if isinstance(workers, int) else 1)  # batches encoding at once
        self._encode_alone = getattr(inner, "encode_alone", None)
        self._queue: queue.SimpleQueue[_Pending] = queue.SimpleQueue()
        self._in_flight = 0
        self._lock = threading.Lock()
        # One batch gathers at a time: two gatherers taking turns on arrivals
        # would each hold half a batch, and small batches cost the most per query.
        self._gathering = threading.Lock()
        self._started = False
        # Unregistered: an app's /metrics collects them through :meth:`collect`, however many apps share this embedder.
        self.batch_sizes = Histogram(
            "qa_encoder_batch_size",
            "Distinct queries encoded by one encoder call.",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128),
            registry=None,
        )
        self.queries = Counter(
            "qa_encoder_queries",
            "Query encodings by path: cached (the LRU, no model), lone (nobody else in flight: every core), "
            "packed (a micro-batch on one worker).",
            ["path"],
            registry=None,
        )

    def encode_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self.inner.encode_passages(texts)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        if len(texts) != 1:
            return self.inner.encode_queries(texts)
        return self.encode_query(texts[0])[None, :]

    def _cached(self, text: str) -> np.ndarray | None:
        if self._cache is None:
            return None
        with self._cache_lock:
            return self._cache.get(text)

    def _remember(self, text: str, vec: np.ndarray) -> None:
        vec.setflags(write=False)  # shared between requests: nobody may change it
        if self._cache is not None:
            with self._cache_lock:
                self._cache[text] = vec

    def collect(self) -> Iterator[Metric]:
        """The encoder's metrics, for a Prometheus collector."""
        yield from self.batch_sizes.collect()
        yield from self.queries.collect()
        with self._lock:
            in_flight = self._in_flight
        yield GaugeMetricFamily(
            "qa_encoder_queries_in_flight", "Queries waiting for or inside an encoder call now.", value=in_flight
        )
        yield GaugeMetricFamily(
            "qa_encoder_queue_depth", "Queries waiting for a gatherer to take them now.", value=self._queue.qsize()
        )

    def warm(self, text: str = "warm-up") -> None:
        """Encode once, past the cache and the counters, so the first real query does not pay for lazy set-up."""
        with self._lock:
            self._in_flight += 1
        try:
            if self._encode_alone is not None:
                self._encode_alone(text)
            self.inner.encode_queries([text])
        finally:
            with self._lock:
                self._in_flight -= 1

    def encode_query(self, text: str) -> np.ndarray:
        cached = self._cached(text)
        if cached is not None:
            self.queries.labels("cached").inc()
            return cached
        item = _Pending(text)
        with self._lock:
            self._in_flight += 1
            if not self._started:
                self._started = True
                for k in range(self.parallel):
                    threading.Thread(target=self._run, name=f"qa-query-batcher-{k}", daemon=True).start()
        try:
            self._queue.put(item)
            item.done.wait()
        finally:
            with self._lock:
                self._in_flight -= 1
        if item.error is not None:
            raise item.error
        assert item.vector is not None
        return item.vector

    def _gather(self) -> list[_Pending]:
        batch = [self._queue.get()]
        deadline = time.monotonic() + self.wait
        while len(batch) < self.max_batch:
            try:
                batch.append(self._queue.get_nowait())
                continue
            except queue.Empty:
                pass
            with self._lock:
                alone = self._in_flight <= len(batch)
            left = deadline - time.monotonic()
            if alone or left <= 0:
                break  # nobody else is coming, or we waited long enough
            try:
                batch.append(self._queue.get(timeout=left))
            except queue.Empty:
                break
        return batch

    def _run(self) -> None:
        while True:
            with self._gathering:
                batch = self._gather()
            texts = list(dict.fromkeys(p.text for p in batch))  # identical queries encode once
            self.batch_sizes.observe(len(texts))
            vectors, errors = self._encode(texts)
            for p in batch:
                p.vector, p.error = vectors.get(p.text), errors.get(p.text)
                p.done.set()

    def _encode(self, texts: list[str]) -> tuple[dict[str, np.ndarray], dict[str, BaseException]]:
        """Vectors of ``texts`` in one call; if that call fails, each text alone, so one bad query fails by itself."""
        try:
            return self._vectors(texts, self._call(texts)), {}
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting callers, who raise it
            if len(texts) == 1:
                return {}, {texts[0]: exc}
        vectors: dict[str, np.ndarray] = {}
        errors: dict[str, BaseException] = {}
        for text in texts:
            found, failed = self._encode([text])
            vectors |= found
            errors |= failed
        return vectors, errors

    def _call(self, texts: list[str]) -> np.ndarray:
        if len(texts) == 1 and self._encode_alone is not None:
            with self._lock:
                alone = self._in_flight <= 1
            if alone:
                self.queries.labels("lone").inc()
                one: np.ndarray = self._encode_alone(texts[0])[None, :]
                return one
        self.queries.labels("packed").inc(len(texts))
        return self.inner.encode_queries(texts)

    def _vectors(self, texts: list[str], vecs: np.ndarray) -> dict[str, np.ndarray]:
        out = {t: np.array(v, dtype=np.float32) for t, v in zip(texts, vecs, strict=True)}
        for t, v in out.items():
            self._remember(t, v)
        return out


class CachedPassages:
    """Passage embeddings of short texts read again and again (the sentences of the passages people ask about),
    kept in an LRU so a popular passage's sentences are encoded once; a call encodes only the texts it lacks."""

    def __init__(self, embedder: Embedder, size: int) -> None:
        self._embedder = embedder
        self._cache: LRUCache[str, np.ndarray] | None = LRUCache(size) if size > 0 else None
        self._lock = threading.Lock()  # cachetools caches are not thread-safe

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        if self._cache is None:
            return self._embedder.encode_passages(texts)
        with self._lock:
            known = {t: v for t in dict.fromkeys(texts) if (v := self._cache.get(t)) is not None}
        missing = [t for t in dict.fromkeys(texts) if t not in known]
        if missing:
            fresh = self._embedder.encode_passages(missing)
            with self._lock:
                for text, vec in zip(missing, fresh, strict=True):
                    vec.setflags(write=False)
                    self._cache[text] = vec
                    known[text] = vec
        return np.stack([known[t] for t in texts]) if texts else np.zeros((0, self._embedder.dim), np.float32)
