"""The English channel's data: translations and their vectors kept by text, caught up in the background.

A table stands in for the translation model and the counting embedder for e5:
what is tested here is what is translated and encoded, when, and what is kept,
not what translation says (tests/test_translation.py and
tests/test_english_channel.py have the real model).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from qa.search.translated import WINDOW, EnglishView, encode_windows, english_windows, vectors_name
from qa.translate.passages import Backfill, Translations

from conftest import CountingEmbedder

PASSAGES = [
    "臺北市是臺灣的首都，位於臺北盆地。",
    "即时书签是火狐浏览器推出的功能。",
    "Mozilla Firefox is a web browser.",  # already English: encoded, never translated
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


def _backfill(folder: Path, translate: object, embedder: CountingEmbedder, texts: list[str], **kw: object) -> Backfill:
    return Backfill(Translations(folder, embedder.name), translate, embedder.encode_passages, lambda: texts, **kw)  # type: ignore[arg-type]


def _caught_up(backfill: Backfill, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while (p := backfill.progress()).translated < p.passages or p.running:
        assert time.monotonic() < deadline, p
        time.sleep(0.01)


def test_each_passage_is_translated_and_encoded_once_and_kept(tmp_path: Path) -> None:
    translate, embedder = TableTranslator(), CountingEmbedder()
    backfill = _backfill(tmp_path, translate, embedder, PASSAGES, batch=1)
    assert backfill.progress().translated == 0 and backfill.progress().passages == 3
    backfill.start()
    _caught_up(backfill)
    backfill.stop()
    assert sorted(translate.calls) == sorted([[PASSAGES[0]], [PASSAGES[1]]])  # one batch each, the English one never
    assert embedder.passages_embedded == 3  # the English of each, the English passage as it is
    # a restart reads them back, vectors included: nothing is translated or encoded again
    again, embedder2 = TableTranslator(), CountingEmbedder()
    reopened = _backfill(tmp_path, again, embedder2, PASSAGES)
    assert reopened.progress().translated == 3
    reopened.start()
    _caught_up(reopened)
    reopened.stop()
    assert again.calls == [] and embedder2.passages_embedded == 0
    kept = Translations(tmp_path, embedder.name).entry(PASSAGES[1])
    assert kept is not None and kept.english == ENGLISH[PASSAGES[1]]
    assert kept.vector is not None and np.allclose(kept.vector, embedder.encode_passages([ENGLISH[PASSAGES[1]]])[0])


def test_another_model_encodes_again_but_translates_nothing(tmp_path: Path) -> None:
    first = _backfill(tmp_path, TableTranslator(), CountingEmbedder(), PASSAGES)
    first.start()
    _caught_up(first)
    first.stop()

    class OtherModel(CountingEmbedder):
        name = "test:another-model"

    translate, other = TableTranslator(), OtherModel()
    backfill = _backfill(tmp_path, translate, other, PASSAGES)
    assert backfill.progress().translated == 0  # its vectors are not this model's
    backfill.start()
    _caught_up(backfill)
    backfill.stop()
    assert translate.calls == [] and other.passages_embedded == 3


def test_a_line_cut_short_by_a_crash_is_translated_again(tmp_path: Path) -> None:
    Translations(tmp_path, "m").add([(PASSAGES[0], ENGLISH[PASSAGES[0]], np.ones(4, np.float32))])
    with (tmp_path / "en.jsonl").open("a", encoding="utf-8") as fh:
        fh.write('{"key": "abc", "en": "Live book')
    store = Translations(tmp_path, "m")
    assert len(store) == 1 and store.get(PASSAGES[1]) is None
    entry = store.entry(PASSAGES[0])
    assert entry is not None and entry.vector is not None and entry.vector.tolist() == [1, 1, 1, 1]


def test_the_entries_of_removed_passages_are_forgotten_on_disk_too(tmp_path: Path) -> None:
    texts = list(PASSAGES)
    embedder = CountingEmbedder()
    backfill = _backfill(tmp_path, TableTranslator(), embedder, texts)
    backfill.start()
    _caught_up(backfill)
    texts.remove(PASSAGES[1])  # the document holding it was deleted
    backfill.wake()
    deadline = time.monotonic() + 10
    while len(backfill.store) != 2:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    backfill.stop()
    reread = Translations(tmp_path, embedder.name)
    assert len(reread) == 2 and reread.get(PASSAGES[1]) is None and reread.get(PASSAGES[0]) == ENGLISH[PASSAGES[0]]


def test_without_a_model_nothing_is_kept_and_progress_says_why(tmp_path: Path) -> None:
    backfill = _backfill(tmp_path, lambda texts: None, CountingEmbedder(), PASSAGES)
    backfill.start()
    deadline = time.monotonic() + 10
    while backfill.progress().error is None:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    backfill.stop()
    assert "install-translation" in (backfill.progress().error or "") and backfill.progress().translated == 0


def test_the_english_view_ranks_passages_by_their_translation(tmp_path: Path) -> None:
    store = Translations(tmp_path, "m")
    store.add([(t, e, np.ones(4, np.float32) / 2) for t, e in ENGLISH.items()])
    store.add([(PASSAGES[2], PASSAGES[2], np.ones(4, np.float32) / 2), ("只有译文的段落。", "Only English.", None)])

    def entry(text: str) -> tuple[str, np.ndarray | None] | None:
        e = store.entry(text)
        return (e.english, e.vector) if e is not None else None

    view = EnglishView([*PASSAGES, "没有翻译的段落。", "只有译文的段落。"], entry, 4)
    bm, cos = view.scores("Which browser launched live bookmarks?", np.ones(4, np.float32) / 2)
    assert int(np.argmax(bm)) == 1 and bm[1] == 1.0
    assert bm[3] == 0.0 and cos[3] == 0.0  # no English yet: not in the channel
    assert view.rows.tolist() == [True, True, True, False, False]  # English without its vector is not in it yet


def test_a_passage_scores_by_its_best_english_window_and_keeps_every_window(tmp_path: Path) -> None:
    long = " ".join(f"Sentence {i} is about nothing in particular at all." for i in range(30)) + " Bees make honey."
    cut = english_windows(long)
    assert len(cut) > 1 and all(len(w) <= WINDOW[0] for w in cut) and cut[-1].endswith("Bees make honey.")
    embedder = CountingEmbedder()
    vectors = encode_windows(embedder.encode_passages, [long, "Short."])
    assert [len(v) for v in vectors] == [len(cut), 1]
    store = Translations(tmp_path, vectors_name(embedder.name))
    store.add([("长段落。", long, vectors[0]), ("短段落。", "Short.", vectors[1])])
    reread = Translations(tmp_path, vectors_name(embedder.name)).entry("长段落。")
    assert reread is not None and reread.vector is not None and reread.vector.size == len(cut) * embedder.dim
    assert (
        Translations(tmp_path, embedder.name).entry("长段落。").vector is None
    )  # whole-passage vectors: encoded again

    def entry(text: str) -> tuple[str, np.ndarray | None] | None:
        e = store.entry(text)
        return (e.english, e.vector) if e is not None else None

    view = EnglishView(["长段落。", "短段落。"], entry, embedder.dim)
    _, cos = view.scores("honey", embedder.encode_queries([cut[-1]])[0])  # the hash embedder: equal text, cosine 1
    assert cos[0] == pytest.approx(1.0, abs=1e-5) and cos[1] < 0.99  # the window that says it, not the whole
