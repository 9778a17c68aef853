"""The translation model: provisioned from its pinned package, hash-checked; translating; English answers.

The fast tier checks provisioning's refusals and the wiring without a model;
the slow tier runs the real OPUS-MT model, which `make setup` installs
(`qa model install-translation`), for every claim about what a translation says.
"""

from __future__ import annotations

import io
import re
import tarfile
from pathlib import Path

import pytest

from qa.config import Settings
from qa.errors import ModelError
from qa.service.core import QAService
from qa.translate import provision
from qa.translate.loader import LazyTranslator
from qa.translate.model import MAX_PIECES, Translator, _sentences

from conftest import seed_service

CJK = re.compile(r"[\u4e00-\u9fff]")


def _fake_sdist(path: Path, payload: bytes) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo(provision.MEMBER)
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    return path


def test_a_missing_package_says_how_to_install_it(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="qa model install-translation"):
        provision.materialize(tmp_path / "cache")


def test_a_package_with_another_digest_is_refused_and_nothing_is_left_behind(tmp_path: Path) -> None:
    sdist = _fake_sdist(tmp_path / provision.SDIST, b"not the model")
    cache = tmp_path / "cache"
    with pytest.raises(ModelError, match="not the pinned"):
        provision.materialize(cache, sdist=sdist)
    assert not provision.model_folder(cache).exists()
    assert not cache.exists() or not list(cache.iterdir())


def test_sentences_are_cut_at_their_ends_and_long_ones_at_commas() -> None:
    assert _sentences("今天下雨。明天呢？\n后天晴！") == ["今天下雨。", "明天呢？", "后天晴！"]
    long = "，".join(["这是一个相当长的从句"] * 40) + "。"
    parts = _sentences(long)
    assert len(parts) > 1 and "".join(parts) == long
    assert all(len(p) <= MAX_PIECES for p in parts)


def test_without_a_model_answers_are_untranslated_not_failed(make_service, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    service = make_service(model_cache=tmp_path / "empty-cache")
    english = service.ask("What was unveiled in Laoshan?", min_relevance=0)
    assert english.answer is not None and english.answer.translation is None
    assert service.translator.get() is None


def test_a_chinese_question_never_loads_the_translator(make_service, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    service = make_service(model_cache=tmp_path / "empty-cache")
    assert service.ask("哪两个平台揭牌？", min_relevance=0).answer.translation is None  # type: ignore[union-attr]
    assert service.translator._tried is False


def test_answers_stay_chinese_when_turned_off(make_service) -> None:  # type: ignore[no-untyped-def]
    service = make_service(translate_answers=False)
    assert service.translate_answer("What was unveiled?", "两大平台揭牌。") is None
    assert service.translator._tried is False


# ------------------------------------------------------------------ the real model
@pytest.fixture(scope="session")
def translator() -> Translator:
    translator = LazyTranslator(Settings()).get()
    if translator is None:
        raise AssertionError(f"the translation model is not installed: {provision.REMEDY}")
    return translator


@pytest.mark.slow
def test_materializing_again_reuses_the_folder_without_the_package(tmp_path: Path) -> None:
    cache = Settings().model_cache
    folder = provision.materialize(cache)
    assert provision.materialize(cache, sdist=tmp_path / "gone.tar.gz") == folder
    assert (folder / "model" / "model.bin").is_file() and (folder / "sentencepiece.model").is_file()


@pytest.mark.slow
def test_chinese_becomes_english_in_order_and_other_text_stays(translator: Translator) -> None:
    texts = [
        "基隆市是台湾北部的一个港口城市。",
        "Mozilla Firefox introduced Live Bookmarks.",
        "他一九八五年去日本留学，后来在东京大学研究海洋生物。",
        "",
    ]
    port, as_is, study, empty = translator.translate(texts)
    assert "port" in port.lower() and "taiwan" in port.lower()
    assert as_is == texts[1] and empty == ""
    assert "japan" in study.lower() and "tokyo" in study.lower()
    assert not CJK.search(port + study)


@pytest.mark.slow
def test_a_paragraph_keeps_every_sentence(translator: Translator) -> None:
    paragraph = "北京是中国的首都。上海是中国最大的城市。广州位于中国南部。"
    english = translator.translate([paragraph])[0].lower()
    assert all(city in english for city in ("beijing", "shanghai", "guangzhou"))


@pytest.mark.slow
def test_an_english_question_gets_its_answer_in_english(make_service, real_embedder) -> None:  # type: ignore[no-untyped-def]
    service: QAService = make_service(embedder=real_embedder)
    result = service.ask("Which two platforms were unveiled in Laoshan?", min_relevance=0)
    assert result.answer is not None and result.answer.translation
    assert CJK.search(result.answer.text) and not CJK.search(result.answer.translation)
    assert service.ask("崂山揭牌了哪两个平台？", min_relevance=0).answer.translation is None  # type: ignore[union-attr]


# ------------------------------------------------------------------ Chinese questions, English passages
MIXED = {
    "bookmarks.txt": "Mozilla Firefox introduced Live Bookmarks in 2004, which let users follow news feeds.",
    "taipei.txt": "臺北市是臺灣的首都，位於臺北盆地，人口約二百五十萬。",
    "feeds.txt": "新闻订阅功能让用户追踪网站更新，许多浏览器都提供这一功能。",
}


class DictTranslator:
    """The translator seam (``translate_one``) over a fixed table: for the wiring, not for what translation says."""

    def __init__(self, table: dict[str, str]) -> None:
        self.table, self.asked = table, []

    def translate_one(self, text: str) -> str | None:
        self.asked.append(text)
        return self.table.get(text)


def _mixed(make_service, **settings) -> QAService:  # type: ignore[no-untyped-def]
    service = make_service(**settings)
    for name, text in MIXED.items():
        service.put(name, text.encode())
    return service


def test_a_translated_chinese_question_finds_the_english_passage(make_service) -> None:  # type: ignore[no-untyped-def]
    question = "即时书签是由什么公司推出的？"
    service = _mixed(make_service, translate_questions=True)
    service.translator = DictTranslator({question: "Which company launched instant bookmarks?"})  # type: ignore[assignment]
    hits = service.search(question, 3, "lexical", min_relevance=0).results
    assert hits[0].doc_id == "bookmarks.txt"
    assert service.translator.asked == [question]  # type: ignore[attr-defined]


def test_questions_are_translated_only_when_asked_for_and_useful(make_service, fake_embedder, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    off = _mixed(make_service, translate_questions=False)
    off.translator = DictTranslator({})  # type: ignore[assignment]
    off.search("即时书签是由什么公司推出的？", 3, "lexical")
    # the seed article alone: nothing in Latin letters to match
    on = seed_service(tmp_path / "seed-only", fake_embedder, translate_questions=True)
    on.translator = DictTranslator({})  # type: ignore[assignment]
    on.search("哪两个平台揭牌？", 3, "lexical")
    on.search("Which platforms were unveiled?", 3, "lexical")
    assert (off.translator.asked, on.translator.asked) == ([], [])  # type: ignore[attr-defined]


@pytest.mark.slow
def test_the_real_model_carries_a_chinese_question_to_an_english_passage(make_service, real_embedder, tmp_path) -> None:  # type: ignore[no-untyped-def]
    question = "即时书签是由什么公司推出的？"  # over the long Chinese seed article, whose every passage says 公司

    def ranked(**settings: object) -> list[str]:
        service = seed_service(tmp_path / str(settings), real_embedder, **settings)
        for name, text in MIXED.items():
            service.put(name, text.encode())
        return [h.doc_id for h in service.search(question, 5, "hybrid", min_relevance=0).results]

    assert "bookmarks.txt" not in ranked(translate_questions=False)
    assert "bookmarks.txt" in ranked(translate_questions=True)[:2]


@pytest.mark.slow
def test_a_text_translated_again_comes_from_memory() -> None:
    lazy = LazyTranslator(Settings())
    first = lazy.translate_one("基隆市是台湾北部的一个港口城市。")
    model, calls = lazy.get(), []
    assert model is not None
    real = model.translate
    model.translate = lambda texts: calls.append(list(texts)) or real(texts)  # type: ignore[method-assign]
    assert lazy.translate_one("基隆市是台湾北部的一个港口城市。") == first and calls == []
    assert lazy.translate_one("台北") and calls == [["台北"]]
