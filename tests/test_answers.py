"""Answer quality on the seed article: questions written for it, and the answering sentence's offsets."""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient

from qa.api import create_app
from qa.index.chunking import sentences
from qa.search import reader
from qa.search.evaluation import first_hit, read_queries
from qa.service.catalog import Catalog
from qa.service.core import QAService

from conftest import ROOT, SEED, seed_service

QUESTIONS = read_queries(ROOT / "tests" / "fixtures" / "seed_questions.jsonl")


@pytest.fixture(scope="module")
def service(real_embedder, tmp_path_factory) -> QAService:  # type: ignore[no-untyped-def]
    return seed_service(tmp_path_factory.mktemp("answers"), real_embedder)


@pytest.mark.slow
def test_own_questions_rank_the_answering_passage_high(service: QAService) -> None:
    assert len(QUESTIONS) >= 20 and sum(not q.question.isascii() for q in QUESTIONS) < len(QUESTIONS)
    found = {q.question: service.search(q.question, 10, min_relevance=0).results for q in QUESTIONS}
    ranks = {q.question: first_hit(q, [h.chunk for h in found[q.question]]) for q in QUESTIONS}
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


@pytest.mark.slow
def test_answering_sentences_contain_the_answer(service: QAService) -> None:
    found = total = 0
    for q in QUESTIONS:
        result = service.ask(q.question, 5, min_relevance=0)
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


def test_the_answer_is_the_sentence_that_holds_it_not_the_one_that_repeats_the_question(service: QAService) -> None:
    """The OpenI operation center: the introduction repeats the question's words, the next sentence names the company."""
    for question in ("Which company runs the OpenI Qingdao operation center?", "启智青岛运营中心由哪家公司牵头运营?"):
        answer = service.ask(question, 3).answer
        assert answer is not None and "青岛图灵科技有限公司" in answer.text, (question, answer)


def test_a_number_question_gets_the_number_as_its_span(service: QAService) -> None:
    source = SEED.read_text(encoding="utf-8")
    with TestClient(create_app(service.settings, service=service)) as client:
        answer = client.post("/ask", json={"question": "青岛市虚拟现实产业园规划面积有多大?"}).json()["answer"]
    span = answer["span"]
    assert span["text"] == "1969亩" and span["kind"] == "number"
    assert source[span["start"] : span["end"]] == span["text"]
    assert answer["start"] <= span["start"] < span["end"] <= answer["end"]


def test_a_question_the_documents_do_not_hold_is_not_answered(service: QAService) -> None:
    """Below min_relevance: answer null with the reason, the nearest passages still listed; /search drops them."""
    question = "巴黎明天天气怎么样?"
    with TestClient(create_app(service.settings, service=service)) as client:
        asked = client.post("/ask", json={"question": question}).json()
        searched = client.post("/search", json={"query": question}).json()
        anyway = client.post("/ask", json={"question": question, "min_relevance": 0}).json()
        answered = client.post("/ask", json={"question": "青岛市虚拟现实产业园规划面积有多大?"}).json()
    threshold = service.settings.min_relevance
    assert asked["answer"] is None and asked["not_found"].startswith("Not found in your documents")
    assert asked["min_relevance"] == threshold and asked["results"]
    assert all(p["relevance"] < threshold for p in asked["results"])
    assert searched["results"] == [] and searched["not_found"]
    assert anyway["answer"] is not None and anyway["min_relevance"] == 0
    assert answered["answer"]["relevance"] >= threshold and answered["not_found"] is None


def test_relevance_is_per_language_and_lower_for_wrong_passages(service: QAService) -> None:
    """An English question's relevance comes from its own curve: the right passage high, the others low."""
    hits = service.search(
        "How large is the planned area of the Qingdao VR industrial park?", 5, min_relevance=0
    ).results
    assert "1969亩" in hits[0].text and hits[0].relevance > 0.5
    assert all(h.relevance < 0.5 for h in hits[1:]), [h.relevance for h in hits]


def test_the_reader_shares_the_embedders_bottom_layers_and_copies_the_trained_ones(service: QAService) -> None:
    """The reader costs only its trained layers in memory, and fine-tuning them never touches the embedder's."""
    loaded = service.reader.get()
    assert loaded is not None
    base = service.embedder.transformer  # type: ignore[attr-defined]
    first = base.config.num_hidden_layers - int(loaded.meta["layers"])
    bert = loaded.model.bert
    assert bert.embeddings is base.embeddings
    assert all(bert.encoder.layer[i] is base.encoder.layer[i] for i in range(first))
    assert all(bert.encoder.layer[i] is not base.encoder.layer[i] for i in range(first, len(base.encoder.layer)))


def test_a_passage_longer_than_the_model_reads_is_read_in_windows(service: QAService) -> None:
    loaded = service.reader.get()
    assert loaded is not None
    text = "".join(f"第{i}句说的是青岛的第{i}个园区,它在崂山区。" for i in range(120))
    spans = sentences(text, (0, len(text)))
    wins = reader.windows(loaded.tokenizer, "哪个园区在崂山区?", text, spans)
    assert len(wins) > 1 and all(len(w.ids) <= reader.MAX_TOKENS for w in wins)
    assert all(any(w.members[s] for w in wins) for s in range(len(spans)))  # every sentence is read somewhere
    logits = service.reader.sentence_logits("哪个园区在崂山区?", text, spans)
    assert logits is not None and logits.shape == (len(spans),) and np.isfinite(logits).all()
    assert (logits > -1e3).all()


def test_without_the_reader_the_answering_model_alone_answers(real_embedder, tmp_path) -> None:  # type: ignore[no-untyped-def]
    plain = seed_service(tmp_path, real_embedder, reader=False)
    assert plain.reader.get() is None
    answer = plain.ask("青岛人工智能计算中心是哪天上线的?", 3).answer
    assert answer is not None and "2月23日" in answer.text


def test_a_process_loads_one_reader_for_all_its_collections(service: QAService) -> None:
    catalog = Catalog(service.settings, service.embedder, default=service)
    other = catalog.create("second")
    try:
        assert other.reader is service.reader and catalog.reader is service.reader
    finally:
        catalog.delete("second")
