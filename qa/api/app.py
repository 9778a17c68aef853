"""The FastAPI application factory: load the model and index once, at start-up, while the port already answers.

Until the index is loaded, routes that need it answer 503 (:class:`qa.errors.NotReady`) and
``/health/ready`` says so; ``/health/live``, ``/metrics`` and MCP's ``initialize`` answer at once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI

import qa
from qa.api import (
    bodies,
    collections,
    dify,
    docs,
    documents,
    errors,
    guard,
    jobs,
    metrics,
    observe,
    openai,
    page,
    probes,
    search,
    spec,
)
from qa.config import Settings, load_settings
from qa.mcp import http as mcp_http
from qa.mcp import server as mcp_server
from qa.service.catalog import Catalog
from qa.service.core import QAService
from qa.service.startup import Startup


def _opened(settings: Settings) -> QAService:
    service = QAService.open(settings)
    service.start()
    return service


def create_app(
    settings: Settings | None = None,
    service: QAService | None = None,
    *,
    load: Callable[[], QAService] | None = None,
    on_error: Callable[[BaseException], None] | None = None,
) -> FastAPI:
    """An app whose default collection is ``service``, or one that ``load`` (by default: opened from ``settings``,
    env by default) returns on a thread of its own once the app has started; ``on_error`` hears if that fails."""
    settings = service.settings if service is not None else settings or load_settings()
    startup = Startup(Catalog(service.settings, service.embedder, default=service) if service is not None else None)

    def catalog() -> Catalog:
        opened = load() if load is not None else _opened(settings)
        return Catalog(opened.settings, opened.embedder, default=opened)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        startup.start(catalog, on_error)
        # The /mcp route's task group: a mounted route does not get a lifespan of its own.
        async with mcp.session_manager.run():
            yield

    app = FastAPI(
        title="qa",
        version=qa.__version__,
        description="Semantic search and question answering over your documents.",
        lifespan=lifespan,
        docs_url=None,  # served from packaged files (qa.api.docs), not a CDN
        redoc_url=None,
    )
    app.state.startup, app.state.settings = startup, settings
    # One MCP server per app: its session manager runs once, in this app's lifespan.
    mcp = mcp_server.build(startup.catalog, settings)
    errors.install(app)
    spec.install(app, settings)
    app.add_middleware(bodies.BodyLimits, settings=settings)
    app.add_middleware(guard.AllowedHosts, names=settings.host_names)
    # Outermost: even a request the host guard refuses gets an id, an access line and its count.
    app.add_middleware(observe.Observe, metrics=metrics.install(app.state, startup.peek))
    for router in (
        probes.router,
        metrics.router,
        docs.router,
        search.health_router,
        search.router,
        documents.formats_router,
        documents.router,
        jobs.router,
        collections.router,
        dify.router,
        openai.router,
        page.router,
    ):
        app.include_router(router)
    app.router.routes.append(mcp_http.route(mcp, settings))
    return app
