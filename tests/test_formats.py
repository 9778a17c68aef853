"""PDF and Word files as people have them, made by real tools (reportlab, pypdf, python-docx), read back exactly.

Every test checks the text qa indexes against what was written into the
file: paragraphs whole, no header or page number in them, pages and headings
where they were, offsets that index the text GET /documents returns.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from qa.api import create_app
from qa.ingest import formats, layout
from qa.service.core import QAService

HEADER = "内部资料 · 崂山区虚拟现实产业园年度报告"
CHAPTERS = {
    "第一章 园区概况": [
        "青岛市虚拟现实产业园是全市首个揭牌的新兴产业专业园区，规划总面积一千九百六十九亩，发展虚拟现实领域硬件、软件、"
        "内容制作等全产业链，打造全链条、全生态、全生命周期的产业体系，形成千亿级产业集群。园区坐落在崂山脚下，"
        "毗邻青岛国际创新园，交通便利，配套完善。",
        "截至今年年底，园区已集聚虚拟现实企业一百二十余家，其中规模以上企业三十八家，全年实现营业收入二百四十亿元，"
        "同比增长百分之二十六。园区还建成了公共技术服务平台、人才实训基地和产业投资基金，为企业提供全周期服务。",
    ],
    "第二章 人工智能计算中心": [
        "青岛人工智能计算中心于二月二十三日正式上线运营，一期算力达到一百PFLOPS，为全市人工智能企业、高校和科研院所"
        "提供普惠算力服务。中心采用自主可控的软硬件体系，已接入大模型训练、智能制造和智慧城市等应用场景六十余个。",
        "The centre also hosts an open multilingual benchmark suite, so that research groups can compare retrieval "
        "systems and question answering models on Chinese and English documents under the same conditions, "
        "including cross-lingual retrieval between the two languages.",
    ],
}


def _pdf(pages_break: bool = True) -> bytes:
    """A multi-page Chinese report: wrapped paragraphs, a running header, a page-number footer, headings."""
    from reportlab.lib.pagesizes import A5
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.platypus import PageBreak, Paragraph, SimpleDocTemplate, Spacer

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    body = ParagraphStyle("body", fontName="STSong-Light", fontSize=10, leading=15, firstLineIndent=20, wordWrap="CJK")
    title = ParagraphStyle("title", parent=body, fontSize=14, leading=20, firstLineIndent=0)

    def furniture(canvas, doc) -> None:  # type: ignore[no-untyped-def]
        canvas.setFont("STSong-Light", 8)
        canvas.drawString(40, A5[1] - 30, HEADER)
        canvas.drawCentredString(A5[0] / 2, 25, f"第 {doc.page} 页")

    story: list = []
    for k, (heading, paragraphs) in enumerate(CHAPTERS.items()):
        if k and pages_break:
            story.append(PageBreak())
        story += [Paragraph(heading, title), Spacer(1, 8)]
        for text in paragraphs:
            story += [Paragraph(text, body), Spacer(1, 8)]
    out = io.BytesIO()
    SimpleDocTemplate(out, pagesize=A5, topMargin=50, bottomMargin=50).build(
        story, onFirstPage=furniture, onLaterPages=furniture
    )
    return out.getvalue()


def _docx() -> bytes:
    import docx

    document = docx.Document()
    document.add_heading("园区年度报告", level=0)
    for heading, paragraphs in CHAPTERS.items():
        document.add_heading(heading, level=1)
        for text in paragraphs:
            document.add_paragraph(text)
    document.add_paragraph("第一项：完善基础设施", style="List Bullet")
    table = document.add_table(rows=3, cols=3)
    for r, row in enumerate(
        [["指标", "二〇二三年", "二〇二四年"], ["企业数", "96", "123"], ["营业收入（亿元）", "190", "240"]]
    ):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    merged = table.cell(2, 1).merge(table.cell(2, 2))
    merged.text = "240（合并单元格）"
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def _all_paragraphs() -> list[str]:
    return [text for paragraphs in CHAPTERS.values() for text in paragraphs]


# ------------------------------------------------------------------ PDF
def test_a_pdf_reads_back_as_its_paragraphs_without_header_or_page_numbers() -> None:
    extracted = formats.extract("report.pdf", _pdf())
    paragraphs = extracted.text.strip().split("\n\n")
    for written in _all_paragraphs():
        assert written in paragraphs, written[:30]  # whole: no line break, no space between CJK characters
    assert (
        HEADER not in extracted.text
        and "第 1 页" not in extracted.text
        and "页" not in extracted.text.split("\n\n")[-1]
    )
    assert "multilingual" in extracted.text and "multi- lingual" not in extracted.text
    assert len(extracted.pages) == 2
    second = extracted.text.index("第二章")
    assert extracted.page_at(second) == 2 and extracted.page_at(0) == 1


def test_a_paragraph_that_runs_over_a_page_break_stays_whole() -> None:
    from reportlab.lib.pagesizes import A7
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.platypus import Paragraph, SimpleDocTemplate

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    style = ParagraphStyle("b", fontName="STSong-Light", fontSize=9, leading=13, wordWrap="CJK")
    text = "".join(_all_paragraphs()[:2])
    out = io.BytesIO()
    SimpleDocTemplate(out, pagesize=A7).build([Paragraph(text, style)])
    extracted = formats.extract("long.pdf", out.getvalue())
    assert len(extracted.pages) >= 2 and extracted.text.strip() == text


@pytest.mark.parametrize(
    ("case", "status", "words"),
    [
        ("encrypted", 400, "encrypted"),
        ("scanned", 422, "OCR"),
        ("truncated", 400, "damaged"),
        ("not a pdf", 415, "not a PDF"),
    ],
)
def test_pdfs_qa_cannot_read_are_clear_4xx_and_nothing_is_written(
    make_service, case: str, status: int, words: str
) -> None:  # type: ignore[no-untyped-def]
    service = make_service()
    client = TestClient(create_app(service.settings, service=service))
    data = {
        "encrypted": _encrypted,
        "scanned": _scanned,
        "truncated": lambda: _pdf()[:3000],
        "not a pdf": lambda: b"plain text",
    }[case]()
    r = client.post("/documents", files={"file": ("bad.pdf", data)})
    assert r.status_code == status and words in r.json()["detail"], r.text
    assert not (service.settings.docs_dir / "bad.pdf").exists()


def _encrypted() -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(_pdf())))
    writer.encrypt(user_password="s3cret", owner_password="owner", algorithm="AES-256")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _scanned() -> bytes:
    from PIL import Image
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    picture = io.BytesIO()
    Image.new("L", (200, 120), 255).save(picture, "PNG")
    out = io.BytesIO()
    page = canvas.Canvas(out)
    page.drawImage(ImageReader(io.BytesIO(picture.getvalue())), 50, 500, 200, 120)
    page.save()
    return out.getvalue()


# ------------------------------------------------------------------ DOCX
def test_a_docx_reads_in_order_with_headings_lists_and_tables() -> None:
    extracted = formats.extract("report.docx", _docx())
    paragraphs = extracted.text.strip().split("\n\n")
    assert paragraphs[0] == "园区年度报告" and paragraphs[1] == "第一章 园区概况"
    assert [p for p in paragraphs if p in _all_paragraphs()] == _all_paragraphs()
    assert "第一项：完善基础设施" in paragraphs
    assert "指标 | 二〇二三年 | 二〇二四年" in paragraphs and "营业收入（亿元） | 240（合并单元格）" in paragraphs
    assert [h for _, _, h in extracted.headings] == ["园区年度报告", *CHAPTERS]
    ai = extracted.text.index("青岛人工智能计算中心")
    assert extracted.section_at(ai) == "第二章 人工智能计算中心" and extracted.page_at(ai) is None


@pytest.mark.slow
def test_docx_that_qa_cannot_read_are_clear_4xx(make_service) -> None:  # type: ignore[no-untyped-def]
    service = make_service()
    client = TestClient(create_app(service.settings, service=service))
    good = _docx()
    bomb = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(good)) as src, zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as out:
        for info in src.infolist():
            out.writestr(info, src.read(info))
        out.writestr("word/media/padding.bin", b"\0" * (300 * 2**20))  # 300 MB that deflate to a few hundred KB
    cases = {
        "bomb.docx": (bomb.getvalue(), 413, "inflates"),
        "cut.docx": (good[: len(good) // 2], 400, "damaged"),
        "odt.docx": (
            _zip({"mimetype": b"application/vnd.oasis.opendocument.text", "content.xml": b"<x/>"}),
            415,
            "not a Word",
        ),
        "old.docx": (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 512, 400, "password"),
        "text.docx": (b"just some text", 415, "not a Word"),
    }
    for name, (data, status, words) in cases.items():
        r = client.post("/documents", files={"file": (name, data)})
        assert r.status_code == status and words in r.json()["detail"], (name, r.text)
    assert [d["doc_id"] for d in client.get("/documents").json()["documents"]] == ["laoshan-vr-ai.txt"]


def _zip(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return out.getvalue()


# ------------------------------------------------------------------ through the service: citations and offsets
def test_uploaded_pdf_and_docx_cite_page_and_section_with_exact_offsets(make_service) -> None:  # type: ignore[no-untyped-def]
    service: QAService = make_service()
    client = TestClient(create_app(service.settings, service=service))
    for name, data in (("report.pdf", _pdf()), ("report.docx", _docx())):
        r = client.post("/documents", files={"file": (name, data)})
        assert r.status_code == 201, r.text
        assert (service.settings.docs_dir / name).read_bytes() == data  # the original stays in the docs folder
    for name in ("report.pdf", "report.docx"):
        text = client.get(f"/documents/{name}").json()["text"]
        hits = client.post(
            "/search",
            json={"query": "人工智能计算中心 上线 算力", "mode": "lexical", "top_k": 10, "filter": {"doc_id": name}},
        )
        top = hits.json()["results"][0]
        assert text[top["start"] : top["end"]] == top["text"] and "二月二十三日" in top["text"]
        if name.endswith(".pdf"):  # a PDF cites its page; its headings are plain lines to pypdf
            assert top["page"] == 2 and top["section"] is None
        else:
            assert top["section"] == "第二章 人工智能计算中心" and top["page"] is None
    dify = {
        "knowledge_id": "default",
        "query": "人工智能计算中心 算力",
        "retrieval_setting": {"top_k": 10, "score_threshold": 0},
    }
    records = {r["title"]: r for r in reversed(client.post("/retrieval", json=dify).json()["records"])}
    assert records["report.pdf"]["metadata"]["page"] == 2
    assert records["report.docx"]["metadata"]["section"] == "第二章 人工智能计算中心"


def test_the_folder_indexer_skips_a_bad_file_and_reads_the_rest(make_service, seed_docs: Path, caplog) -> None:  # type: ignore[no-untyped-def]
    (seed_docs / "report.pdf").write_bytes(_pdf())
    (seed_docs / "scan.pdf").write_bytes(_scanned())
    (seed_docs / "notes.md").write_text(
        "# 园区\n\n## 交通\n\n园区毗邻青岛国际创新园，交通便利，地铁十一号线直达。", encoding="utf-8"
    )
    service: QAService = make_service()
    assert set(service.index.manifest.documents) == {"laoshan-vr-ai.txt", "report.pdf", "notes.md"}
    assert any("scan.pdf" in r.message and "OCR" in r.message for r in caplog.records)
    hit = service.search("地铁十一号线", 1, "lexical").results[0]
    assert hit.doc_id == "notes.md" and hit.section == "交通"


def test_markdown_and_html_headings_are_sections() -> None:
    md = formats.extract("a.md", b"# Title\n\nIntro.\n\n## Parking\n\nThe car park opens at 7.\n")
    assert md.section_at(md.text.index("The car park")) == "Parking" and md.section_at(0) == "Title"
    page = formats.extract("a.html", b"<h1>News</h1><p>One.</p><h2>Tickets</h2><p>Free.</p>")
    assert page.section_at(page.text.index("Free.")) == "Tickets"
    assert layout.join_lines("multi-", "lingual") == "multilingual" and layout.join_lines("青岛", "市") == "青岛市"
