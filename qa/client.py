"""A typed Python client for a running qa service, sync (:class:`QAClient`) and async (:class:`AsyncQAClient`).

Only httpx and the standard library: it imports nothing of qa's core, so an
application can use it without torch or FAISS installed. Connection errors
are retried by the transport; HTTP errors raise :class:`QAClientError`
carrying the status and the server's message.

    with QAClient("http://127.0.0.1:8000", api_key="…") as qa:
        for p in qa.search("青岛市虚拟现实产业园规划面积有多大?", top_k=3):
            print(p.score, p.doc_id, p.text[:40])
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from typing import Any, TypeVar

import httpx

T = TypeVar("T")
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=5.0)


class QAClientError(Exception):
    def __init__(self, status_code: int, detail: str) -> None:
        super().__init__(f"{status_code}: {detail}")
        self.status_code, self.detail = status_code, detail


@dataclass(frozen=True)
class Passage:
    chunk_id: str
    doc_id: str
    text: str
    score: float
    start: int
    end: int
    dense_score: float | None = None
    lexical_score: float | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Sentence:
    text: str
    start: int
    end: int
    score: float


@dataclass(frozen=True)
class Answer:
    passages: list[Passage]
    sentences: list[Sentence]
    answer: Sentence | None
    answer_doc_id: str | None


@dataclass(frozen=True)
class DocumentIndexed:
    doc_id: str
    chunks: int
    sha256: str | None
    created: bool
    index: dict[str, int]


@dataclass(frozen=True)
class Job:
    id: str
    kind: str
    state: str
    done: int
    total: int
    created_at: str
    finished_at: str | None
    result: dict[str, Any] | None
    error: str | None


def _build(cls: type[T], data: dict[str, Any]) -> T:
    """A dataclass from a response object, ignoring fields a newer server may add."""
    names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    return cls(**{k: v for k, v in data.items() if k in names})


def _check(r: httpx.Response) -> Any:
    if r.is_success:
        return r.json() if r.content else None
    try:
        body = r.json()
        detail = body.get("detail") or body.get("error_msg") or r.text
    except (ValueError, AttributeError):
        detail = r.text
    raise QAClientError(r.status_code, str(detail))


def _ask(data: dict[str, Any]) -> Answer:
    passages = [_build(Passage, p) for p in data["results"]]
    sentences = [_build(Sentence, p["sentence"]) for p in data["results"]]
    a = data.get("answer")
    return Answer(passages, sentences, _build(Sentence, a) if a else None, a["doc_id"] if a else None)


class _Requests:
    """Request bodies and parameters, shared by both clients so the two cannot drift apart."""

    def __init__(self, collection: str) -> None:
        self.collection = collection

    def params(self, collection: str | None) -> dict[str, str]:
        return {"collection": collection or self.collection}

    @staticmethod
    def search(query: str, top_k: int, mode: str | None, filter: dict[str, Any] | None) -> dict[str, Any]:
        body: dict[str, Any] = {"query": query, "top_k": top_k}
        if mode:
            body["mode"] = mode
        if filter:
            body["filter"] = filter
        return body

    @staticmethod
    def ask(question: str, top_k: int, mode: str | None, filter: dict[str, Any] | None) -> dict[str, Any]:
        body = _Requests.search(question, top_k, mode, filter)
        body["question"] = body.pop("query")
        return body

    @staticmethod
    def document(doc_id: str, text: str, metadata: dict[str, Any] | None) -> dict[str, Any]:
        return {"doc_id": doc_id, "text": text, "metadata": metadata}


def _options(base_url: str, api_key: str | None, timeout: httpx.Timeout | float) -> dict[str, Any]:
    """What the sync and async clients share: base URL, the key as a Bearer header, timeouts."""
    return {"base_url": base_url, "headers": {"Authorization": f"Bearer {api_key}"} if api_key else {}, "timeout": timeout}


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
        self._r = _Requests(collection)
        self._http = httpx.Client(**_options(base_url, api_key, timeout), transport=httpx.HTTPTransport(retries=retries))

    def __enter__(self) -> QAClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def search(self, query: str, top_k: int = 5, *, mode: str | None = None, filter: dict[str, Any] | None = None,
               collection: str | None = None) -> list[Passage]:  # fmt: skip
        data = _check(self._http.post("/search", json=_Requests.search(query, top_k, mode, filter), params=self._r.params(collection)))
        return [_build(Passage, p) for p in data["results"]]

    def ask(self, question: str, top_k: int = 5, *, mode: str | None = None, filter: dict[str, Any] | None = None,
            collection: str | None = None) -> Answer:  # fmt: skip
        body = _Requests.ask(question, top_k, mode, filter)
        return _ask(_check(self._http.post("/ask", json=body, params=self._r.params(collection))))

    def add_document(self, doc_id: str, text: str, metadata: dict[str, Any] | None = None, *, replace: bool = False,
                     collection: str | None = None) -> DocumentIndexed:  # fmt: skip
        """Store and index a document (``replace=True``: create or replace it)."""
        body, params = _Requests.document(doc_id, text, metadata), self._r.params(collection)
        r = self._http.put(f"/documents/{doc_id}", json=body, params=params) if replace else self._http.post("/documents", json=body, params=params)
        return _build(DocumentIndexed, _check(r))

    def upload(self, filename: str, content: bytes, metadata: dict[str, Any] | None = None, *,
               collection: str | None = None) -> DocumentIndexed:  # fmt: skip
        data = {"metadata": json.dumps(metadata)} if metadata else None
        r = self._http.post("/documents", files={"file": (filename, content)}, data=data, params=self._r.params(collection))
        return _build(DocumentIndexed, _check(r))

    def delete_document(self, doc_id: str, *, collection: str | None = None) -> DocumentIndexed:
        return _build(DocumentIndexed, _check(self._http.delete(f"/documents/{doc_id}", params=self._r.params(collection))))

    def documents(self, *, collection: str | None = None) -> list[dict[str, Any]]:
        return _check(self._http.get("/documents", params=self._r.params(collection)))["documents"]

    def rebuild(self, *, collection: str | None = None) -> Job:
        return _build(Job, _check(self._http.post("/index/rebuild", params=self._r.params(collection))))

    def job(self, job_id: str, *, collection: str | None = None) -> Job:
        return _build(Job, _check(self._http.get(f"/index/jobs/{job_id}", params=self._r.params(collection))))

    def health(self) -> dict[str, Any]:
        return _check(self._http.get("/health"))


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
        self._r = _Requests(collection)
        self._http = httpx.AsyncClient(
            **_options(base_url, api_key, timeout), transport=httpx.AsyncHTTPTransport(retries=retries)
        )

    async def __aenter__(self) -> AsyncQAClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def search(self, query: str, top_k: int = 5, *, mode: str | None = None, filter: dict[str, Any] | None = None,
                     collection: str | None = None) -> list[Passage]:  # fmt: skip
        r = await self._http.post("/search", json=_Requests.search(query, top_k, mode, filter), params=self._r.params(collection))
        return [_build(Passage, p) for p in _check(r)["results"]]

    async def ask(self, question: str, top_k: int = 5, *, mode: str | None = None, filter: dict[str, Any] | None = None,
                  collection: str | None = None) -> Answer:  # fmt: skip
        body = _Requests.ask(question, top_k, mode, filter)
        return _ask(_check(await self._http.post("/ask", json=body, params=self._r.params(collection))))

    async def add_document(self, doc_id: str, text: str, metadata: dict[str, Any] | None = None, *,
                           replace: bool = False, collection: str | None = None) -> DocumentIndexed:  # fmt: skip
        body, params = _Requests.document(doc_id, text, metadata), self._r.params(collection)
        if replace:
            r = await self._http.put(f"/documents/{doc_id}", json=body, params=params)
        else:
            r = await self._http.post("/documents", json=body, params=params)
        return _build(DocumentIndexed, _check(r))

    async def delete_document(self, doc_id: str, *, collection: str | None = None) -> DocumentIndexed:
        return _build(DocumentIndexed, _check(await self._http.delete(f"/documents/{doc_id}", params=self._r.params(collection))))
