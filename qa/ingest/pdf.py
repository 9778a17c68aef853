"""PDF to clean text, page by page: paragraphs rejoined, running headers and page numbers dropped.

pypdf's layout mode (BSD licensed, pure Python) keeps what the page shows: a
blank line where there is vertical space, the indent of a paragraph's first
line, spaces between Latin words. From that, lines wrapped by the page are
joined back into paragraphs (no space between CJK characters, one between
Latin words, "multi-\\nlingual" made whole), and lines that repeat at the top
or bottom of most pages (digits ignored, so "第 3 页" and "Page 3 of 9"
repeat) are dropped. A paragraph that runs over a page break is kept whole.

Refused with a clear error: a file that is not a PDF (415), an encrypted one
(400), a damaged or truncated one (400), one with no text layer (422: scanned
pages need OCR), one that decompresses past pypdf's limits (413).
"""

from __future__ import annotations

import io
import logging
import re
from collections import Counter

from qa.errors import BadDocument, NoText, TooLarge, UnsupportedType
from qa.ingest.layout import Extracted, Writer, join_lines

MAGIC = b"%PDF-"
RUNNING_LINES = 3  # lines at the top and at the bottom of a page that may be a running header or footer
_END = re.compile(r"[。！？!?.…”」』）)\]：:;；]$")
_DIGITS = re.compile(r"\d+")
_SPACES = re.compile(r"[ \t\u00a0]+")
# A page number by itself ("3", "- 3 -", "第 3 页", "Page 3 of 9", "3 / 9"), digits already folded to #
_PAGE_NUMBER = re.compile(r"^[\W_]*(?:#|第#页|page#(?:of#)?|#/#|#of#)[\W_]*$", re.IGNORECASE)
logging.getLogger("pypdf").setLevel(logging.ERROR)  # it logs every repair it makes; a damaged file is our error


def looks_like(data: bytes) -> bool:
    """Viewers accept the header anywhere in the first kilobyte (PDF 1.7, annex H)."""
    return MAGIC in data[:1024]


def _pages(doc_id: str, data: bytes) -> list[list[str]]:
    from pypdf import PdfReader
    from pypdf.errors import FileNotDecryptedError, LimitReachedError, PdfReadError, PyPdfError

    if not looks_like(data):
        raise UnsupportedType(f"{doc_id} is named .pdf but is not a PDF file")
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted and not reader.decrypt(""):
            raise BadDocument(f"{doc_id} is an encrypted PDF; qa cannot read it without its password")
        pages = []
        for page in reader.pages:
            text = page.extract_text(extraction_mode="layout", layout_mode_space_vertically=True)
            pages.append([line.rstrip() for line in text.splitlines()])
    except (FileNotDecryptedError, BadDocument) as exc:
        raise BadDocument(f"{doc_id} is an encrypted PDF; qa cannot read it without its password") from exc
    except LimitReachedError:
        raise TooLarge(f"{doc_id} decompresses to more than qa reads from one PDF") from None
    except (
        PdfReadError,
        PyPdfError,
        ValueError,
        KeyError,
        TypeError,
        AttributeError,
        IndexError,
        ZeroDivisionError,
    ) as exc:
        raise BadDocument(f"{doc_id} is a damaged or truncated PDF ({type(exc).__name__}: {exc})") from None
    if not any(line.strip() for page in pages for line in page):
        raise NoText(f"{doc_id} has no extractable text (scanned pages need OCR first)")
    return pages


def _key(line: str) -> str:
    return _DIGITS.sub("#", _SPACES.sub("", line))


def _running(pages: list[list[str]]) -> set[str]:
    """Lines (digits folded) that open or close at least half of the pages: headers, footers, page numbers."""
    if len(pages) < 2:
        return set()
    seen: Counter[str] = Counter()
    for lines in pages:
        body = [line for line in lines if line.strip()]
        seen.update({_key(line) for line in body[:RUNNING_LINES] + body[-RUNNING_LINES:]})
    return {k for k, n in seen.items() if n >= max(2, len(pages) / 2) and len(k) <= 80}


def _furniture(line: str, running: set[str]) -> bool:
    key = _key(line)
    return key in running or bool(_PAGE_NUMBER.match(key))


def _line_gap(pages: list[list[str]]) -> int:
    """The blank lines layout mode leaves between two lines of one paragraph (the commonest run in the file)."""
    runs: Counter[int] = Counter()
    for lines in pages:
        run, seen_text = 0, False
        for line in lines:
            if line.strip():
                if seen_text:
                    runs[run] += 1
                run, seen_text = 0, True
            else:
                run += 1
    return runs.most_common(1)[0][0] if runs else 0


def _paragraphs(lines: list[str], running: set[str], gap: int) -> list[tuple[str, bool]]:
    """(paragraph, opens with an indent) of one page, running headers, footers and page numbers left out.

    A paragraph ends at more vertical space than between its own lines,
    where the next line is indented past the page's usual margin, or where
    lines start left of that margin (a heading, a label) or return to it.
    """
    body = [k for k, line in enumerate(lines) if line.strip()]
    edge = set(body[:RUNNING_LINES] + body[-RUNNING_LINES:])
    kept = ["" if (k in edge and _furniture(line, running)) else line for k, line in enumerate(lines)]
    indents = Counter(len(line) - len(line.lstrip()) for line in kept if line.strip())
    margin = indents.most_common(1)[0][0] if indents else 0  # where the page's body lines start
    out: list[tuple[str, bool]] = []
    current, indented, blank, outdented = "", False, 0, False
    for line in kept:
        if not line.strip():
            blank += 1
            continue
        shift = len(line) - len(line.lstrip()) - margin
        indent = shift >= 2
        text = _SPACES.sub(" ", line.strip())
        if current and (indent or blank > gap or (shift < 0) != outdented):
            out.append((current, indented))
            current = ""
        if not current:
            current, indented = text, indent
        else:
            current = join_lines(current, text)
        blank, outdented = 0, shift < 0
    if current:
        out.append((current, indented))
    return out


def extract(doc_id: str, data: bytes) -> Extracted:
    pages = _pages(doc_id, data)
    running, gap = _running(pages), _line_gap(pages)
    out = Writer()
    for lines in pages:
        out.new_page()
        for k, (paragraph, indented) in enumerate(_paragraphs(lines, running, gap)):
            continues = k == 0 and out.text and not indented and not _END.search(out.last)
            out.continue_paragraph(paragraph) if continues else out.paragraph(paragraph)
    return out.done(doc_id)
