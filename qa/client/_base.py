"""What the sync and async clients share: each API call as a request to send and a parser of its answer, and errors.

As in httpx, requests are built in one place and the two clients only do
I/O, so they cannot drift apart. Bodies are parsed into the server's own wire
types (:mod:`qa.wire`), so a shape is declared once for both sides.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import httpx

from qa.wire import (
    AskResponse,
    BulkIndexed,
    Collection,
    CollectionList,
    DocumentDetail,
    DocumentIndexed,
    DocumentList,
    DocumentSummary,
    Health,
    Job,
    Passage,
    SearchResponse,
)

T = TypeVar("T")
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=5.0)


class QAClientError(Exception):
    """An HTTP error from qa, with its status and the server's readable message."""

    def __init__(self, status_code: int, detail: str) -> None:
        super().__init__(f"{status_code}: {detail}")
        self.status_code, self.detail = status_code, detail


def check(r: httpx.Response) -> Any:
    """The JSON of a successful response (None when empty); :class:`QAClientError` otherwise."""
    if r.is_success:
        return r.json() if r.content else None
    try:
        body = r.json()
        detail = body.get("detail") or body.get("error_msg") or r.text
    except (ValueError, AttributeError):
        detail = r.text
    raise QAClientError(r.status_code, str(detail))


def options(base_url: str, api_key: str | None, timeout: httpx.Timeout | float) -> dict[str, Any]:
    """httpx client options: base URL, the key as a Bearer header, timeouts."""
    return {
        "base_url": base_url,
        "headers": {"Authorization": f"Bearer {api_key}"} if api_key else {},
        "timeout": timeout,
    }


@dataclass(frozen=True)
class Call(Generic[T]):
    """One request, and how its JSON answer becomes a typed result."""

    method: str
    url: str
    parse: Callable[[Any], T]
    params: dict[str, str] = field(default_factory=dict)
    json: Any = None
    files: Any = None
    data: Any = None

    def send_args(self) -> dict[str, Any]:
        return {"params": self.params, "json": self.json, "files": self.files, "data": self.data}


def _path(doc_id: str) -> str:
    return quote(doc_id, safe="/")


def _bulk(d: Any) -> BulkIndexed | Job:
    """A bulk write's answer: the outcomes (200), or the background job that indexes a large batch (202)."""
    return BulkIndexed.model_validate(d) if "documents" in d else Job.model_validate(d)


class Calls:
    """Every call of qa's API, built from the arguments the clients take."""

    def __init__(self, collection: str) -> None:
        self.collection = collection

    def _params(self, collection: str | None) -> dict[str, str]:
        return {"collection": collection or self.collection}

    def search(
        self,
        query: str,
        top_k: int,
        mode: str | None,
        filter: dict[str, Any] | None,
        collection: str | None,
        min_relevance: float | None = None,
    ) -> Call[list[Passage]]:
        body: dict[str, Any] = {"query": query, "top_k": top_k, "mode": mode, "filter": filter}
        body["min_relevance"] = min_relevance
        body = {k: v for k, v in body.items() if v is not None}
        return Call(
            "POST", "/search", lambda d: SearchResponse.model_validate(d).results, self._params(collection), body
        )

    def ask(
        self,
        question: str,
        top_k: int,
        mode: str | None,
        filter: dict[str, Any] | None,
        collection: str | None,
        min_relevance: float | None = None,
    ) -> Call[AskResponse]:
        body: dict[str, Any] = {"question": question, "top_k": top_k, "mode": mode, "filter": filter}
        body["min_relevance"] = min_relevance
        body = {k: v for k, v in body.items() if v is not None}
        return Call("POST", "/ask", AskResponse.model_validate, self._params(collection), body)

    def add_document(
        self, doc_id: str, text: str, metadata: dict[str, Any] | None, replace: bool, collection: str | None
    ) -> Call[DocumentIndexed]:
        body = {"doc_id": doc_id, "text": text, "metadata": metadata}
        if replace:
            return Call(
                "PUT", f"/documents/{_path(doc_id)}", DocumentIndexed.model_validate, self._params(collection), body
            )
        return Call("POST", "/documents", DocumentIndexed.model_validate, self._params(collection), body)

    def upload(
        self, filename: str, content: bytes, metadata: dict[str, Any] | None, collection: str | None
    ) -> Call[DocumentIndexed]:
        data = {"metadata": json.dumps(metadata)} if metadata else None
        files = {"file": (filename, content)}
        return Call(
            "POST", "/documents", DocumentIndexed.model_validate, self._params(collection), files=files, data=data
        )

    def add_documents(
        self, documents: Sequence[Mapping[str, Any]], replace: bool, collection: str | None
    ) -> Call[BulkIndexed | Job]:
        body = {"documents": [dict(d) for d in documents]}
        params = self._params(collection) | {"replace": str(replace).lower()}
        return Call("POST", "/documents/bulk", _bulk, params, body)

    def upload_many(
        self,
        files: Sequence[tuple[str, bytes]],
        metadata: dict[str, Any] | None,
        replace: bool,
        collection: str | None,
    ) -> Call[BulkIndexed | Job]:
        data = {"metadata": json.dumps(metadata)} if metadata else None
        params = self._params(collection) | {"replace": str(replace).lower()}
        return Call("POST", "/documents/bulk", _bulk, params, files=[("file", f) for f in files], data=data)

    def delete_document(self, doc_id: str, collection: str | None) -> Call[DocumentIndexed]:
        return Call("DELETE", f"/documents/{_path(doc_id)}", DocumentIndexed.model_validate, self._params(collection))

    def documents(self, collection: str | None) -> Call[list[DocumentSummary]]:
        return Call("GET", "/documents", lambda d: DocumentList.model_validate(d).documents, self._params(collection))

    def document(self, doc_id: str, collection: str | None) -> Call[DocumentDetail]:
        return Call("GET", f"/documents/{_path(doc_id)}", DocumentDetail.model_validate, self._params(collection))

    def rebuild(self, collection: str | None, from_folder: bool = False) -> Call[Job]:
        params = self._params(collection) | ({"from_folder": "true"} if from_folder else {})
        return Call("POST", "/index/rebuild", Job.model_validate, params)

    def job(self, job_id: str, collection: str | None) -> Call[Job]:
        return Call("GET", f"/index/jobs/{quote(job_id, safe='')}", Job.model_validate, self._params(collection))

    def collections(self) -> Call[list[Collection]]:
        return Call("GET", "/collections", lambda d: CollectionList.model_validate(d).collections)

    def create_collection(self, name: str) -> Call[Collection]:
        return Call("POST", "/collections", Collection.model_validate, json={"name": name})

    def delete_collection(self, name: str) -> Call[None]:
        return Call("DELETE", f"/collections/{quote(name, safe='')}", lambda d: None)

    def health(self, collection: str | None) -> Call[Health]:
        return Call("GET", "/health", Health.model_validate, self._params(collection))
