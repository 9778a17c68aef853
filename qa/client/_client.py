"""The two clients: :class:`QAClient` (sync) and :class:`AsyncQAClient`. Each method builds its call in
:class:`qa.client._base.Calls` and only sends it; connection errors are retried by the transport."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

import httpx

from qa.client._base import DEFAULT_TIMEOUT, Call, Calls, check, options
from qa.wire import (
    AskResponse,
    BulkIndexed,
    Collection,
    DocumentDetail,
    DocumentIndexed,
    DocumentSummary,
    Health,
    Job,
    Passage,
)

T = TypeVar("T")


class QAClient:
    def __init__(
        self,
        base_url: str = "http://127.0.0.1:8000",
        *,
        api_key: str | None = None,
        collection: str = "default",
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        retries: int = 2,
    ) -> None:
        self._calls = Calls(collection)
        self._http = httpx.Client(**options(base_url, api_key, timeout), transport=httpx.HTTPTransport(retries=retries))

    def __enter__(self) -> QAClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _send(self, call: Call[T]) -> T:
        return call.parse(check(self._http.request(call.method, call.url, **call.send_args())))

    def search(
        self,
        query: str,
        top_k: int = 5,
        *,
        mode: str | None = None,
        filter: dict[str, Any] | None = None,
        collection: str | None = None,
        min_relevance: float | None = None,
    ) -> list[Passage]:
        return self._send(self._calls.search(query, top_k, mode, filter, collection, min_relevance))

    def ask(
        self,
        question: str,
        top_k: int = 5,
        *,
        mode: str | None = None,
        filter: dict[str, Any] | None = None,
        collection: str | None = None,
        min_relevance: float | None = None,
    ) -> AskResponse:
        return self._send(self._calls.ask(question, top_k, mode, filter, collection, min_relevance))

    def add_document(
        self,
        doc_id: str,
        text: str,
        metadata: dict[str, Any] | None = None,
        *,
        replace: bool = False,
        collection: str | None = None,
    ) -> DocumentIndexed:
        """Store and index a document (``replace=True``: create or replace it)."""
        return self._send(self._calls.add_document(doc_id, text, metadata, replace, collection))

    def upload(
        self, filename: str, content: bytes, metadata: dict[str, Any] | None = None, *, collection: str | None = None
    ) -> DocumentIndexed:
        return self._send(self._calls.upload(filename, content, metadata, collection))

    def add_documents(
        self, documents: Sequence[Mapping[str, Any]], *, replace: bool = True, collection: str | None = None
    ) -> BulkIndexed | Job:
        """Store and index many documents (``{"doc_id", "text", "metadata"}`` each) as one change.

        Each document's outcome is in the answer's ``documents``; one that is
        refused does not stop the others. ``replace=False`` refuses existing
        ones (409 each). A batch too large to index at once answers a Job.
        """
        return self._send(self._calls.add_documents(documents, replace, collection))

    def upload_many(
        self,
        files: Sequence[tuple[str, bytes]],
        metadata: dict[str, Any] | None = None,
        *,
        replace: bool = True,
        collection: str | None = None,
    ) -> BulkIndexed | Job:
        """Upload several files (``(filename, content)``, any format qa reads) as one change; see :meth:`add_documents`."""
        return self._send(self._calls.upload_many(files, metadata, replace, collection))

    def delete_document(self, doc_id: str, *, collection: str | None = None) -> DocumentIndexed:
        return self._send(self._calls.delete_document(doc_id, collection))

    def documents(self, *, collection: str | None = None) -> list[DocumentSummary]:
        return self._send(self._calls.documents(collection))

    def document(self, doc_id: str, *, collection: str | None = None) -> DocumentDetail:
        return self._send(self._calls.document(doc_id, collection))

    def rebuild(self, *, collection: str | None = None, from_folder: bool = False) -> Job:
        return self._send(self._calls.rebuild(collection, from_folder))

    def job(self, job_id: str, *, collection: str | None = None) -> Job:
        return self._send(self._calls.job(job_id, collection))

    def collections(self) -> list[Collection]:
        return self._send(self._calls.collections())

    def create_collection(self, name: str) -> Collection:
        return self._send(self._calls.create_collection(name))

    def delete_collection(self, name: str) -> None:
        return self._send(self._calls.delete_collection(name))

    def health(self, *, collection: str | None = None) -> Health:
        return self._send(self._calls.health(collection))


class AsyncQAClient:
    def __init__(
        self,
        base_url: str = "http://127.0.0.1:8000",
        *,
        api_key: str | None = None,
        collection: str = "default",
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        retries: int = 2,
    ) -> None:
        self._calls = Calls(collection)
        self._http = httpx.AsyncClient(
            **options(base_url, api_key, timeout), transport=httpx.AsyncHTTPTransport(retries=retries)
        )

    async def __aenter__(self) -> AsyncQAClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _send(self, call: Call[T]) -> T:
        return call.parse(check(await self._http.request(call.method, call.url, **call.send_args())))

    async def search(
        self,
        query: str,
        top_k: int = 5,
        *,
        mode: str | None = None,
        filter: dict[str, Any] | None = None,
        collection: str | None = None,
        min_relevance: float | None = None,
    ) -> list[Passage]:
        return await self._send(self._calls.search(query, top_k, mode, filter, collection, min_relevance))

    async def ask(
        self,
        question: str,
        top_k: int = 5,
        *,
        mode: str | None = None,
        filter: dict[str, Any] | None = None,
        collection: str | None = None,
        min_relevance: float | None = None,
    ) -> AskResponse:
        return await self._send(self._calls.ask(question, top_k, mode, filter, collection, min_relevance))

    async def add_document(
        self,
        doc_id: str,
        text: str,
        metadata: dict[str, Any] | None = None,
        *,
        replace: bool = False,
        collection: str | None = None,
    ) -> DocumentIndexed:
        """Store and index a document (``replace=True``: create or replace it)."""
        return await self._send(self._calls.add_document(doc_id, text, metadata, replace, collection))

    async def upload(
        self, filename: str, content: bytes, metadata: dict[str, Any] | None = None, *, collection: str | None = None
    ) -> DocumentIndexed:
        return await self._send(self._calls.upload(filename, content, metadata, collection))

    async def add_documents(
        self, documents: Sequence[Mapping[str, Any]], *, replace: bool = True, collection: str | None = None
    ) -> BulkIndexed | Job:
        """Store and index many documents (``{"doc_id", "text", "metadata"}`` each) as one change.

        Each document's outcome is in the answer's ``documents``; one that is
        refused does not stop the others. ``replace=False`` refuses existing
        ones (409 each). A batch too large to index at once answers a Job.
        """
        return await self._send(self._calls.add_documents(documents, replace, collection))

    async def upload_many(
        self,
        files: Sequence[tuple[str, bytes]],
        metadata: dict[str, Any] | None = None,
        *,
        replace: bool = True,
        collection: str | None = None,
    ) -> BulkIndexed | Job:
        """Upload several files (``(filename, content)``, any format qa reads) as one change; see :meth:`add_documents`."""
        return await self._send(self._calls.upload_many(files, metadata, replace, collection))

    async def delete_document(self, doc_id: str, *, collection: str | None = None) -> DocumentIndexed:
        return await self._send(self._calls.delete_document(doc_id, collection))

    async def documents(self, *, collection: str | None = None) -> list[DocumentSummary]:
        return await self._send(self._calls.documents(collection))

    async def document(self, doc_id: str, *, collection: str | None = None) -> DocumentDetail:
        return await self._send(self._calls.document(doc_id, collection))

    async def rebuild(self, *, collection: str | None = None, from_folder: bool = False) -> Job:
        return await self._send(self._calls.rebuild(collection, from_folder))

    async def job(self, job_id: str, *, collection: str | None = None) -> Job:
        return await self._send(self._calls.job(job_id, collection))

    async def collections(self) -> list[Collection]:
        return await self._send(self._calls.collections())

    async def create_collection(self, name: str) -> Collection:
        return await self._send(self._calls.create_collection(name))

    async def delete_collection(self, name: str) -> None:
        return await self._send(self._calls.delete_collection(name))

    async def health(self, *, collection: str | None = None) -> Health:
        return await self._send(self._calls.health(collection))
