"""qa.client and the LangChain retriever against a live qa on 127.0.0.1 (real uvicorn, real model, real langchain-core)."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from qa.api import create_app
from qa.client import AsyncQAClient, BulkIndexed, QAClient, QAClientError

from conftest import SEED, seed_service, wait_for_job
from servers import ThreadedServer

pytestmark = pytest.mark.slow
ZH = "青岛市虚拟现实产业园规划面积有多大?"


@pytest.fixture(scope="module")
def server(real_embedder, tmp_path_factory):  # type: ignore[no-untyped-def]
    service = seed_service(tmp_path_factory.mktemp("client"), real_embedder, api_key="k3y")
    with ThreadedServer(create_app(service.settings, service=service)) as live:
        yield live


def test_sync_client_round_trip(server) -> None:  # type: ignore[no-untyped-def]
    with QAClient(server.url, api_key="k3y") as qa:
        top = qa.search(ZH, top_k=3)[0]
        assert "1969亩" in top.text and top.doc_id == SEED.name and top.dense_score is not None
        answer = qa.ask("How large is the planned area of the Qingdao VR industrial park?")
        assert answer.answer is not None and "1969亩" in answer.answer.text and answer.answer.doc_id == SEED.name
        added = qa.add_document("faq.md", "# FAQ\n\nThe VR park shuttle bus leaves every 20 minutes.", {"lang": "en"})
        assert added.created and added.chunks == 1
        hits = qa.search("How often does the shuttle bus leave?", filter={"lang": "en"})
        assert hits[0].doc_id == "faq.md" and hits[0].metadata == {"lang": "en"}
        assert qa.add_document("faq.md", "Shuttle every 30 minutes.", replace=True).created is False
        assert {d.doc_id for d in qa.documents()} == {SEED.name, "faq.md"}
        assert qa.delete_document("faq.md").index.removed == 1
        job = qa.rebuild()
        assert wait_for_job(lambda: qa.job(job.id)).state == "succeeded"
        with pytest.raises(QAClientError) as err:
            qa.search(" ")
        assert err.value.status_code == 422 and "empty" in err.value.detail
    with QAClient(server.url) as anonymous, pytest.raises(QAClientError) as err:
        anonymous.add_document("x.txt", "x")
    assert err.value.status_code == 401


def test_documents_in_bulk(server) -> None:  # type: ignore[no-untyped-def]
    with QAClient(server.url, api_key="k3y") as qa:
        docs = [
            {"doc_id": f"bus/line{i}.txt", "text": f"Bus line {i} runs to the harbour every {i + 5} minutes."}
            for i in range(3)
        ]
        result = qa.add_documents([*docs, {"doc_id": "../bad.txt", "text": "x"}])
        assert isinstance(result, BulkIndexed) and result.errors and result.index and result.index.added == 3
        assert [d.status for d in result.documents] == [201, 201, 201, 400]
        assert qa.search("How often does bus line 2 run?", top_k=3)[0].doc_id.startswith("bus/")
        uploaded = qa.upload_many([("ferry.md", b"# Ferry\n\nThe ferry to Huangdao leaves at noon.")], {"lang": "en"})
        assert isinstance(uploaded, BulkIndexed) and uploaded.documents[0].status == 201
        assert qa.delete_document("ferry.md").index.removed == 1
        for d in docs:
            qa.delete_document(d["doc_id"])

    async def run() -> BulkIndexed | object:
        async with AsyncQAClient(server.url, api_key="k3y") as qa:
            out = await qa.add_documents([{"doc_id": "tram.txt", "text": "The tram depot is in Licang."}])
            await qa.delete_document("tram.txt")
            return out

    out = asyncio.run(run())
    assert isinstance(out, BulkIndexed) and out.documents[0].status == 201


def test_async_client(server) -> None:  # type: ignore[no-untyped-def]
    async def run() -> list[str]:
        async with AsyncQAClient(server.url, api_key="k3y") as qa:
            results = await asyncio.gather(*(qa.search(ZH, top_k=1) for _ in range(4)))
            return [r[0].text for r in results]

    assert all("1969亩" in t for t in asyncio.run(run()))


def test_langchain_retriever(server) -> None:  # type: ignore[no-untyped-def]
    from langchain_core.documents import Document
    from langchain_core.retrievers import BaseRetriever

    from qa.client.langchain import QARetriever

    retriever = QARetriever(base_url=server.url, top_k=2)
    assert isinstance(retriever, BaseRetriever)
    docs = retriever.invoke(ZH)
    assert len(docs) == 2 and all(isinstance(d, Document) for d in docs)
    assert "1969亩" in docs[0].page_content
    assert docs[0].metadata["doc_id"] == SEED.name and docs[0].metadata["end"] > docs[0].metadata["start"]
    adocs = asyncio.run(retriever.ainvoke("How large is the planned area of the Qingdao VR industrial park?"))
    assert any("1969亩" in d.page_content for d in adocs)


def test_readme_chatbot_calls(server) -> None:  # type: ignore[no-untyped-def]
    """The Dify and OpenAI-style calls exactly as the README shows them."""
    dify = httpx.post(
        server.url + "/retrieval",
        headers={"Authorization": "Bearer k3y"},
        json={"knowledge_id": "default", "query": ZH, "retrieval_setting": {"top_k": 3, "score_threshold": 0.3}},
    )
    records = dify.json()["records"]
    assert dify.status_code == 200 and records and "1969亩" in records[0]["content"] and records[0]["score"] >= 0.3
    openai = httpx.post(server.url + "/v1/vector_stores/default/search", json={"query": ZH, "max_num_results": 3})
    assert openai.status_code == 200 and "1969亩" in openai.json()["data"][0]["content"][0]["text"]
