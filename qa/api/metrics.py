"""``GET /metrics``: what an operator graphs and alerts on, in the Prometheus text format.

Each app has a registry of its own (tests run several apps in one process).
Requests are counted as they are answered (:mod:`qa.api.observe`); the rest
is read from the core when scraped, so nothing is counted twice or goes
stale: index sizes, commits and merges per open collection, background jobs
by state, and the encoder's own metrics (batch sizes, which query path ran,
cache hits, queue depth). Collections that are not open are not opened for a
scrape. Guarded like reads: with ``QA_API_KEY_READS`` it needs the key.
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Callable, Iterator
from typing import get_args

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector
from starlette.datastructures import State as AppState

from qa.api.deps import Reader
from qa.index.backend import IndexView
from qa.service.catalog import Catalog
from qa.service.core import QAService
from qa.service.jobs import State

JOB_STATES: tuple[State, ...] = get_args(State)
# Seconds: a cached query answers in about a millisecond, a rebuild request in tens of seconds.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

router = APIRouter()


class HttpMetrics:
    """What the HTTP layer counts itself: requests, their latency, and how questions were answered."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "qa_http_requests", "HTTP requests answered.", ["method", "route", "status"], registry=registry
        )
        self.latency = Histogram(
            "qa_http_request_duration_seconds",
            "Time from a request's arrival to the end of its response.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.answers = Counter(
            "qa_answers",
            "Questions asked through /ask, by outcome: answered, or abstained (no answer given).",
            ["outcome"],
            registry=registry,
        )

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)

    def answered(self, answer: object) -> None:
        """Count one /ask outcome: the hook for abstention (``answer is None``)."""
        self.answers.labels("abstained" if answer is None else "answered").inc()


class CoreCollector(Collector):
    """Reads the open collections and the shared encoder at scrape time."""

    def __init__(self, catalog: Callable[[], Catalog | None]) -> None:
        self.catalog = catalog

    def collect(self) -> Iterator[Metric]:
        catalog = self.catalog()
        if catalog is None:  # the app is still starting
            return
        yield from _collections(catalog.all_opened())
        collect = getattr(catalog.embedder, "collect", None)
        if collect is not None:
            yield from collect()


def _collections(services: dict[str, QAService]) -> Iterator[Metric]:
    label = ["collection"]
    sizes = {
        name: GaugeMetricFamily(f"qa_index_{name}", why, labels=label)
        for name, why in (
            ("documents", "Documents in the live index."),
            ("passages", "Passages (chunks) searchable in the live index."),
            ("windows", "Embedded windows stored (their vectors), deleted passages' included until a merge."),
            ("segments", "Segments of the live index (merges keep them few)."),
            ("deleted_rows", "Passages deleted or replaced but still stored in a segment until a merge."),
        )
    }
    commits = CounterMetricFamily("qa_index_commits", "Index changes committed by this process.", labels=label)
    merges = CounterMetricFamily("qa_index_merges", "Segment merges committed by this process.", labels=label)
    jobs = GaugeMetricFamily(
        "qa_jobs", "Background jobs remembered, by kind and state.", labels=[*label, "kind", "state"]
    )
    for name, service in services.items():
        index = service.live.peek()
        if index is not None:
            for key, value in _sizes(index).items():
                sizes[key].add_metric([name], value)
        writer = service.writer
        commits.add_metric([name], writer.commits)
        merges.add_metric([name], getattr(getattr(writer, "merger", None), "merges", 0))
        tally = Tally((j.kind, j.state) for j in service.jobs.list())
        for kind in sorted({k for k, _ in tally}):
            for state in JOB_STATES:
                jobs.add_metric([name, kind, state], tally[(kind, state)])
    yield from sizes.values()
    yield from (commits, merges, jobs)


def _sizes(index: IndexView) -> dict[str, int]:
    """Sizes of a local index; a Milvus one reports documents and passages (its segments are Milvus's own)."""
    sizes = {"documents": len(index.manifest.documents), "passages": index.live_size}
    segments = getattr(index, "segments", None)
    if segments is not None:
        sizes["segments"] = len(segments)
        sizes["windows"] = sum(int(s.offsets[-1]) for s in segments)
        sizes["deleted_rows"] = index.size - sizes["passages"]
    return sizes


def install(app_state: AppState, catalog: Callable[[], Catalog | None]) -> HttpMetrics:
    """A registry for one app: its HTTP metrics, the core's, and the process's (CPU, memory, open files)."""
    registry = CollectorRegistry()
    metrics = HttpMetrics(registry)
    registry.register(CoreCollector(catalog))
    ProcessCollector(registry=registry)
    app_state.metrics_registry = registry
    app_state.metrics = metrics
    return metrics


@router.get("/metrics", include_in_schema=False, dependencies=[Reader])
def metrics(request: Request) -> Response:
    return Response(generate_latest(request.app.state.metrics_registry), media_type=CONTENT_TYPE_LATEST)
