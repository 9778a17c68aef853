"""Where the model's arithmetic runs: a fixed pool of torch threads, one per core by default.

Two facts of torch on a small CPU shape this.

1. torch's OpenMP runtime (libgomp) counts the worker threads of every thread
   that has ever run a multi-threaded region; once they outnumber the cores it
   stops spinning between regions and sleeps, and a BERT forward pass is
   hundreds of short regions, so a query encoded from a second thread took
   about twice as long. So torch runs only on these workers, and the model
   is loaded on one of them.
2. Under load the server's own work (HTTP, BM25, FAISS) preempts the
   encoder, and a 2-thread forward pass stalls at every barrier while one of
   its threads is off the CPU; single-threaded workers side by side keep
   going. A lone query is slower on one thread, which is why
   ``QA_ENCODER_WORKERS=1`` (one worker on every core) exists. The README's
   Performance section has the figures.

With ``workers`` workers each runs torch on ``cores // workers`` threads, so
the threads of all workers never outnumber the cores.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")

_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_workers = 0


def cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _set_threads(n: int) -> None:
    import torch

    torch.set_num_threads(n)


def start(workers: int = 0) -> int:
    """Create the process's pool (``workers``; 0 means one per core) unless it exists; return its size.

    The first caller sizes the pool for the whole process: a second model
    shares it, since two pools would put more torch threads than cores to work.
    """
    global _pool, _workers
    with _lock:
        if _pool is None:
            n = cores()
            _workers = min(workers or n, 64)
            threads = max(1, n // _workers)
            _pool = ThreadPoolExecutor(
                _workers, thread_name_prefix="qa-torch", initializer=_set_threads, initargs=(threads,)
            )
        return _workers


def _forget_after_fork() -> None:
    """A forked child has none of the parent's threads: let the next call start a pool of its own."""
    global _lock, _pool, _workers
    _lock, _pool, _workers = threading.Lock(), None, 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)


def submit(fn: Callable[..., T], *args: object, **kwargs: object) -> Future[T]:
    """Run ``fn`` on a free torch worker."""
    start()
    assert _pool is not None
    return _pool.submit(fn, *args, **kwargs)


def run(fn: Callable[..., T], *args: object, **kwargs: object) -> T:
    """Run ``fn`` on a torch worker and wait for its result."""
    return submit(fn, *args, **kwargs).result()
