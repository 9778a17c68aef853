"""Converting untrusted files in a separate process, so a bad one costs the server nothing but the wait.

Parsing HTML (and PDF, DOCX) is pure Python: a large or pathological file
holds the interpreter lock for as long as it takes, and every search in the
server waits behind it; a decompression bomb takes the server's memory with
it; a parser bug can crash it. In a worker process the cost stays there: the
worker has a memory limit, a conversion that overruns ``timeout`` is killed
with its worker, and the next one starts a fresh worker.

The worker comes from a forkserver (a clean interpreter, not a fork of the
server with its torch threads), started on first use.
"""

from __future__ import annotations

import atexit
import logging
import multiprocessing
import resource
import threading
from collections.abc import Callable
from multiprocessing.pool import Pool
from typing import TypeVar

from qa.errors import BadDocument

log = logging.getLogger(__name__)
T = TypeVar("T")
MEMORY_LIMIT = 2 * 2**30  # address space of the worker: a bomb fails there with MemoryError

_lock = threading.Lock()
_pool: Pool | None = None


def _limit_memory() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = MEMORY_LIMIT if hard == resource.RLIM_INFINITY else min(MEMORY_LIMIT, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def _get_pool() -> Pool:
    global _pool
    with _lock:
        if _pool is None:
            ctx = multiprocessing.get_context("forkserver")
            ctx.set_forkserver_preload(["qa.ingest.formats"])
            _pool = ctx.Pool(1, initializer=_limit_memory)
        return _pool


def _discard(pool: Pool) -> None:
    global _pool
    with _lock:
        if _pool is pool:
            _pool = None
    pool.terminate()


def run(fn: Callable[..., T], *args: object, timeout: float, what: str) -> T:
    """``fn(*args)`` in the worker process; its exceptions are raised here. Past ``timeout`` it is killed."""
    pool = _get_pool()
    pending = pool.apply_async(fn, args)
    try:
        return pending.get(timeout)
    except multiprocessing.TimeoutError:
        _discard(pool)
        raise BadDocument(f"{what} took longer than {timeout:g} s to read; it was stopped") from None
    except MemoryError:
        _discard(pool)
        raise BadDocument(f"{what} needs more than {MEMORY_LIMIT >> 20} MB of memory to read") from None


@atexit.register
def _stop() -> None:
    if _pool is not None:
        _pool.terminate()
