from itertools import pairwise
from pathlib import Path

from qa.config import ChunkParams
from qa.index.chunking import chunk_document, embedding_windows, merge_short, paragraphs, windows
from qa.ingest.folder import read_folder
from qa.ingest.formats import decode

from conftest import SEED

PARAMS = ChunkParams(size=200, overlap=60, min_paragraph=40, window=100, window_overlap=30)


def _assert_round_trip(text: str, params: ChunkParams = PARAMS) -> list:
    chunks = chunk_document("d.txt", text, params)
    for c in chunks:
        assert text[c.start : c.end] == c.text
        assert c.text == c.text.strip()
    return chunks


def test_seed_offsets_round_trip_and_cover_every_paragraph() -> None:
    text = SEED.read_text(encoding="utf-8")
    chunks = _assert_round_trip(text)
    covered = set()
    for c in chunks:
        covered.update(range(c.start, c.end))
    for a, b in paragraphs(text):
        assert set(range(a, b)) <= covered, text[a:b]
    assert all(len(c.text) <= PARAMS.size + PARAMS.min_paragraph * 3 for c in chunks)


def test_headline_merges_into_the_following_paragraph() -> None:
    body = "这是一个足够长的正文段落,它描述了很多事情。" * 3
    text = f"园区建设提速\n\n{body}\n\n■图片说明"
    chunks = _assert_round_trip(text)
    assert len(chunks) == 1
    assert chunks[0].text.startswith("园区建设提速") and chunks[0].text.endswith("■图片说明")


def test_merge_short_keeps_long_paragraphs_apart() -> None:
    assert merge_short([(0, 50), (52, 100)], 40) == [(0, 50), (52, 100)]
    assert merge_short([(0, 10), (12, 100)], 40) == [(0, 100)]
    assert merge_short([(0, 10)], 40) == [(0, 10)]


def test_long_paragraph_splits_at_sentence_ends_with_overlap() -> None:
    sentence = "青岛市虚拟现实产业园规划总面积1969亩,发展硬件和软件。"
    text = sentence * 20
    chunks = _assert_round_trip(text)
    assert len(chunks) > 1
    for c in chunks:
        assert len(c.text) <= PARAMS.size
        assert c.text.endswith("。")
    assert any(b.start < a.end for a, b in pairwise(chunks)), "windows should overlap"


def test_latin_sentences_split_on_period_space() -> None:
    text = " ".join(f"Sentence number {i} talks about the park." for i in range(30))
    for a, b in windows(text, (0, len(text)), 200, 60):
        assert text[a:b].endswith(".")


def test_a_sentence_longer_than_a_window_is_cut_hard() -> None:
    text = "字" * 1000
    chunks = _assert_round_trip(text)
    assert max(len(c.text) for c in chunks) == PARAMS.size
    assert chunks[-1].end == 1000


def test_whitespace_inside_chinese_text_is_kept() -> None:
    text = "国家新一代人工智能开源开放平台 OpenI 青岛运营中心揭牌,项目在深圳签约,这是一段足够长的文字。"
    (chunk,) = _assert_round_trip(text)
    assert " OpenI " in chunk.text


def test_crlf_and_bom(tmp_path: Path) -> None:
    raw = (
        "\ufeff第一段标题\r\n\r\n"
        + "正文内容很长,足够成为一个段落,不会被合并到别处去。" * 2
        + "\r\n\r\n第二段"
        + "也很长的内容。" * 6
    )
    (tmp_path / "a.txt").write_bytes(raw.encode("utf-8"))
    (doc,) = read_folder(tmp_path)
    assert not doc.text.startswith("\ufeff")
    chunks = _assert_round_trip(doc.text)
    assert all("\r" not in c.text[:1] + c.text[-1:] for c in chunks)
    assert decode(raw.encode("utf-8")) == doc.text


def test_invalid_utf8_is_skipped_with_a_warning(tmp_path: Path, caplog) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "good.md").write_text("好的文档。", encoding="utf-8")
    (tmp_path / "bad.txt").write_bytes("坏的".encode("gbk"))
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "deep.txt").write_text("子目录里的文档。", encoding="utf-8")
    (tmp_path / "ignored.pdf").write_bytes(b"%PDF")
    docs = read_folder(tmp_path)
    assert [d.doc_id for d in docs] == ["good.md", "sub/deep.txt"]
    assert "bad.txt" in caplog.text


def test_chunk_ids_are_stable_and_unique() -> None:
    text = ("重复的段落内容,长度足够单独成为一个块,不会被合并。" * 2 + "\n\n") * 3
    chunks = _assert_round_trip(text)
    ids = [c.chunk_id for c in chunks]
    assert len(set(ids)) == len(ids) == 3
    assert ids == [c.chunk_id for c in chunk_document("d.txt", text, PARAMS)]


def test_embedding_windows_cover_the_chunk() -> None:
    text = "".join(f"青岛市虚拟现实产业园规划总面积{1969 + i}亩,发展硬件和软件。" for i in range(12))
    (chunk,) = chunk_document("d.txt", text, ChunkParams(size=1000, overlap=150, window=100, window_overlap=30))
    wins = embedding_windows(chunk, ChunkParams(size=1000, overlap=150, window=100, window_overlap=30))
    assert len(wins) > 1 and all(len(w) <= 100 and w in chunk.text for w in wins)
    assert all(f"{1969 + i}亩" in "".join(wins) for i in range(12))


def test_a_repeated_window_is_embedded_once() -> None:
    """Issue 25: 5 MB of one phrase made vectors 30 times the upload; a chunk scores as its best window anyway."""
    params = ChunkParams(size=1000, overlap=150, window=100, window_overlap=30)
    (chunk,) = chunk_document("d.txt", "青岛市虚拟现实产业园规划总面积1969亩,发展硬件和软件。" * 12, params)
    wins = embedding_windows(chunk, params)
    assert len(wins) == len(set(wins)) and "1969亩" in wins[0]
