"""What the CLI's verbs run against: the core in this process (:class:`Local`), or a running server through
:mod:`qa.client` (:class:`Remote`, ``--url`` / ``QA_URL``).

Both answer in the API's wire types (:mod:`qa.wire`), so the CLI has
one renderer and the same output either way. A remote question skips what
makes a local one slow: loading the model and opening the index.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from qa.config import SearchMode, Settings
from qa.wire import (
    AskResponse,
    BuildCounts,
    BulkIndexed,
    DocumentIndexed,
    DocumentSummary,
    Health,
    Job,
    SearchResponse,
)

if TYPE_CHECKING:
    from qa.client import QAClient
    from qa.service.core import QAService

Progress = Callable[[int, int], None]


class Target(Protocol):
    def ask(self, question: str, top_k: int, mode: SearchMode | None) -> AskResponse: ...
    def search(self, query: str, top_k: int, mode: SearchMode | None) -> SearchResponse: ...
    def add(self, files: Sequence[Path], metadata: dict[str, Any] | None, replace: bool) -> BulkIndexed: ...
    def delete(self, doc_id: str) -> DocumentIndexed: ...
    def documents(self) -> list[DocumentSummary]: ...
    def rebuild(self, from_folder: bool = False) -> BuildCounts: ...
    def status(self) -> Health: ...


class Local:
    """The core, opened in this process: the index is brought up to date first, as ``qa ask`` always did."""

    def __init__(self, service: QAService, progress: Callable[[], Any]) -> None:
        self.service, self.progress = service, progress

    def ask(self, question: str, top_k: int, mode: SearchMode | None) -> AskResponse:
        return AskResponse.model_validate(self.service.ask(question, top_k, mode))

    def search(self, query: str, top_k: int, mode: SearchMode | None) -> SearchResponse:
        return SearchResponse.model_validate(self.service.search(query, top_k, mode))

    def add(self, files: Sequence[Path], metadata: dict[str, Any] | None, replace: bool) -> BulkIndexed:
        from qa.api.errors import bulk_indexed  # the statuses a server would answer, so output is the same
        from qa.service.changes import NewDocument

        batch = self.service.prepare([NewDocument(f.name, f.read_bytes(), metadata) for f in files], create=not replace)
        with self.progress() as bar:
            written = self.service.write(batch, progress=bar)
        return BulkIndexed.model_validate(bulk_indexed(written.to_data()))

    def delete(self, doc_id: str) -> DocumentIndexed:
        return DocumentIndexed.model_validate(self.service.delete(doc_id))

    def documents(self) -> list[DocumentSummary]:
        return [DocumentSummary.model_validate(d) for d in self.service.documents()]

    def rebuild(self, from_folder: bool = False) -> BuildCounts:
        with self.progress() as bar:
            report = self.service.sync(rebuild=True, progress=bar, from_folder=from_folder)
            return BuildCounts.model_validate(report.counts())

    def status(self) -> Health:
        return Health.model_validate(self.service.stats())


class Remote:
    """A running qa server: nothing is loaded here, and writes land in the server's own index."""

    def __init__(self, client: QAClient, poll: float = 0.5) -> None:
        self.client, self.poll = client, poll

    def ask(self, question: str, top_k: int, mode: SearchMode | None) -> AskResponse:
        return self.client.ask(question, top_k, mode=mode)

    def search(self, query: str, top_k: int, mode: SearchMode | None) -> SearchResponse:
        # The client's search answers only the passages; the CLI also shows the mode the server chose.
        from qa.client._base import Call

        passages = self.client._calls.search(query, top_k, mode, None, None)
        call = Call(passages.method, passages.url, SearchResponse.model_validate, passages.params, passages.json)
        return self.client._send(call)

    def add(self, files: Sequence[Path], metadata: dict[str, Any] | None, replace: bool) -> BulkIndexed:
        answer = self.client.upload_many([(f.name, f.read_bytes()) for f in files], metadata, replace=replace)
        if isinstance(answer, Job):  # a large batch is indexed by a background job: wait for its outcome
            answer = self._finished(answer)
            assert answer.result is not None
            return BulkIndexed.model_validate(answer.result)
        return answer

    def delete(self, doc_id: str) -> DocumentIndexed:
        return self.client.delete_document(doc_id)

    def documents(self) -> list[DocumentSummary]:
        return self.client.documents()

    def rebuild(self, from_folder: bool = False) -> BuildCounts:
        job = self._finished(self.client.rebuild(from_folder=from_folder))
        return BuildCounts.model_validate(job.result)

    def status(self) -> Health:
        return self.client.health()

    def _finished(self, job: Job) -> Job:
        from qa.errors import QAError

        while job.state in ("queued", "running"):
            time.sleep(self.poll)
            job = self.client.job(job.id)
        if job.state != "succeeded":
            raise QAError(f"job {job.id} {job.state}: {job.error or 'no reason given'}")
        return job


def remote(settings: Settings, url: str) -> Remote:
    from qa.client import QAClient

    key = settings.api_key.get_secret_value() if settings.api_key is not None else None
    return Remote(QAClient(url, api_key=key, timeout=120))
