"""Converting untrusted files in worker processes, so a bad one costs the server nothing but its own wait.

Parsing HTML (and PDF, DOCX) is pure Python: a large or pathological file
holds the interpreter lock for as long as it takes, and every search in the
server waits behind it; a decompression bomb takes the server's memory with
it; a parser bug can crash it. In a worker process the cost stays there: the
worker has a memory limit, and every error it meets comes back as a
:class:`BadDocument` naming the file (a parser's own exception may not even
survive the trip between processes).

The pool is pebble's: a task's deadline counts only the time it has run in a
worker, not the time it waited for one, and a task past its deadline is killed
with its worker alone, which pebble replaces while the other workers go on
with their tasks. So one slow file is the only one to fail, and its error
names it. Workers come from a forkserver (a clean interpreter, not a fork of
the server with its torch threads), started on first use.
"""

from __future__ import annotations

import atexit
import multiprocessing
import resource
import threading
from collections.abc import Callable
from concurrent.futures import TimeoutError as FutureTimeout
from typing import TypeVar

from pebble import ProcessExpired, ProcessPool

from qa.errors import BadDocument, QAError

T = TypeVar("T")
MEMORY_LIMIT = 2 * 2**30  # address space of a worker: a bomb fails there with MemoryError
WORKERS = 2  # one slow file keeps one worker busy; the other serves everyone else

_lock = threading.Lock()
_pool: ProcessPool | None = None


def _limit_memory() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = MEMORY_LIMIT if hard == resource.RLIM_INFINITY else min(MEMORY_LIMIT, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def _get_pool() -> ProcessPool:
    global _pool
    with _lock:
        if _pool is None or not _pool.active:
            ctx = multiprocessing.get_context("forkserver")
            ctx.set_forkserver_preload(["qa.ingest.formats"])
            _pool = ProcessPool(max_workers=WORKERS, initializer=_limit_memory, context=ctx)
        return _pool


def _guarded(fn: Callable[..., T], what: str, *args: object) -> T:
    """Runs in the worker: any error becomes a BadDocument, which pickles whole (lxml's errors do not)."""
    try:
        return fn(*args)
    except QAError as exc:
        raise type(exc)(str(exc)) from None
    except MemoryError:
        raise BadDocument(f"{what} needs more than {MEMORY_LIMIT >> 20} MB of memory to read") from None
    except Exception as exc:  # noqa: BLE001 - whatever a parser raises on a hostile file, the file is at fault
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        raise BadDocument(f"{what} could not be read ({type(exc).__name__}: {first})") from None


def run(fn: Callable[..., T], *args: object, timeout: float, what: str) -> T:
    """``fn(*args)`` in a worker process; errors come back as :class:`QAError`. Past ``timeout`` s of its own run
    (time spent waiting for a worker does not count) it is stopped and :class:`BadDocument` names ``what``."""
    future = _get_pool().schedule(_guarded, args=(fn, what, *args), timeout=timeout)
    try:
        result: T = future.result()  # pebble's futures are untyped
        return result
    except FutureTimeout:
        raise BadDocument(f"{what} took longer than {timeout:g} s to read; it was stopped") from None
    except ProcessExpired as exc:
        raise BadDocument(f"{what} made the converter crash (exit code {exc.exitcode}); it cannot be read") from None


@atexit.register
def _stop() -> None:
    if _pool is not None:
        _pool.stop()
