"""Questions in one language, passages in another: the lexical bridges, over the counting embedder.

These are claims about tokens, dictionaries and scores, not about meaning,
so they run lexical mode without the model; the real model's figures are
`make eval`'s (README, "English questions over Chinese documents").
"""

from __future__ import annotations

from pathlib import Path

import pytest

from qa.index import bridge
from qa.index.lexical import fold, tokenize
from qa.search import english, retrieval
from qa.service.core import QAService

PASSAGES = {
    "zhang.txt": "张世昌一九六三年生于青岛，一九八五年赴日本留学，后来在东京大学研究海洋生物。",
    "times.txt": "The Times 是英国的一份报纸，what is the news 这句话常被引用。该报创办于1785年。",
    "louzeng.txt": "楼曾瑞现任明光社主席，同时担任灵实恩光学校校监。",
    "taipei.txt": "臺北市是臺灣的首都，位於臺北盆地，人口約二百五十萬。",
    "bookmarks.txt": "Mozilla Firefox introduced Live Bookmarks in 2004, which let users follow news feeds.",
}


@pytest.fixture
def service(make_service, make_settings) -> QAService:  # type: ignore[no-untyped-def]
    service = make_service()
    for name, text in PASSAGES.items():
        service.put(name, text.encode())
    return service


def _top(service: QAService, question: str) -> str:
    return service.search(question, 3, "lexical").results[0].doc_id


def test_pinyin_pairs_cover_both_readings_of_a_surname() -> None:
    tokens = bridge.tokens("楼曾瑞")
    assert {"py:louzeng", "py:zengrui", "py:louceng"} <= set(tokens) and "c:曾" in tokens
    assert bridge.split_syllables("Shichang") == ["shi", "chang"] and bridge.split_syllables("Xi'an") == ["xi", "an"]
    assert bridge.split_syllables("Lorimer") is None and bridge.split_syllables("the") is None


def test_traditional_and_simplified_meet() -> None:
    assert fold("臺灣的首都") == "台湾的首都"
    assert set(tokenize("台湾")) <= set(tokenize("臺灣"))


def test_an_english_question_finds_a_chinese_name_through_pinyin(service: QAService) -> None:
    assert _top(service, "Where did Zhang Shichang study abroad?") == "zhang.txt"
    assert _top(service, "What positions does Lou Zengrui hold?") == "louzeng.txt"  # 曾 read zeng in a name


def test_dictionary_words_carry_an_english_question_into_chinese(service: QAService) -> None:
    assert _top(service, "What is the population of Taipei?") == "taipei.txt"  # 人口 via CC-CEDICT, 臺北 folded
    assert _top(service, "Which university did he study marine biology at in Japan?") == "zhang.txt"


def test_english_stopwords_do_not_make_a_passage_that_quotes_them_win(service: QAService) -> None:
    """'what', 'is', 'the' look rare in a Chinese corpus; BM25 must not reward the passage that happens to hold them."""
    results = service.search("What is the capital city of Taiwan?", 3, "lexical").results
    assert results[0].doc_id == "taipei.txt"
    query = retrieval.prepare(service.index, "What is the news?")
    assert all(t not in ("what", "is", "the") for c in query.translation.concepts for alt in c for t in alt)  # type: ignore[union-attr]


def test_a_chinese_question_finds_an_english_passage_through_glosses(service: QAService) -> None:
    assert _top(service, "即时书签是由什么公司推出的？") == "bookmarks.txt"
    # Chinese passages score as they would without glosses: a Chinese question still finds its Chinese answer.
    assert _top(service, "张世昌在哪里留学？") == "zhang.txt"


def test_the_dense_side_embeds_the_question_with_its_chinese_words(service: QAService) -> None:
    query = retrieval.prepare(service.index, "What is the population of Taipei?")
    assert query.dense_text.startswith("What is the population of Taipei?") and "人口" in query.dense_text
    assert query.lexical_weight == retrieval.CROSS_LINGUAL_WEIGHT
    assert retrieval.prepare(service.index, "台北有多少人口？").dense_text == "台北有多少人口？"


def test_an_index_from_an_earlier_version_is_retokenized_once(service: QAService, tmp_path: Path) -> None:
    """Indexes written before the bridge existed open, serve, and are brought up to date by the next sync."""
    import json

    from qa.index import store

    commit = store.current_path(service.settings.index_dir)
    commit.write_text(json.dumps(json.loads(commit.read_text()) | {"tokens_version": 1}))
    old = QAService(service.settings, service.embedder)
    assert old.writer.open() is True  # stale: a background sync would rewrite it
    assert _top(old, "Where did Zhang Shichang study abroad?") == "zhang.txt"  # served meanwhile, re-tokenized
    old.writer.sync()
    assert store.read_manifest(service.settings.index_dir).tokens_version > 1


def test_english_questions_over_english_passages_still_match_their_words(service: QAService) -> None:
    assert english.applies("Who introduced Live Bookmarks?") and not english.applies("谁推出了即时书签?")
    assert _top(service, "Who introduced Live Bookmarks?") == "bookmarks.txt"


def test_a_chinese_name_reaches_an_english_passage_in_pinyin_when_the_translation_garbles_it(
    make_service,  # type: ignore[no-untyped-def]
) -> None:
    """The translation model reads 楼曾瑞 as "Shun Shwe"; English text writes him "Lou Zengrui". Two neighbouring
    characters read as one pinyin word the index holds ("zengrui") carry the question to the English passage; a
    pinyin reading that is an English word ("side", from 思德) is not taken for a name."""
    service = make_service()
    service.put("lou_en.txt", b"Lou Zengrui is the chairman of the Truth Light Society and a school supervisor.")
    service.put("side.txt", b"On the other side of the river stands an old mill.")
    service.put("louzeng.txt", "明光社成立于一九七六年，是一个基督教团体。".encode())
    garbled = retrieval.prepare(service.index, "楼曾瑞在思德担任什么职务？", lambda _: "What is Shun Shwe's job?")
    assert "zengrui" in garbled.names and "side" not in garbled.names
    hits = retrieval.search(service.index, service.embedder, garbled, 3, "lexical")
    assert hits[0].doc_id == "lou_en.txt"
    # Names go with a translation only: a question that is not translated has none.
    assert retrieval.prepare(service.index, "楼曾瑞在思德担任什么职务？").names == ()
