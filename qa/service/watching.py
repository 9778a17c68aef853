"""Keep the index in step with the docs folder: re-sync after each burst of file changes.

Editors and copy tools write a file in several steps, so changes are grouped
until the folder has been quiet for ``QA_WATCH_DEBOUNCE_MS``; the sync then
embeds only what changed. Writes made through the API also touch the folder;
their sync finds nothing new and writes nothing.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

import watchfiles

from qa.errors import QAError
from qa.index.building import BuildReport
from qa.ingest import folder, formats
from qa.service.core import QAService

log = logging.getLogger(__name__)


def _relevant(docs_dir: Path) -> Callable[[watchfiles.Change, str], bool]:
    metadata = (docs_dir / folder.METADATA_DIR).resolve()

    def relevant(change: watchfiles.Change, raw: str) -> bool:
        path = Path(raw)
        if path.is_relative_to(metadata):
            return path.suffix == ".json"
        return formats.is_document(path.name) and not path.name.startswith(".")

    return relevant


def watch(service: QAService, stop: threading.Event, on_sync: Callable[[BuildReport], None] | None = None) -> None:
    """Sync after every quiet burst of changes until ``stop`` is set. A failed sync is logged and retried on the next change."""
    docs_dir = service.settings.docs_dir
    docs_dir.mkdir(parents=True, exist_ok=True)
    quiet = service.settings.watch_debounce_ms
    for changes in watchfiles.watch(
        docs_dir.resolve(),
        watch_filter=_relevant(docs_dir.resolve()),
        step=quiet,
        debounce=quiet * 5,  # the longest a steady stream of changes can hold a sync back
        stop_event=stop,
        raise_interrupt=False,
    ):
        log.info("%d change(s) in %s; re-indexing", len(changes), docs_dir)
        try:
            report = service.sync()
        except QAError as exc:
            log.warning("re-indexing after a change failed: %s", exc)
            continue
        if on_sync is not None:
            on_sync(report)


def start(
    service: QAService, on_sync: Callable[[BuildReport], None] | None = None
) -> tuple[threading.Thread, threading.Event]:
    """Watch in a daemon thread (for ``qa serve --watch``); set the returned event to stop it."""
    stop = threading.Event()
    thread = threading.Thread(target=watch, args=(service, stop, on_sync), name="qa-watch", daemon=True)
    thread.start()
    return thread, stop
