"""Writes wait for their turn on the event loop, not in a worker thread, so queued writers never starve readers.

Searches run in the thread pool. If every queued PUT took a pool thread to
wait on the writer lock, a burst of writes behind one slow write would leave
no thread for searches. So each collection's writes pass one at a time
through an async gate: those waiting hold no thread, and one whose wait
exceeds ``QA_WRITE_TIMEOUT`` gets a 409.

The work before the gate (converting, chunking, embedding) is bounded too
(:func:`prepare`): at most ``QA_WRITE_WORKERS`` threads of the pool do it, and
past ``QA_MAX_QUEUED_WRITES`` requests waiting for one a write gets 429 with
Retry-After. 45 bulk requests once held every pool thread with it, and a
lone search waited over 100 s.
"""

from __future__ import annotations

import asyncio
import functools
import time
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

import anyio

from qa.errors import Busy, Conflict
from qa.service.core import QAService

T = TypeVar("T")
# One gate per writer and event loop: an async lock belongs to the loop it waits in (a server has one loop;
# test clients may run each request in its own), and the writer's own lock still orders writes across loops.
_gates: weakref.WeakKeyDictionary[object, weakref.WeakKeyDictionary[object, anyio.Lock]] = weakref.WeakKeyDictionary()


async def run(service: QAService, write: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run ``write(*args, timeout=<what is left>, **kwargs)`` in a thread once this collection's earlier writes are done."""
    gates = _gates.setdefault(service.writer, weakref.WeakKeyDictionary())
    gate = gates.setdefault(asyncio.get_running_loop(), anyio.Lock())
    timeout = service.settings.write_timeout
    started = time.monotonic()
    with anyio.move_on_after(timeout) as waited:
        await gate.acquire()
    if waited.cancelled_caught:
        raise Conflict("other writes to this collection are still queued; try again later")
    try:
        left = max(0.0, timeout - (time.monotonic() - started))
        return await anyio.to_thread.run_sync(functools.partial(write, *args, timeout=left, **kwargs))
    finally:
        gate.release()


class _Preparing:
    """The threads that prepare writes, and how many requests hold or wait for one."""

    def __init__(self, workers: int) -> None:
        self.limiter = anyio.CapacityLimiter(workers)
        self.pending = 0


# One per event loop, as the gates: the limiter belongs to the loop it waits in.
_preparing: weakref.WeakKeyDictionary[object, _Preparing] = weakref.WeakKeyDictionary()


async def prepare(service: QAService, work: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``work(*args, **kwargs)`` in one of ``QA_WRITE_WORKERS`` threads; 429 when too many requests wait for one."""
    s = service.settings
    loop = asyncio.get_running_loop()
    preparing = _preparing.get(loop) or _preparing.setdefault(loop, _Preparing(s.write_workers))
    if preparing.pending >= s.write_workers + s.max_queued_writes:
        raise Busy(f"{preparing.pending} writes are being prepared or wait for it; try again in a moment")
    preparing.pending += 1
    try:
        return await anyio.to_thread.run_sync(functools.partial(work, *args, **kwargs), limiter=preparing.limiter)
    finally:
        preparing.pending -= 1
