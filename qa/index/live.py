"""The index a running service answers from, and the one lock that swaps it.

Readers take a reference and search it without holding the lock, so a swap
never waits for a search and a search never sees half of two generations.
"""

from __future__ import annotations

import threading

from qa.errors import IndexMissing
from qa.index import store


class LiveIndex:
    def __init__(self) -> None:
        self._index: store.Index | None = None
        self._lock = threading.Lock()

    def get(self) -> store.Index:
        with self._lock:
            if self._index is None:
                raise IndexMissing("the index is not loaded yet")
            return self._index

    def peek(self) -> store.Index | None:
        with self._lock:
            return self._index

    def set(self, index: store.Index) -> None:
        with self._lock:
            self._index = index
