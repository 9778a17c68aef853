"""The index a running service answers from, the one lock that swaps it, and following other processes' writes.

Readers take a reference and search it without holding the lock, so a swap
never waits for a search and a search never sees half of two commits.
Several processes may serve one index folder (two ``qa serve``, or ``qa
index`` beside a server): at most once a second a reader looks whether
CURRENT names a newer commit and, if so, loads it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from qa.errors import IndexMissing, QAError
from qa.index.view import IndexView

log = logging.getLogger(__name__)


class LiveIndex:
    def __init__(self) -> None:
        self._index: IndexView | None = None
        self._lock = threading.Lock()
        self._follow: Callable[[], IndexView | None] | None = None
        self._every = 1.0
        self._next_look = 0.0
        self._looking = threading.Lock()

    def follow(self, on_disk: Callable[[], IndexView | None], every: float = 1.0) -> None:
        """Look for a newer commit through ``on_disk`` (the writer's view of the disk) every ``every`` seconds."""
        self._follow, self._every = on_disk, every

    def get(self) -> IndexView:
        if self._follow is not None and time.monotonic() >= self._next_look:
            self._look()
        with self._lock:
            if self._index is None:
                raise IndexMissing("the index is not loaded yet")
            return self._index

    def _look(self) -> None:
        """Swap in the commit on disk if another process made a newer one; one reader looks, the rest go on."""
        if not self._looking.acquire(blocking=False):
            return
        try:
            self._next_look = time.monotonic() + self._every
            assert self._follow is not None
            newer = self._follow()
            if newer is not None and newer is not self.peek():
                self.set(newer)
        except QAError as exc:  # a damaged newer commit: keep serving the one in memory
            log.warning("not following the index on disk: %s", exc)
        finally:
            self._looking.release()

    def peek(self) -> IndexView | None:
        with self._lock:
            return self._index

    def set(self, index: IndexView) -> None:
        with self._lock:
            self._index = index
