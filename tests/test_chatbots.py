"""Dify's External Knowledge API and OpenAI-style vector store search, with the request bodies those platforms send."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from qa.api import create_app
from qa.errors import InvalidInput
from qa.search import filters
from qa.search.calibration import relevances

from conftest import SEED

DOCS = {
    "guide-en.md": (
        "The visitor guide lists opening hours of the VR experience hall.",
        {"lang": "en", "year": 2023, "tags": ["guide", "hours"]},
    ),
    "guide-zh.md": ("参观指南列出了虚拟现实体验馆的开放时间。", {"lang": "zh", "year": 2024}),
    "press.txt": (
        "Press release: the VR hall opening hours are 9 to 17.",
        {"lang": "en", "year": 2022, "source": "press office"},
    ),
}


@pytest.fixture
def make_client(make_service):  # type: ignore[no-untyped-def]
    def make(**kw: object) -> TestClient:
        service = make_service(**kw)
        for name, (text, meta) in DOCS.items():
            service.put(name, text.encode(), meta)
        return TestClient(create_app(service.settings, service=service))

    return make


def dify_body(**kw: object) -> dict:
    # The example request of Dify's External Knowledge API page, with qa's collection name.
    body = {
        "knowledge_id": "default",
        "query": "VR hall opening hours",
        "retrieval_setting": {"top_k": 5, "score_threshold": 0.0},
    }
    return body | kw


def test_dify_records_have_the_documented_shape(make_client) -> None:  # type: ignore[no-untyped-def]
    client = make_client()
    r = client.post("/retrieval", json=dify_body(), headers={"Authorization": "Bearer anything"})
    assert r.status_code == 200
    records = r.json()["records"]
    assert 0 < len(records) <= 5
    for rec in records:
        assert set(rec) == {"content", "score", "title", "metadata"}
        assert isinstance(rec["content"], str) and rec["content"]
        assert 0.0 <= rec["score"] <= 1.0
        assert isinstance(rec["metadata"], dict)  # never null
        assert rec["metadata"]["doc_id"] == rec["title"]
    assert [rec["score"] for rec in records] == sorted((rec["score"] for rec in records), reverse=True)
    none = client.post("/retrieval", json=dify_body(retrieval_setting={"top_k": 5, "score_threshold": 1.0}))
    assert none.status_code == 200 and none.json() == {"records": []}


def test_dify_metadata_conditions(make_client) -> None:  # type: ignore[no-untyped-def]
    client = make_client()

    def titles(*conditions: dict, logical: str = "and") -> set[str]:
        body = dify_body(metadata_condition={"logical_operator": logical, "conditions": list(conditions)})
        r = client.post("/retrieval", json=body | {"retrieval_setting": {"top_k": 20, "score_threshold": 0.0}})
        assert r.status_code == 200, r.text
        return {rec["title"] for rec in r.json()["records"]}

    everything = titles()
    assert set(DOCS) <= everything and SEED.name in everything
    assert titles({"name": "lang", "comparison_operator": "is", "value": "en"}) == {"guide-en.md", "press.txt"}
    assert titles({"name": "lang", "comparison_operator": "is not", "value": "en"}) == {"guide-zh.md", SEED.name}
    assert titles({"name": "source", "comparison_operator": "contains", "value": "press"}) == {"press.txt"}
    assert titles({"name": "lang", "comparison_operator": "in", "value": ["zh", "fr"]}) == {"guide-zh.md"}
    assert titles({"name": "lang", "comparison_operator": "not in", "value": ["zh", "en"]}) == {SEED.name}
    assert titles({"name": "source", "comparison_operator": "empty"}) == {"guide-en.md", "guide-zh.md", SEED.name}
    assert titles({"name": "source", "comparison_operator": "not empty"}) == {"press.txt"}
    assert titles({"name": "year", "comparison_operator": "≥", "value": 2023}) == {"guide-en.md", "guide-zh.md"}
    assert titles({"name": "tags", "comparison_operator": "contains", "value": "hours"}) == {"guide-en.md"}
    assert titles(
        {"name": "lang", "comparison_operator": "is", "value": "zh"},
        {"name": "year", "comparison_operator": "<", "value": 2023},
        logical="or",
    ) == {"guide-zh.md", "press.txt"}
    bad = dify_body(
        metadata_condition={"conditions": [{"name": "lang", "comparison_operator": "sounds like", "value": "x"}]}
    )
    r = client.post("/retrieval", json=bad)
    assert r.status_code == 422 and "sounds like" in r.json()["error_msg"]


def test_dify_errors_follow_its_conventions(make_client) -> None:  # type: ignore[no-untyped-def]
    client = make_client(api_key="s3cret")
    r = client.post("/retrieval", json=dify_body())
    assert r.status_code == 403 and r.json()["error_code"] == 1001
    r = client.post("/retrieval", json=dify_body(), headers={"Authorization": "Token s3cret"})
    assert r.status_code == 403 and r.json()["error_code"] == 1001
    r = client.post("/retrieval", json=dify_body(), headers={"Authorization": "Bearer nope"})
    assert r.status_code == 403 and r.json()["error_code"] == 1002
    auth = {"Authorization": "Bearer s3cret"}
    r = client.post("/retrieval", json=dify_body(knowledge_id="other-kb"), headers=auth)
    assert r.status_code == 404 and r.json()["error_code"] == 2001 and r.json()["error_msg"]
    assert client.post("/retrieval", json=dify_body(), headers=auth).status_code == 200


def test_openai_vector_store_search_shape_and_filters(make_client) -> None:  # type: ignore[no-untyped-def]
    client = make_client()
    body = {"query": "VR hall opening hours", "max_num_results": 3, "ranking_options": {"score_threshold": 0.0}}
    r = client.post("/v1/vector_stores/default/search", json=body)
    assert r.status_code == 200, r.text
    page = r.json()
    assert page["object"] == "vector_store.search_results.page" and page["search_query"] == body["query"]
    assert page["has_more"] is False and page["next_page"] is None and 0 < len(page["data"]) <= 3
    for item in page["data"]:
        assert set(item) == {"file_id", "filename", "score", "attributes", "content"}
        assert 0 <= item["score"] <= 1 and isinstance(item["attributes"], dict)
        assert item["content"][0]["type"] == "text" and item["content"][0]["text"]
    flt = {
        "type": "and",
        "filters": [{"type": "eq", "key": "lang", "value": "en"}, {"type": "gte", "key": "year", "value": 2023}],
    }
    r = client.post(
        "/v1/vector_stores/default/search", json={"query": "opening hours", "filters": flt, "max_num_results": 10}
    )
    assert {d["file_id"] for d in r.json()["data"]} == {"guide-en.md"}
    assert client.post("/v1/vector_stores/nope/search", json={"query": "x"}).status_code == 404
    assert (
        client.post("/v1/vector_stores/default/search", json={"query": "x", "filters": {"type": "near"}}).status_code
        == 422
    )


def test_conditions_refuse_what_they_cannot_mean() -> None:
    with pytest.raises(InvalidInput):
        filters.condition("lang", "is")  # no value
    with pytest.raises(InvalidInput):
        filters.combine([], "xor")
    # A number compared with text under an ordering is no match, not a crash.
    assert filters.condition("year", ">", 2000)("a.txt", {"year": "unknown"}) is False
    assert filters.condition("when", "before", "2024-01-01")("a.txt", {"when": "2023-06-30"}) is True


@pytest.mark.parametrize("mode", ["lexical", "hybrid", "dense"])
def test_qa_passages_carry_the_calibrated_score_the_platforms_get(make_client, mode: str) -> None:  # type: ignore[no-untyped-def]
    """/search and /ask give each passage its ``relevance``: the score Dify and OpenAI clients see, from any mode."""
    client = make_client()
    for path, body in (
        ("/search", {"query": "VR hall opening hours"}),
        ("/ask", {"question": "VR hall opening hours"}),
    ):
        results = client.post(path, json={**body, "mode": mode, "top_k": 3}).json()["results"]
        assert results
        # An English question: the English curve of its mode, over the ranking's scores (best first).
        expected = relevances([p["score"] for p in results], mode, latin=True)  # type: ignore[arg-type]
        for p, e in zip(results, expected, strict=True):
            assert 0 <= p["relevance"] <= 1 and p["relevance"] == round(p["relevance"], 4)
            assert p["relevance"] == pytest.approx(e, abs=2e-3)
    platform = client.post("/v1/vector_stores/default/search", json={"query": "VR hall opening hours"}).json()["data"]
    ours = client.post("/search", json={"query": "VR hall opening hours", "top_k": 10}).json()["results"]
    by_chunk = {p["chunk_id"]: p["relevance"] for p in ours}
    assert platform and all(
        by_chunk[d["attributes"]["chunk_id"]] == pytest.approx(d["score"], abs=1e-4) for d in platform
    )


def test_qa_bodies_refuse_unknown_fields_and_the_platforms_bodies_do_not(make_client) -> None:  # type: ignore[no-untyped-def]
    """A misspelt option (min_score for min_relevance) must not be silently ignored; Dify and OpenAI clients send
    fields qa does not use, and keep working."""
    client = make_client()
    for path, body in (("/search", {"query": "VR hall"}), ("/ask", {"question": "VR hall"})):
        r = client.post(path, json=body | {"min_score": 0.5, "topK": 3})
        assert r.status_code == 422 and "min_score" in r.json()["detail"] and "topK" in r.json()["detail"]
        assert client.post(path, json=body | {"min_relevance": False}).status_code == 422
        assert client.post(path, json=body | {"min_relevance": 1.5}).status_code == 422
    dify = dify_body(retrieval_setting={"top_k": 2, "score_threshold": 0.0, "score_threshold_enabled": False})
    r = client.post("/retrieval", json=dify | {"user": "x"}, headers={"Authorization": "Bearer anything"})
    assert r.status_code == 200, r.text
    r = client.post("/v1/vector_stores/default/search", json={"query": "VR hall", "rewrite_query": False, "x": 1})
    assert r.status_code == 200, r.text


def test_min_relevance_gates_search_and_is_echoed(make_client) -> None:  # type: ignore[no-untyped-def]
    client = make_client(min_relevance=0.0)
    everything = client.post("/search", json={"query": "VR hall opening hours", "top_k": 3}).json()
    assert everything["min_relevance"] == 0 and everything["not_found"] is None and everything["results"]
    none = client.post("/search", json={"query": "VR hall opening hours", "top_k": 3, "min_relevance": 1}).json()
    assert none["results"] == [] and none["min_relevance"] == 1 and none["not_found"].startswith("Not found")
    got = client.get("/search", params={"q": "VR hall opening hours", "min_relevance": 1}).json()
    assert got["results"] == [] and got["min_relevance"] == 1
