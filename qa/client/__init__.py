"""A typed Python client for a running qa service, sync (:class:`QAClient`) and async (:class:`AsyncQAClient`),
and framework adapters (:mod:`qa.client.langchain`).

It imports nothing of qa's core (only httpx and the wire types of
:mod:`qa.wire`), so it does not load torch or FAISS. Connection
errors are retried by the transport; HTTP errors raise
:class:`QAClientError` carrying the status and the server's message.

    with QAClient("http://127.0.0.1:8000", api_key="…") as qa:
        for p in qa.search("青岛市虚拟现实产业园规划面积有多大?", top_k=3):
            print(p.score, p.doc_id, p.text[:40])
"""

from qa.client._base import QAClientError
from qa.client._client import AsyncQAClient, QAClient
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

__all__ = [
    "AskResponse",
    "AsyncQAClient",
    "BulkIndexed",
    "Collection",
    "DocumentDetail",
    "DocumentIndexed",
    "DocumentSummary",
    "Health",
    "Job",
    "Passage",
    "QAClient",
    "QAClientError",
]
