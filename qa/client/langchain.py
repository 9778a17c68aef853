"""A LangChain retriever over a running qa service: ``pip install qa[langchain]``.

    retriever = QARetriever(base_url="http://127.0.0.1:8000", top_k=4)
    docs = retriever.invoke("青岛市虚拟现实产业园规划面积有多大?")

Each passage becomes a ``Document`` whose metadata carries its source
document, offsets, scores and the document's own metadata, so chains can
cite where an answer came from.
"""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForRetrieverRun, CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, PrivateAttr

from qa.client import AsyncQAClient, Passage, QAClient


def _document(p: Passage) -> Document:
    meta = {
        **p.metadata,
        "doc_id": p.doc_id,
        "chunk_id": p.chunk_id,
        "start": p.start,
        "end": p.end,
        "score": p.score,
        "relevance": p.relevance,
        "dense_score": p.dense_score,
        "lexical_score": p.lexical_score,
    } | {k: v for k, v in (("page", p.page), ("section", p.section)) if v is not None}
    return Document(page_content=p.text, metadata=meta, id=p.chunk_id)


class QARetriever(BaseRetriever):
    base_url: str = "http://127.0.0.1:8000"
    api_key: str | None = None
    collection: str = "default"
    top_k: int = 4
    mode: str | None = None
    filter: dict[str, Any] | None = None
    min_relevance: float | None = None  # the server's QA_MIN_RELEVANCE when None; 0 returns every passage
    timeout: float = 30.0

    model_config = ConfigDict(arbitrary_types_allowed=True)
    _client: QAClient | None = PrivateAttr(default=None)

    def _sync_client(self) -> QAClient:
        if self._client is None:
            self._client = QAClient(
                self.base_url, api_key=self.api_key, collection=self.collection, timeout=self.timeout
            )
        return self._client

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        passages = self._sync_client().search(
            query, self.top_k, mode=self.mode, filter=self.filter, min_relevance=self.min_relevance
        )
        return [_document(p) for p in passages]

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun
    ) -> list[Document]:
        # A client per call: an async client is bound to the event loop that created it.
        async with AsyncQAClient(
            self.base_url, api_key=self.api_key, collection=self.collection, timeout=self.timeout
        ) as qa:
            passages = await qa.search(
                query, self.top_k, mode=self.mode, filter=self.filter, min_relevance=self.min_relevance
            )
        return [_document(p) for p in passages]
