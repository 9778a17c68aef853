"""Answer quality on the seed article: questions written for it, and the answering sentence's offsets."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from qa.api import create_app
from qa.search.evaluation import first_hit, read_queries
from qa.service.core import QAService

from conftest import ROOT, SEED, seed_service

pytestmark = pytest.mark.slow
QUESTIONS = read_queries(ROOT / "tests" / "fixtures" / "seed_questions.jsonl")


@pytest.fixture(scope="module")
def service(real_embedder, tmp_path_factory) -> QAService:  # type: ignore[no-untyped-def]
    return seed_service(tmp_path_factory.mktemp("answers"), real_embedder)


def test_own_questions_rank_the_answering_passage_high(service: QAService) -> None:
    assert len(QUESTIONS) >= 20 and sum(not q.question.isascii() for q in QUESTIONS) < len(QUESTIONS)
    ranks = {q.question: first_hit(q, [h.chunk for h in service.search(q.question, 10).results]) for q in QUESTIONS}
    first = sum(r == 1 for r in ranks.values())
    print(f"\nseed questions: {first}/{len(ranks)} at rank 1; ranks {sorted(ranks.values(), key=str)}")
    assert first / len(ranks) > 0.5, ranks
    assert all(r is not None and r <= 3 for r in ranks.values()), {q: r for q, r in ranks.items() if not r or r > 3}


def test_ask_returns_the_answering_sentence_with_offsets_into_the_source(service: QAService) -> None:
    source = SEED.read_text(encoding="utf-8")
    with TestClient(create_app(service.settings, service=service)) as client:
        body = client.post("/ask", json={"question": "青岛人工智能计算中心是哪天上线的?", "top_k": 3}).json()
    answer = body["answer"]
    assert "2月23日" in answer["text"]
    assert source[answer["start"] : answer["end"]] == answer["text"]
    assert answer["doc_id"] == "laoshan-vr-ai.txt"
    for passage in body["results"]:
        sent = passage["sentence"]
        assert source[sent["start"] : sent["end"]] == sent["text"]
        assert passage["start"] <= sent["start"] < sent["end"] <= passage["end"]


def test_answering_sentences_contain_the_answer(service: QAService) -> None:
    found = total = 0
    for q in QUESTIONS:
        result = service.ask(q.question, 5)
        for hit in result.results:
            if any(a in hit.text for a in q.answers):
                total += 1
                found += any(a in hit.sentence.text for a in q.answers)
    print(f"\nanswering sentence holds the answer in {found}/{total} passages that do")
    assert found / total >= 0.8, (found, total)


def test_ask_validates_like_search(service: QAService) -> None:
    with TestClient(create_app(service.settings, service=service)) as client:
        r = client.post("/ask", json={"question": " "})
        assert r.status_code == 422 and "empty" in r.json()["detail"]
