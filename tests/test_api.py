"""The real app over the real model and the seed article."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from qa.api import create_app
from qa.service.core import QAService

from conftest import SEED, seed_service

ZH = "青岛市虚拟现实产业园规划面积有多大?"
EN = "How large is the planned area of the Qingdao VR industrial park?"


@pytest.fixture(scope="module")
def client(real_embedder, tmp_path_factory) -> TestClient:  # type: ignore[no-untyped-def]
    service = seed_service(tmp_path_factory.mktemp("api"), real_embedder)
    with TestClient(create_app(service.settings, service=service)) as c:
        yield c


def test_health(client: TestClient) -> None:
    body = client.get("/health").json()
    assert body["status"] == "ok"
    assert body["documents"] == 1 and body["chunks"] > 10
    assert body["model"] == "bundled:multilingual-e5-small" and body["dim"] == 384


def test_chinese_question_finds_the_area_first(client: TestClient) -> None:
    r = client.post("/search", json={"query": ZH, "top_k": 5})
    assert r.status_code == 200
    body = r.json()
    top = body["results"][0]
    assert "1969亩" in top["text"]
    assert top["doc_id"] == "laoshan-vr-ai.txt"
    source = SEED.read_text(encoding="utf-8")
    assert source[top["start"] : top["end"]] == top["text"]
    assert body["query"] == ZH and body["took_ms"] > 0 and len(body["results"]) == 5
    scores = [p["score"] for p in body["results"]]
    assert scores == sorted(scores, reverse=True)


def test_english_question_finds_it_in_the_top_3(client: TestClient) -> None:
    results = client.get("/search", params={"q": EN, "top_k": 3}).json()["results"]
    assert any("1969亩" in p["text"] for p in results), [p["text"][:40] for p in results]


@pytest.mark.parametrize("mode", ["dense", "lexical", "hybrid"])
def test_every_mode_answers(client: TestClient, mode: str) -> None:
    body = client.post("/search", json={"query": ZH, "top_k": 3, "mode": mode}).json()
    assert body["mode"] == mode
    # Hybrid and lexical rank it first; dense alone puts a broader paragraph about the park first.
    assert any("1969亩" in p["text"] for p in body["results"])


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        ({"query": ""}, "empty"),
        ({"query": "   \n\t"}, "empty"),
        ({"query": "x", "top_k": 0}, "top_k"),
        ({"query": "x", "top_k": 101}, "top_k"),
        ({"query": "问" * 2001}, "2000"),
        ({"top_k": 3}, "query"),
        ({"query": "x", "top_k": "many"}, "top_k"),
        ({"query": "x", "mode": "magic"}, "mode"),
    ],
)
def test_bad_input_is_a_readable_422(client: TestClient, payload: dict, fragment: str) -> None:
    r = client.post("/search", json=payload)
    assert r.status_code == 422
    assert fragment in r.json()["detail"]


def test_bad_get_input_is_a_422(client: TestClient) -> None:
    assert client.get("/search", params={"q": " "}).status_code == 422
    assert client.get("/search", params={"q": "x", "top_k": 500}).status_code == 422
    assert client.get("/search").status_code == 422


def test_not_json_is_a_client_error(client: TestClient) -> None:
    r = client.post("/search", content=b"\xff\xfe not json", headers={"content-type": "application/json"})
    assert r.status_code in (400, 422)
    assert isinstance(r.json()["detail"], str)


def test_openapi_docs(client: TestClient) -> None:
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/health", "/search"} <= set(paths)


@pytest.mark.slow
def test_another_model_by_path_loads_and_refuses_this_index(client: TestClient) -> None:
    """QA_MODEL may be any sentence-transformers folder; an index built by another model is a clear error."""
    from qa.encoder.embedder import load_embedder, resolve_model_path
    from qa.errors import ModelMismatch

    service = client.app.state.startup.catalog().get()  # type: ignore[attr-defined]
    folder = resolve_model_path(service.settings)
    other = service.settings.model_copy(update={"model": folder})
    embedder = load_embedder(other)
    assert embedder.name == folder and embedder.dim == 384
    with pytest.raises(ModelMismatch, match="bundled:multilingual-e5-small"):
        QAService(other, embedder).writer.load()
