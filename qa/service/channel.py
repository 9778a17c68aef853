"""The English channel of one collection (``QA_TRANSLATE_PASSAGES``): its passages machine-translated in the
background, and the view of them that searches of questions in Latin letters add (docs/crosslingual.md).

A written document is searchable at once; the channel only wakes its backfill
thread, which translates and encodes what the live index lacks and, once it
has all of it, builds a new :class:`EnglishView` for it. A search takes the view built for the very
index it searches, once every live passage is in it, or none: a passage never
scores by another commit's rows, nor is ranked below the rest for being new.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from qa.config import Settings
from qa.encoder.embedder import Embedder
from qa.index.live import LiveIndex
from qa.index.view import IndexView
from qa.search.translated import EnglishView, Entered, encode_windows, vectors_name
from qa.translate.passages import Backfill, Progress, Translations

FOLDER = "translations"  # inside the index folder, beside the commits; the store's prune leaves it alone


class EnglishChannel:
    def __init__(
        self,
        settings: Settings,
        embedder: Embedder,
        live: LiveIndex,
        translate: Callable[[list[str]], list[str] | None],
    ) -> None:
        self._live = live
        self._dim = embedder.dim
        self.store = Translations(settings.index_dir / FOLDER, vectors_name(embedder.name))
        self.backfill = Backfill(
            self.store,
            translate,
            lambda english: encode_windows(embedder.encode_passages, english),  # each passage's English, by windows
            self._texts,
            on_caught_up=self._rebuild,
        )
        # The index the channel last caught up with, and its view: None while a live passage is not in it yet.
        self._built: tuple[IndexView, EnglishView | None] | None = None

    def start(self) -> None:
        """Start the backfill (a server does; a one-shot CLI command does not translate anything)."""
        self.backfill.start()

    def changed(self) -> None:
        """After the index changed: catch up in the background, once started."""
        self.backfill.wake()

    def view(self, index: IndexView) -> EnglishView | None:
        """The channel over ``index``, or None until every live passage of it is in the channel.

        All or nothing: passages already translated gain the channel's scores,
        so a view with some left out would rank a new document below the rest
        until the backfill reached it. Until then the question is answered as
        with the channel off.
        """
        built = self._built
        if built is not None and built[0] is index:
            return built[1]
        self.changed()  # a commit this channel has not seen, e.g. another process's
        return None

    def progress(self) -> Progress:
        return self.backfill.progress()

    def close(self) -> None:
        self.backfill.stop()

    def _texts(self) -> list[str]:
        index = self._live.get()
        return [index.chunks[int(r)].text for r in np.flatnonzero(index.live)]

    def _entry(self, text: str) -> Entered | None:
        entry = self.store.entry(text)
        return (entry.english, entry.vector) if entry is not None else None

    def _rebuild(self) -> None:
        """A view of the live index as it is now, over the entries kept (nothing is encoded here); None for it when a
        live passage is not in them (the index changed since the catch-up began: the backfill runs again)."""
        index = self._live.get()
        live = index.live
        texts = [index.chunks[r].text if live[r] else None for r in range(index.size)]
        view = EnglishView(texts, self._entry, self._dim)
        self._built = (index, view if bool(view.rows[live].all()) else None)
