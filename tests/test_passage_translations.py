"""The English channel's data: translations kept by text, caught up in the background, searched in English.

A table stands in for the translation model and the counting embedder for e5:
what is tested here is what is translated, when, and what is kept, not what
translation says (tests/test_translation.py has the real model).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from qa.search.translated import EnglishView
from qa.translate.passages import Backfill, Translations

PASSAGES = [
    "臺北市是臺灣的首都，位於臺北盆地。",
    "即时书签是火狐浏览器推出的功能。",
    "Mozilla Firefox is a web browser.",  # already English: nothing to translate
]
ENGLISH = {
    PASSAGES[0]: "Taipei is the capital of Taiwan, in the Taipei basin.",
    PASSAGES[1]: "Live bookmarks are a feature launched by the Firefox browser.",
}


class TableTranslator:
    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def __call__(self, texts: list[str]) -> list[str]:
        self.calls.append(list(texts))
        return [ENGLISH[t] for t in texts]


def _caught_up(backfill: Backfill, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while (p := backfill.progress()).translated < p.passages or p.running:
        assert time.monotonic() < deadline, p
        time.sleep(0.01)


def test_the_backfill_translates_each_chinese_passage_once_and_keeps_it(tmp_path: Path) -> None:
    translate = TableTranslator()
    backfill = Backfill(Translations(tmp_path), translate, lambda: PASSAGES, batch=1)
    assert backfill.progress().translated == 0 and backfill.progress().passages == 2
    backfill.start()
    _caught_up(backfill)
    backfill.stop()
    assert sorted(translate.calls) == sorted([[PASSAGES[0]], [PASSAGES[1]]])  # one batch each, the English one never
    # a restart reads them back and translates nothing again
    again = TableTranslator()
    reopened = Backfill(Translations(tmp_path), again, lambda: PASSAGES)
    reopened.start()
    _caught_up(reopened)
    reopened.stop()
    assert again.calls == [] and Translations(tmp_path).get(PASSAGES[1]) == ENGLISH[PASSAGES[1]]


def test_a_line_cut_short_by_a_crash_is_translated_again(tmp_path: Path) -> None:
    Translations(tmp_path).add([(PASSAGES[0], ENGLISH[PASSAGES[0]])])
    with (tmp_path / "en.jsonl").open("a", encoding="utf-8") as fh:
        fh.write('{"key": "abc", "en": "Live book')
    store = Translations(tmp_path)
    assert len(store) == 1 and store.get(PASSAGES[1]) is None


def test_the_english_view_ranks_passages_by_their_translation(tmp_path: Path) -> None:
    store = Translations(tmp_path)
    store.add(list(ENGLISH.items()))

    def encode(texts: list[str]) -> np.ndarray:
        return np.ones((len(texts), 4), np.float32) / 2

    view = EnglishView([*PASSAGES, "没有翻译的段落。"], store.get, encode)
    bm, cos = view.scores("Which browser launched live bookmarks?", np.ones(4, np.float32) / 2)
    assert int(np.argmax(bm)) == 1 and bm[1] == 1.0
    assert bm[3] == 0.0 and cos[3] == 0.0  # no English yet: not in the channel
    assert view.rows.tolist() == [True, True, True, False]
