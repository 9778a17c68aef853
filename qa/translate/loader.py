"""The translator a process shares, loaded on first use; absent (logged once, never an error) when not installed.

Translation is an extra: an English answer's gloss, a channel beside the
Chinese ones. A machine without the model (``qa model install-translation``
not run) answers as before, with ``translation`` null, rather than failing.
"""

from __future__ import annotations

import logging
import threading

from cachetools import LRUCache

from qa.config import Settings
from qa.errors import ModelError
from qa.translate import provision
from qa.translate.model import Threads, Translator

log = logging.getLogger(__name__)


class LazyTranslator:
    """``get()`` is the loaded :class:`Translator`, or None when the model cannot be had; it is tried once."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._lock = threading.Lock()
        self._tried = False
        self._translator: Translator | None = None
        self._recent: LRUCache[str, str] = LRUCache(maxsize=1024)  # a question is often searched, then asked
        self._passages: Translator | None = None  # a second instance, for the English channel's backfill
        self._passages_tried = False

    def get(self) -> Translator | None:
        with self._lock:
            if not self._tried:
                self._tried = True
                self._translator = self._load()
            return self._translator

    def _load(self, threads: Threads | None = None) -> Translator | None:
        s = self._settings
        try:
            folder = provision.materialize(s.model_cache)
            # one call on every core: a lone answer sentence is the latency that matters (docs/crosslingual.md)
            return Translator(folder, threads or Threads(inter=1, intra=s.translation_threads))
        except ModelError as exc:
            log.warning("nothing is translated (answers, questions, passages): %s", exc)
            return None

    def translate_passages(self, texts: list[str]) -> list[str] | None:
        """``texts`` in English on a second instance of the model, or None without one. Its own queue, so a lone
        answer or question never waits behind a batch of passages; one thread, so the other core keeps serving."""
        with self._lock:
            if not self._passages_tried:
                self._passages_tried = True
                self._passages = self._load(Threads(inter=1, intra=1))
            translator = self._passages
        return translator.translate(texts) if translator is not None else None

    def translate_one(self, text: str) -> str | None:
        """``text`` in English, or None without a model."""
        translator = self.get()
        if translator is None:
            return None
        with self._lock:
            known = self._recent.get(text)
        if known is None:
            known = translator.translate([text])[0]
            with self._lock:
                self._recent[text] = known
        return known
