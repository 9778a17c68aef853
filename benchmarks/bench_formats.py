"""Retrieval over the same eval documents as plain text, Word and PDF: does extraction lose anything?

Each CMRC / DRCD article becomes a .docx (python-docx: one paragraph per
paragraph) and a .pdf (reportlab: A5 pages, a CJK CID font, lines wrapped by
the page, a running header and page numbers), written into a docs folder of
its own; then `qa eval` scores each folder with the set's questions (their
`doc` renamed to the new suffix). A hit needs the answer string inside the
passage, so a line break or a page header left inside an answer is a miss.

    python benchmarks/bench_formats.py [--sets cmrc2018_dev,drcd_dev] [--formats txt,docx,pdf]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EVAL = ROOT.parent / "shared" / "eval"
OUT = ROOT / "benchmarks" / "results" / "formats"
FONTS = {"cmrc2018_dev": "STSong-Light", "drcd_dev": "MSung-Light"}  # simplified, traditional


def to_docx(paragraphs: list[str]) -> bytes:
    import docx

    document = docx.Document()
    for text in paragraphs:
        document.add_paragraph(text)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def to_pdf(paragraphs: list[str], font: str, title: str) -> bytes:
    from xml.sax.saxutils import escape

    from reportlab.lib.pagesizes import A5
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer

    pdfmetrics.registerFont(UnicodeCIDFont(font))
    body = ParagraphStyle("body", fontName=font, fontSize=10, leading=15, firstLineIndent=20, wordWrap="CJK")

    def furniture(canvas, doc) -> None:  # type: ignore[no-untyped-def]
        canvas.setFont(font, 8)
        canvas.drawString(40, A5[1] - 30, title)
        canvas.drawCentredString(A5[0] / 2, 25, f"- {doc.page} -")

    story: list = []
    for text in paragraphs:
        story += [Paragraph(escape(text), body), Spacer(1, 6)]
    out = io.BytesIO()
    SimpleDocTemplate(out, pagesize=A5, topMargin=50, bottomMargin=50).build(
        story, onFirstPage=furniture, onLaterPages=furniture
    )
    return out.getvalue()


def write_folder(name: str, fmt: str) -> tuple[Path, Path]:
    """The set's documents as ``fmt`` files, and its questions pointing at them."""
    folder = OUT / name / fmt / "docs"
    folder.mkdir(parents=True, exist_ok=True)
    for path in sorted((EVAL / name / "docs").glob("*.txt")):
        target = folder / path.with_suffix("." + fmt).name
        if target.exists():
            continue
        paragraphs = [p.strip() for p in path.read_text(encoding="utf-8").split("\n\n") if p.strip()]
        if fmt == "txt":
            data = path.read_bytes()
        elif fmt == "docx":
            data = to_docx(paragraphs)
        else:
            data = to_pdf(paragraphs, FONTS[name], f"{name} · {path.stem}")
        target.write_bytes(data)
    queries = OUT / name / fmt / "queries.jsonl"
    with (
        open(EVAL / name / "queries_public.jsonl", encoding="utf-8") as src,
        open(queries, "w", encoding="utf-8") as dst,
    ):
        for line in src:
            q = json.loads(line)
            q["doc"] = q["doc"].rsplit(".", 1)[0] + "." + fmt
            dst.write(json.dumps(q, ensure_ascii=False) + "\n")
    return folder, queries


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sets", default="cmrc2018_dev,drcd_dev")
    ap.add_argument("--formats", default="txt,docx,pdf")
    args = ap.parse_args()
    qa = str(Path(sys.executable).with_name("qa"))
    rows = []
    for name in args.sets.split(","):
        for fmt in args.formats.split(","):
            started = time.perf_counter()
            docs, queries = write_folder(name, fmt)
            made = time.perf_counter() - started
            index = OUT / name / fmt / "index"
            out = subprocess.run(
                [qa, "eval", "--docs", str(docs), "--queries", str(queries), "--index", str(index), "--json"],
                capture_output=True,
                text=True,
                check=True,
                env={**os.environ, "HF_HUB_OFFLINE": "1"},
            ).stdout
            result = json.loads(out.strip().splitlines()[-1])["hybrid"]
            rows.append((name, fmt, result, made))
            print(name, fmt, result, f"files made in {made:.0f} s", file=sys.stderr, flush=True)
    print("| set | format | R@1 | R@5 | MRR@10 |\n|---|---|---|---|---|")
    for name, fmt, r, _ in rows:
        print(f"| {name} | {fmt} | {r['R@1']:.4f} | {r['R@5']:.4f} | {r['MRR@10']:.4f} |")


if __name__ == "__main__":
    main()
