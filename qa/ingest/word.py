"""Word (.docx) to text in reading order: paragraphs, headings, list items and table rows, with python-docx.

Headings are found by style (Heading 1-9, Title, and styles based on them,
whatever the display language) or by outline level, and become each
passage's ``section``. A table is read row by row, a row's cells joined by
" | ", each merged cell once (python-docx repeats a merged cell in every row
and column it spans) and nested tables in place.

A .docx is a zip, so before python-docx opens it every entry is inflated
with a running count: past :data:`MAX_INFLATED` bytes in all it is a
decompression bomb (413), whatever sizes its directory claims. A legacy
.doc, or a .docx encrypted with a password (both OLE files, not zips), a
zip that is not a Word document (415) and a damaged file (400) are refused.
"""

from __future__ import annotations

import io
import re
import zipfile
from typing import TYPE_CHECKING

from qa.errors import BadDocument, TooLarge, UnsupportedType
from qa.ingest.layout import Extracted, Writer

if TYPE_CHECKING:  # imported where it runs: only a Word document needs python-docx
    from docx.table import Table, _Cell
    from docx.text.paragraph import Paragraph

MAX_INFLATED = 200 * 2**20
MAX_ENTRIES = 5000
_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_HEADING = re.compile(r"^(?:heading|标题|標題|überschrift|titre|título)\s*(\d)$", re.IGNORECASE)
_MAIN_PART = "wordprocessingml.document.main+xml"


def _check_zip(doc_id: str, data: bytes) -> None:
    if data.startswith(_OLE):
        raise BadDocument(
            f"{doc_id} is a legacy .doc or a password-protected Word file; save it as an unprotected .docx"
        )
    if not data.startswith(b"PK\x03\x04"):
        raise UnsupportedType(f"{doc_id} is named .docx but is not a Word document")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = zf.infolist()
            if len(infos) > MAX_ENTRIES:
                raise TooLarge(f"{doc_id} holds {len(infos)} files; qa reads Word documents of up to {MAX_ENTRIES}")
            names = {i.filename for i in infos}
            if "[Content_Types].xml" not in names or _MAIN_PART not in zf.read("[Content_Types].xml").decode(
                "utf-8", "replace"
            ):
                raise UnsupportedType(f"{doc_id} is a zip file but not a Word document")
            inflated = 0
            for info in infos:
                with zf.open(info) as member:
                    while block := member.read(1 << 20):
                        inflated += len(block)
                        if inflated > MAX_INFLATED:
                            raise TooLarge(f"{doc_id} inflates to more than {MAX_INFLATED >> 20} MB (a zip bomb?)")
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError) as exc:
        raise BadDocument(f"{doc_id} is a damaged or truncated Word document ({exc})") from None


def _outline_level(paragraph: Paragraph) -> int | None:
    from docx.oxml.ns import qn

    owners = [paragraph._p.pPr]
    style = paragraph.style
    while style is not None:
        owners.append(style.element.find(qn("w:pPr")))
        style = style.base_style
    for ppr in owners:
        level = ppr.find(qn("w:outlineLvl")) if ppr is not None else None
        if level is not None:
            value = int(level.get(qn("w:val")))
            return None if value >= 9 else value + 1  # 9 is body text
    return None


def _is_heading(paragraph: Paragraph) -> bool:
    style = paragraph.style
    while style is not None:
        name = (style.name or "").strip()
        if _HEADING.match(name) or name.lower() == "title":
            return True
        style = style.base_style
    return _outline_level(paragraph) is not None


def _cell_text(cell: _Cell) -> str:
    from docx.text.paragraph import Paragraph

    parts = []
    for item in cell.iter_inner_content():
        if isinstance(item, Paragraph):
            if item.text.strip():
                parts.append(item.text.strip())
        else:
            parts += [row for row in _rows(item) if row]
    return " ".join(parts)


def _rows(table: Table) -> list[str]:
    """One line per row; a merged cell once in the whole table (python-docx hands it back for every slot)."""
    seen: set[object] = set()  # the cells' XML elements themselves: an id() could be reused once a proxy is gone
    out = []
    for row in table.rows:
        cells = []
        for cell in row.cells:
            if cell._tc in seen:
                continue
            seen.add(cell._tc)
            text = _cell_text(cell)
            if text:
                cells.append(text)
        out.append(" | ".join(cells))
    return out


def extract(doc_id: str, data: bytes) -> Extracted:
    _check_zip(doc_id, data)
    try:
        import docx
        from docx.text.paragraph import Paragraph

        document = docx.Document(io.BytesIO(data))
        out = Writer()
        for item in document.iter_inner_content():
            if isinstance(item, Paragraph):
                out.paragraph(item.text, heading=_is_heading(item), as_is=True)
            else:
                for row in _rows(item):
                    out.paragraph(row, as_is=True)
    except (KeyError, ValueError, AttributeError, TypeError, zipfile.BadZipFile) as exc:
        raise BadDocument(f"{doc_id} is not a readable Word document ({type(exc).__name__}: {exc})") from None
    return out.done(doc_id)
