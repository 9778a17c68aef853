"""A server that answers before its index is loaded: the catalog arrives from a loading thread, and until then
every use of it is a :class:`NotReady` saying what is going on.

So a process can bind its port, answer liveness probes and MCP's
``initialize`` at once, and report "indexing" while a first build embeds
the corpus for minutes; readiness (``/health/ready``) turns true only once
the index is loaded and the model has encoded a first query.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from qa.errors import NotReady
from qa.service.catalog import Catalog

log = logging.getLogger(__name__)


class Startup:
    def __init__(self, catalog: Catalog | None = None) -> None:
        self._catalog = catalog
        self._error: BaseException | None = None
        self.ready = threading.Event()  # loaded and warm
        self.phase = "loading the model and the index" if catalog is None else "warming the model"

    @property
    def error(self) -> BaseException | None:
        return self._error

    def catalog(self) -> Catalog:
        """The catalog once loaded (it serves while the model warms); NotReady before, or after a failed load."""
        if self._catalog is not None:
            return self._catalog
        if self._error is not None:
            raise NotReady(f"qa could not start: {self._error}")
        raise NotReady(f"qa is starting: {self.phase}; try again shortly")

    def peek(self) -> Catalog | None:
        return self._catalog

    def run(self, load: Callable[[], Catalog] | None, on_error: Callable[[BaseException], None] | None = None) -> None:
        """Load (when no catalog was given), then warm the encoder, then mark ready; a failure is kept and reported."""
        try:
            if self._catalog is None:
                assert load is not None
                self._catalog = load()
            self.phase = "warming the model"
            warm = getattr(self._catalog.embedder, "warm", None)
            if warm is not None:
                warm()
            # The answer reader loads once (about a second), here rather than on the first /ask.
            self._catalog.reader.get()
            self.phase = "ready"
            self.ready.set()
        except BaseException as exc:  # noqa: BLE001 - a loading thread has no caller: keep it for the probes and the CLI
            self._error = exc
            self.phase = "failed"
            if on_error is not None:
                on_error(exc)
            else:
                log.error("qa could not start: %s", exc)

    def start(
        self, load: Callable[[], Catalog] | None, on_error: Callable[[BaseException], None] | None = None
    ) -> None:
        threading.Thread(target=self.run, args=(load, on_error), name="qa-startup", daemon=True).start()
