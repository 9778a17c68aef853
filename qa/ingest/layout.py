"""What a converter returns, and how converted paragraphs become one text with page and heading positions.

Every converter hands back an :class:`Extracted`: the text that is chunked,
searched and returned by ``GET /documents/{id}`` (offsets index it), where each
page starts in it (PDF), and where each heading stands (DOCX, Markdown, HTML),
so a passage can be cited as "p. 3, 第二章".
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass

from qa.errors import NoText

CJK_CLASS = (
    "\u2e80-\u2fff\u3000-\u303f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef\U00020000-\U0002ffff"
)
_CJK_EDGE = re.compile(f"[{CJK_CLASS}]")
_GAP_IN_CJK = re.compile(f"(?<=[{CJK_CLASS}])[ \\t\\u00a0]+(?=[{CJK_CLASS}])")
_SPACES = re.compile(r"[ \t\u00a0]+")


@dataclass(frozen=True)
class Extracted:
    text: str
    pages: tuple[int, ...] = ()  # offset at which page i + 1 starts (an empty page: where the next one does)
    headings: tuple[tuple[int, int, str], ...] = ()  # (start, end, heading), in order

    def page_at(self, offset: int) -> int | None:
        """The 1-based page the character at ``offset`` is on; None for documents without pages."""
        return bisect_right(self.pages, offset) if self.pages else None

    def section_at(self, offset: int) -> str | None:
        """The heading a passage starting at ``offset`` stands under.

        That is the nearest heading before it, or, when the passage opens with
        headings (short headlines merge into the paragraph after them), the
        last of those: "# Park" then "## Parking" then text is under Parking.
        """
        k = bisect_right([h[0] for h in self.headings], offset)
        if k and self.headings[k - 1][0] == offset:  # it opens with a heading: follow the run of headings
            at, k = offset, k - 1
            while k < len(self.headings) and self.headings[k][0] <= at:
                at = self.headings[k][1]
                while at < len(self.text) and self.text[at].isspace():
                    at += 1
                k += 1
        return self.headings[k - 1][2] if k else None


def clean(text: str) -> str:
    """One line of prose: runs of spaces made one, none left between two CJK characters."""
    return _GAP_IN_CJK.sub("", _SPACES.sub(" ", text.strip()))


def join_lines(a: str, b: str) -> str:
    """Two lines a page wrapped, made one: no space at a CJK edge, a Latin word's end-of-line hyphen undone."""
    if len(a) > 1 and a.endswith("-") and a[-2].isalpha() and b[:1].islower():
        return a[:-1] + b
    if _CJK_EDGE.match(a[-1:]) or _CJK_EDGE.match(b[:1]):
        return a + b
    return a + " " + b


class Writer:
    """Paragraphs in, one text out (blank line between paragraphs), with page starts and headings recorded."""

    def __init__(self) -> None:
        self._done: list[str] = []
        self._length = 0  # of "\n\n".join(self._done)
        self._current = ""
        self._current_marks: list[int] = []  # page starts inside the current paragraph
        self._current_heading = False
        self._waiting_pages = 0  # pages begun whose first text has not come yet
        self.pages: list[int] = []
        self.headings: list[tuple[int, int, str]] = []

    @property
    def text(self) -> bool:
        """Whether anything has been written yet."""
        return bool(self._done or self._current)

    @property
    def last(self) -> str:
        return self._current

    def new_page(self) -> None:
        self._waiting_pages += 1

    def _mark_pages(self, at: int) -> None:
        self._current_marks += [at] * self._waiting_pages
        self._waiting_pages = 0

    def _flush(self) -> None:
        if not self._current:
            return
        start = self._length + (2 if self._done else 0)
        self.pages += [start + m for m in self._current_marks]
        if self._current_heading:
            self.headings.append((start, start + len(self._current), self._current))
        self._done.append(self._current)
        self._length = start + len(self._current)
        self._current, self._current_marks, self._current_heading = "", [], False

    def paragraph(self, text: str, *, heading: bool = False, as_is: bool = False) -> None:
        """A new paragraph; ``as_is`` keeps its spacing (text that was not laid out on a page)."""
        text = text.strip() if as_is else clean(text)
        if not text:
            return
        self._flush()
        self._mark_pages(0)
        self._current, self._current_heading = text, heading

    def continue_paragraph(self, text: str) -> None:
        """More of the paragraph before, after a page break."""
        text = clean(text)
        if not text:
            return
        if not self._current:
            self.paragraph(text)
            return
        joined = join_lines(self._current, text)
        self._mark_pages(len(joined) - len(text))
        self._current = joined

    def done(self, doc_id: str) -> Extracted:
        self._flush()
        if not self._done:
            raise NoText(f"{doc_id} has no text to index")
        self.pages += [self._length] * self._waiting_pages
        return Extracted("\n\n".join(self._done) + "\n", tuple(self.pages), tuple(self.headings))
