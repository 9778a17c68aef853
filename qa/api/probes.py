"""``/health/live`` and ``/health/ready``: what an orchestrator's probes ask (``/health`` stays the index report).

Live answers as soon as the port does, and as long as the event loop runs: a
restart would not help a process that answers it. Ready answers 200 only once
the index is loaded and the model has encoded a first query, so a load
balancer sends no question to a process that would make it wait or fail.
Both are open, like ``/health``: probes carry no key.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel

from qa.errors import NotReady
from qa.wire import ErrorBody

router = APIRouter(prefix="/health", tags=["health"])


class Probe(BaseModel):
    status: str


@router.get("/live", response_model=Probe)
async def live() -> Probe:
    return Probe(status="live")


@router.get("/ready", response_model=Probe, responses={503: {"model": ErrorBody}})
async def ready(request: Request) -> Probe:
    startup = request.app.state.startup
    if not startup.ready.is_set():
        startup.catalog()  # NotReady with the reason: still loading, or the load failed
        raise NotReady(f"qa is starting: {startup.phase}; try again shortly")
    return Probe(status="ready")
