"""Hostile files made by the real tools (python-docx, reportlab, pypdf), for the tests of the second hostile pass."""

from __future__ import annotations

import io
import re
import zipfile


def docx(text: str = "An ordinary Word document about harbour cranes.") -> bytes:
    import docx as python_docx

    document = python_docx.Document()
    document.add_paragraph(text)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def _replace_body(data: bytes, xml: bytes) -> bytes:
    src, out = zipfile.ZipFile(io.BytesIO(data)), io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info, xml if info.filename == "word/document.xml" else src.read(info))
    return out.getvalue()


def malformed_docx(kind: str) -> bytes:
    """A real .docx whose main part is hostile XML: ``laughs`` (entity expansion) or ``deep`` (nesting past 256)."""
    good = docx()
    body = zipfile.ZipFile(io.BytesIO(good)).read("word/document.xml")
    if kind == "laughs":
        entities = '<!ENTITY l0 "lol">' + "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))
        head, _, rest = body.partition(b"?>")
        xml = head + b"?>" + f"<!DOCTYPE w:document [{entities}]>".encode() + rest
        return _replace_body(good, xml.replace(b"harbour cranes", b"&l9;"))
    depth = 300
    nested = b"<w:p>" * depth + b"<w:r><w:t>deep</w:t></w:r>" + b"</w:p>" * depth
    return _replace_body(good, re.sub(rb"<w:body>", b"<w:body>" + nested, body, count=1))


def pdf(text: str) -> bytes:
    from reportlab.pdfgen import canvas

    out = io.BytesIO()
    page = canvas.Canvas(out)
    page.drawString(72, 720, text)
    page.save()
    return out.getvalue()


def slow_pdf(pages: int = 1000, draws: int = 400) -> bytes:
    """A small PDF whose ``pages`` pages all show one heavy content stream: a few KB that take minutes to read."""
    from pypdf import PdfReader, PdfWriter

    out = io.BytesIO()
    from reportlab.pdfgen import canvas

    page = canvas.Canvas(out)
    for i in range(draws):
        page.drawString(20 + (i % 7) * 70, 20 + (i % 50) * 15, f"slow {i}")
    page.save()
    writer = PdfWriter()
    first = writer.add_page(PdfReader(io.BytesIO(out.getvalue())).pages[0])
    for _ in range(pages - 1):
        writer.add_page(first)  # the same page object: its content stream is stored once
    data = io.BytesIO()
    writer.write(data)
    return data.getvalue()
