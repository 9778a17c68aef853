"""English for an index's passages, with the e5 vector of each, kept beside it and filled in the background.

Each entry is keyed by the sha256 of a chunk's text, so a rebuild, a merge or
a renamed document translates and encodes nothing again. They live in one
append-only file, ``<index>/translations/en.jsonl`` (a batch is appended and
fsynced at once; a torn last line is dropped on load; the segment files are
not touched). A vector is kept with the name of the model that made it and
is dropped, English kept, when the model changes. :class:`Backfill` is the
thread that catches up after the index changes; a passage is searchable at
once and joins the English channel when its entry is there.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qa import durable

log = logging.getLogger(__name__)
FILE = "en.jsonl"


def key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]


def needs_translation(text: str) -> bool:
    """A passage with Chinese in it; one already in English is its own translation."""
    return _CJK.search(text) is not None


@dataclass(frozen=True)
class Entry:
    english: str
    vector: np.ndarray | None  # e5 of the English (the channel's: of its windows, flattened); None until encoded


class Translations:
    """Each passage text's :class:`Entry`, by :func:`key`, persisted in ``folder/en.jsonl``. Thread-safe.

    ``model`` names the embedder: vectors another model made are not read back.
    """

    def __init__(self, folder: Path, model: str) -> None:
        self.path = folder / FILE
        self.model = model
        self._lock = threading.Lock()
        self._entries: dict[str, Entry] = {}
        if self.path.is_file():
            for line in self.path.read_text(encoding="utf-8").splitlines():
                self._read(line)

    def _read(self, line: str) -> None:
        try:
            d = json.loads(line)
            vec = d.get("vec") if d.get("model") == self.model else None
            vector = np.frombuffer(base64.b64decode(vec), "<f4").copy() if vec else None
            self._entries[d["key"]] = Entry(d["en"], vector)  # a later line (the vector added) wins
        except (ValueError, KeyError, TypeError, AttributeError):
            pass  # a line cut short by a crash: its passage is translated again

    def get(self, text: str) -> str | None:
        entry = self.entry(text)
        return entry.english if entry is not None else None

    def entry(self, text: str) -> Entry | None:
        with self._lock:
            return self._entries.get(key(text))

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def add(self, triples: Sequence[tuple[str, str, np.ndarray | None]]) -> None:
        """Keep ``(text, english, vector)`` entries, appended to the file and fsynced before they count."""
        entries = {key(t): Entry(e, None if v is None else np.asarray(v, np.float32).ravel()) for t, e, v in triples}
        lines = "".join(self._line(k, e) for k, e in entries.items())
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(lines)
                fh.flush()
                os.fsync(fh.fileno())
            self._entries.update(entries)

    def _line(self, k: str, e: Entry) -> str:
        d: dict[str, str] = {"key": k, "en": e.english}
        if e.vector is not None:
            d |= {"model": self.model, "vec": base64.b64encode(e.vector.astype("<f4").tobytes()).decode()}
        return json.dumps(d, ensure_ascii=False) + "\n"

    def keep_only(self, texts: Sequence[str]) -> int:
        """Forget every entry but those of ``texts`` (after deletes and replacements), rewriting the file atomically;
        the number forgotten."""
        keep = {key(t) for t in texts}
        with self._lock:
            dropped = len(self._entries.keys() - keep)
            if dropped == 0:
                return 0
            self._entries = {k: e for k, e in self._entries.items() if k in keep}
            data = "".join(self._line(k, e) for k, e in self._entries.items()).encode("utf-8")
            with durable.disk_errors("forgetting translations of removed passages"):
                durable.replace(self.path, data, self.path.with_name(f".tmp-{FILE}"))
            return dropped


@dataclass(frozen=True)
class Progress:
    """Of the current index's live passages: how many are in the English channel (translated and encoded)."""

    translated: int
    passages: int
    running: bool  # a batch is being translated now
    error: str | None = None  # why the backfill stopped: no model (until a restart), a failed batch (till a change)


class Backfill:
    """A daemon thread that brings, a batch at a time, the passages ``texts()`` lists into :class:`Translations`.

    A passage with Chinese is translated, then the English of each (its own
    text when it is English already) is encoded; each batch is kept before
    the next starts. ``wake()`` after the index changed; ``on_caught_up``
    runs once every passage ``texts()`` listed is kept (the caller builds its
    view then: a partial one is of no use, see :mod:`qa.service.channel`).
    ``translate`` returns None when there is no model.
    """

    def __init__(
        self,
        store: Translations,
        translate: Callable[[list[str]], list[str] | None],
        encode: Callable[[list[str]], Sequence[np.ndarray]],  # per English text, its vector(s)
        texts: Callable[[], Sequence[str]],
        *,
        batch: int = 8,
        on_caught_up: Callable[[], None] | None = None,
    ) -> None:
        self.store, self._translate, self._encode, self._texts = store, translate, encode, texts
        self.batch, self._on_caught_up = batch, on_caught_up
        self._wake, self._stop = threading.Event(), threading.Event()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._running = False
        self._error: str | None = None

    def start(self) -> None:
        with self._start_lock:
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(target=self._run, name="qa-passage-translator", daemon=True)
                self._thread.start()
        self.wake()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 30.0) -> None:
        """End the thread after its current batch (a batch of the model is not interruptible)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def progress(self) -> Progress:
        texts = self._texts()
        done = sum(self._complete(self.store.entry(t)) for t in texts)
        return Progress(done, len(texts), self._running, self._error)

    @staticmethod
    def _complete(entry: Entry | None) -> bool:
        return entry is not None and entry.vector is not None

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait()
            self._wake.clear()
            if self._stop.is_set():
                return
            self._running = True
            try:
                if self._catch_up() and self._on_caught_up is not None:
                    self._on_caught_up()
            except Exception as exc:  # a failure must not end the thread: log, wait for the next change
                self._error = f"translating passages stopped: {exc}"
                log.exception("translating passages stopped; it resumes at the next change of the index")
            finally:
                self._running = False

    def _catch_up(self) -> bool:
        """Translate and encode what ``texts()`` lacks; False when stopped or without a model."""
        texts = list(dict.fromkeys(self._texts()))
        todo = [t for t in texts if not self._complete(self.store.entry(t))]
        for i in range(0, len(todo), self.batch):
            if self._stop.is_set() or not self._one_batch(todo[i : i + self.batch]):
                return False
            self._error = None
        if len(self.store) > len(texts):  # entries of passages deleted or replaced since
            self.store.keep_only(texts)
        return True

    def _one_batch(self, part: list[str]) -> bool:
        known = [self.store.get(t) for t in part]
        chinese = [t for t, e in zip(part, known, strict=True) if e is None and needs_translation(t)]
        english = dict(zip(chinese, self._translate(chinese) or [], strict=False)) if chinese else {}
        if len(english) < len(chinese):
            self._error = "no translation model: run `qa model install-translation`, then restart"
            return False
        done = [(t, e if e is not None else english.get(t, t)) for t, e in zip(part, known, strict=True)]
        vectors = self._encode([e for _, e in done])
        self.store.add([(t, e, v) for (t, e), v in zip(done, vectors, strict=True)])
        return True


_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
