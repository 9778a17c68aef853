"""English for an index's passages, kept beside it and filled in the background: the data of the English channel.

Each translation is keyed by the sha256 of a chunk's text, so a rebuild, a
merge or a renamed document translates nothing again. They live in one
append-only file, ``<index>/translations/en.jsonl`` (a batch is appended and
fsynced at once; a torn last line is dropped on load): the segment files are
not touched. :class:`Backfill` is the thread that catches up after the index
changes; a passage is searchable at once and joins the channel when its
English is there. :class:`EnglishView` is what retrieval reads: BM25 over the
translations (English stemmer, stopwords dropped) and their e5 vectors.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)
FILE = "en.jsonl"


def key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]


class Translations:
    """The English of passage texts, by :func:`key`, persisted in ``folder/en.jsonl``. Thread-safe."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / FILE
        self._lock = threading.Lock()
        self._english: dict[str, str] = {}
        if self.path.is_file():
            for line in self.path.read_text(encoding="utf-8").splitlines():
                try:
                    d = json.loads(line)
                    self._english[d["key"]] = d["en"]
                except (ValueError, KeyError, TypeError):
                    continue  # a line cut short by a crash: its passage is translated again

    def get(self, text: str) -> str | None:
        with self._lock:
            return self._english.get(key(text))

    def __len__(self) -> int:
        with self._lock:
            return len(self._english)

    def add(self, pairs: Sequence[tuple[str, str]]) -> None:
        """Keep ``(text, english)`` pairs, appended to the file and fsynced before they count."""
        lines = "".join(json.dumps({"key": key(t), "en": e}, ensure_ascii=False) + "\n" for t, e in pairs)
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(lines)
                fh.flush()
                os.fsync(fh.fileno())
            self._english.update((key(t), e) for t, e in pairs)


@dataclass(frozen=True)
class Progress:
    translated: int  # passages of the current index with their English
    passages: int  # passages of the current index that need it (those with Chinese in them)
    running: bool


class Backfill:
    """A daemon thread that translates, a batch at a time, the passages ``texts()`` lists without English yet.

    ``wake()`` after the index changed (start, a commit); ``on_batch`` runs
    after each batch is kept (the caller rebuilds its :class:`EnglishView`).
    """

    def __init__(
        self,
        store: Translations,
        translate: Callable[[list[str]], list[str]],
        texts: Callable[[], Sequence[str]],
        *,
        batch: int = 16,
        on_batch: Callable[[], None] | None = None,
    ) -> None:
        self.store, self._translate, self._texts = store, translate, texts
        self.batch, self._on_batch = batch, on_batch
        self._wake, self._stop = threading.Event(), threading.Event()
        self._thread: threading.Thread | None = None
        self._running = False

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="qa-passage-translator", daemon=True)
            self._thread.start()
        self.wake()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def progress(self) -> Progress:
        todo = _needing(self._texts())
        done = sum(self.store.get(t) is not None for t in todo)
        return Progress(done, len(todo), self._running)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait()
            self._wake.clear()
            self._running = True
            try:
                self._catch_up()
            except Exception:  # a translation that fails must not end the thread: log, wait for the next change
                log.exception("translating passages stopped; it resumes at the next change of the index")
            finally:
                self._running = False

    def _catch_up(self) -> None:
        todo = list(dict.fromkeys(t for t in _needing(self._texts()) if self.store.get(t) is None))
        for i in range(0, len(todo), self.batch):
            if self._stop.is_set():
                return
            part = todo[i : i + self.batch]
            self.store.add(list(zip(part, self._translate(part))))
            if self._on_batch is not None:
                self._on_batch()


_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


def _needing(texts: Sequence[str]) -> list[str]:
    return [t for t in texts if _CJK.search(t)]  # a passage already in English is its own translation
