"""Several knowledge bases in one process: each a docs folder and an index of its own, sharing one loaded model.

The ``default`` collection is the configured ``QA_DOCS_DIR`` / ``QA_INDEX_DIR``
(so a single-collection setup looks as it always did); every other one lives
in ``QA_COLLECTIONS_DIR/<name>/{docs,index}``. A chatbot platform's knowledge
base or vector store id is a collection name. Services open lazily, on first
use, under the registry's lock; an open one is found without the lock (the
map is replaced, never changed in place), so a search never waits behind a
collection being created or deleted.
"""

from __future__ import annotations

import re
import shutil
import threading
from dataclasses import dataclass

from qa import durable
from qa.config import Settings
from qa.encoder.embedder import Embedder
from qa.errors import Conflict, InvalidInput, NotFound
from qa.search.reader import LazyReader
from qa.service.core import QAService
from qa.translate.loader import LazyTranslator

DEFAULT = "default"
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


@dataclass(frozen=True)
class CollectionInfo:
    name: str
    documents: int
    chunks: int


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise InvalidInput(
            f"collection name {name!r}: use 1-64 lower-case letters, digits, '-' or '_', starting with a letter or digit"
        )
    return name


class Catalog:
    def __init__(self, settings: Settings, embedder: Embedder, default: QAService | None = None) -> None:
        self.settings = settings
        self.embedder = embedder
        # Copy-on-write under the lock: readers take the current map without it.
        self._services: dict[str, QAService] = {DEFAULT: default} if default is not None else {}
        self._lock = threading.Lock()
        self.translator = default.translator if default is not None else LazyTranslator(settings)  # one per process
        self.reader = default.reader if default is not None else LazyReader(settings, embedder)  # one per process

    def _settings_of(self, name: str) -> Settings:
        if name == DEFAULT:
            return self.settings
        root = self.settings.collections_dir / name
        # Milvus names allow letters, digits and '_'; a collection name is lower-case, so '-' becomes 'D' unambiguously.
        milvus = f"{self.settings.milvus_collection}__{name.replace('-', 'D')}"
        return self.settings.model_copy(
            update={"docs_dir": root / "docs", "index_dir": root / "index", "milvus_collection": milvus}
        )

    def _exists(self, name: str) -> bool:
        return name == DEFAULT or (self.settings.collections_dir / name / "index").is_dir()

    def opened(self, name: str = DEFAULT) -> QAService | None:
        """The collection's service if it is already open; never blocks."""
        return self._services.get(name)

    def all_opened(self) -> dict[str, QAService]:
        """Every collection open now, by name (none is opened for the asking); never blocks."""
        return dict(self._services)

    def get(self, name: str = DEFAULT) -> QAService:
        with self._lock:
            service = self._services.get(name)
            if service is None:
                if not _NAME.match(name) or not self._exists(name):
                    raise NotFound(f"no collection {name!r}; create it with POST /collections")
                service = QAService(self._settings_of(name), self.embedder, self.translator, self.reader)
                service.start()
                self._services = {**self._services, name: service}
            return service

    def create(self, name: str) -> QAService:
        check_name(name)
        with self._lock:
            if self._exists(name):
                raise Conflict(f"collection {name!r} already exists")
            service = QAService(self._settings_of(name), self.embedder, self.translator, self.reader)
            try:
                with durable.disk_errors(f"creating collection {name!r}"):
                    service.settings.docs_dir.mkdir(parents=True, exist_ok=True)
                    service.sync()  # an empty index, so the collection exists on disk and answers at once
                    service.start_channel()
            except BaseException:
                shutil.rmtree(self.settings.collections_dir / name, ignore_errors=True)  # no half-made collection
                raise
            self._services = {**self._services, name: service}
            return service

    def delete(self, name: str) -> None:
        if name == DEFAULT:
            raise Conflict("the default collection cannot be deleted; delete its documents instead")
        service = self.get(name)
        root = self.settings.collections_dir / name
        # Wait for its writer (a rebuild may be running) without holding the catalog lock, which every request takes.
        with service.writer.exclusive(self.settings.write_timeout):
            service.writer.closed = True  # a write queued behind this one must not recreate the collection
            service.close()  # nor its English channel's backfill, writing translations into the folder
            with self._lock:
                # The index goes first: a crash mid-delete leaves a folder that is not a collection, never half of one.
                service.writer.destroy()
                self._services = {k: v for k, v in self._services.items() if k != name}
            shutil.rmtree(root, ignore_errors=True)

    def names(self) -> list[str]:
        root = self.settings.collections_dir
        found = (
            {p.name for p in root.iterdir() if p.is_dir() and _NAME.match(p.name) and (p / "index").is_dir()}
            if root.is_dir()
            else set()
        )
        return [DEFAULT, *sorted(found - {DEFAULT})]

    def info(self, name: str) -> CollectionInfo:
        index = self.get(name).index
        return CollectionInfo(name, len(index.manifest.documents), index.live_size)
