"""Writes wait for their turn on the event loop, not in a worker thread, so queued writers never starve readers.

Searches run in the thread pool. If every queued PUT took a pool thread to
wait on the writer lock, a burst of writes behind one slow write would leave
no thread for searches. So each collection's writes pass one at a time
through an async gate: those waiting hold no thread, and one whose wait
exceeds ``QA_WRITE_TIMEOUT`` gets a 409.
"""

from __future__ import annotations

import asyncio
import functools
import time
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

import anyio

from qa.errors import Conflict
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
