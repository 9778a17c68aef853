"""The FastAPI application factory: load the model and index once, at start-up."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from fastapi import FastAPI

import qa
from qa.api import bodies, collections, dify, documents, errors, guard, index, openai, page, search, spec
from qa.config import Settings, load_settings
from qa.mcp import http as mcp_http
from qa.mcp import server as mcp_server
from qa.service.catalog import Catalog
from qa.service.core import QAService


def create_app(settings: Settings | None = None, service: QAService | None = None) -> FastAPI:
    """An app whose default collection is ``service``, or one opened from ``settings`` (env by default) at start-up."""
    settings = service.settings if service is not None else settings or load_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if service is None:
            opened = await anyio.to_thread.run_sync(QAService.open, settings)
            await anyio.to_thread.run_sync(opened.start)
            app.state.catalog = Catalog(opened.settings, opened.embedder, default=opened)
        # The /mcp route's task group: a mounted route does not get a lifespan of its own.
        async with mcp.session_manager.run():
            yield

    app = FastAPI(
        title="qa",
        version=qa.__version__,
        description="Semantic search and question answering over your documents.",
        lifespan=lifespan,
    )
    # One MCP server per app: its session manager runs once, in this app's lifespan.
    mcp = mcp_server.build(lambda: app.state.catalog, settings)
    if service is not None:
        app.state.catalog = Catalog(service.settings, service.embedder, default=service)
    errors.install(app)
    spec.install(app, settings)
    app.add_middleware(bodies.BodyLimits, settings=settings)
    app.add_middleware(guard.AllowedHosts, names=settings.host_names)
    for router in (
        search.health_router,
        search.router,
        documents.formats_router,
        documents.router,
        index.router,
        collections.router,
        dify.router,
        openai.router,
        page.router,
    ):
        app.include_router(router)
    app.router.routes.append(mcp_http.route(mcp, settings))
    return app
