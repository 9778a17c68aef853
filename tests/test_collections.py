"""Several knowledge bases in one service, addressed by ?collection= and by chatbot platforms' ids."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from qa.api import create_app

from conftest import SEED


@pytest.fixture
def client(make_service) -> TestClient:  # type: ignore[no-untyped-def]
    service = make_service()
    return TestClient(create_app(service.settings, service=service))


def test_collections_are_separate_knowledge_bases(client: TestClient, tmp_path: Path) -> None:
    r = client.post("/collections", json={"name": "support"})
    assert r.status_code == 201 and r.json() == {"name": "support", "documents": 0, "chunks": 0}
    assert client.post("/collections", json={"name": "support"}).status_code == 409
    assert client.post("/collections", json={"name": "../evil"}).status_code == 422
    r = client.post(
        "/documents?collection=support", json={"doc_id": "refunds.md", "text": "Refunds take five working days."}
    )
    assert r.status_code == 201
    assert (tmp_path / "collections" / "support" / "docs" / "refunds.md").exists()

    def docs(collection: str) -> set[str]:
        return {d["doc_id"] for d in client.get("/documents", params={"collection": collection}).json()["documents"]}

    assert docs("support") == {"refunds.md"} and docs("default") == {SEED.name}
    hits = client.post("/search?collection=support", json={"query": "refunds working days", "mode": "lexical"}).json()[
        "results"
    ]
    assert [h["doc_id"] for h in hits] == ["refunds.md"]
    in_default = client.post("/search", json={"query": "refunds working days", "mode": "lexical"}).json()["results"]
    assert all(h["doc_id"] != "refunds.md" for h in in_default)  # (the English words may still find Chinese passages)
    dify = {"knowledge_id": "support", "query": "refunds", "retrieval_setting": {"top_k": 3, "score_threshold": 0.0}}
    assert [r["title"] for r in client.post("/retrieval", json=dify).json()["records"]] == ["refunds.md"]
    r = client.post("/v1/vector_stores/support/search", json={"query": "refunds"})
    assert [d["file_id"] for d in r.json()["data"]] == ["refunds.md"]
    listed = {c["name"]: c for c in client.get("/collections").json()["collections"]}
    assert set(listed) == {"default", "support"} and listed["support"]["documents"] == 1

    assert client.delete("/collections/default").status_code == 409
    assert client.delete("/collections/support").status_code == 204
    assert not (tmp_path / "collections" / "support").exists()
    assert client.get("/documents", params={"collection": "support"}).status_code == 404
    assert client.post("/retrieval", json=dify).json()["error_code"] == 2001
    assert client.post("/v1/vector_stores/support/search", json={"query": "x"}).status_code == 404
    assert client.delete("/collections/support").status_code == 404


def test_collection_writes_need_the_key(make_service) -> None:  # type: ignore[no-untyped-def]
    service = make_service(api_key="k")
    client = TestClient(create_app(service.settings, service=service))
    assert client.post("/collections", json={"name": "x"}).status_code == 401
    assert client.post("/collections", json={"name": "x"}, headers={"Authorization": "Bearer k"}).status_code == 201
    assert client.delete("/collections/x").status_code == 401
    # An unknown collection is not revealed before authentication.
    assert client.post("/documents?collection=nope", json={"doc_id": "a.txt", "text": "a"}).status_code == 401
