"""HTML reduced to the text a reader sees, with paragraphs kept as blank-line-separated blocks.

Chunking splits on blank lines, so block elements (p, li, headings, table
rows, ...) must become paragraphs and inline elements must not break a
sentence. Parsing is BeautifulSoup over the standard library's parser, which
tolerates the broken markup real pages have.
"""

from __future__ import annotations

import re

from bs4 import BeautifulSoup, CData, Tag
from bs4.element import NavigableString, PageElement, PreformattedString

from qa.ingest.layout import Extracted, Writer

_INVISIBLE = {"script", "style", "noscript", "template", "svg", "iframe", "object", "head"}
_BLOCKS = frozenset(
    "address article aside blockquote caption dd details div dl dt fieldset figcaption figure footer form "
    "h1 h2 h3 h4 h5 h6 header hr li main nav ol p pre section summary table tbody td tfoot th thead tr ul".split()
)
_SPACES = re.compile(r"[^\S\n]+")
_BREAK = "\x00"  # paragraph marker while walking; NUL never survives decoding into text
_HEADING = "\x01"  # opens a heading's paragraph
_HEADINGS = frozenset("h1 h2 h3 h4 h5 h6".split())


def _walk(root: Tag, out: list[str]) -> None:
    """The text of ``root`` in document order, with a paragraph marker around every block element.

    Iterative, with an explicit stack: real pages nest thousands of tags
    deep, and a recursive walk would stop at Python's recursion limit.
    """
    stack: list[PageElement | str] = list(reversed(list(root.children)))
    while stack:
        node = stack.pop()
        if isinstance(node, str) and not isinstance(node, NavigableString):
            out.append(node)  # a marker pushed after a block's children
        elif isinstance(node, PreformattedString) and not isinstance(node, CData):
            continue  # comments, the doctype, processing instructions: not text a reader sees
        elif isinstance(node, NavigableString):
            out.append(str(node))
        elif isinstance(node, Tag):
            name = node.name.lower()
            if name in _INVISIBLE:
                continue
            if name == "br":
                out.append("\n")
                continue
            block = name in _BLOCKS
            if block:
                out.append(_BREAK + (_HEADING if name in _HEADINGS else ""))
                stack.append(_BREAK)
            stack.extend(reversed(list(node.children)))


def extract(markup: str) -> Extracted:
    """The visible text of ``markup``: the title first, then one paragraph per block, whitespace collapsed;
    h1-h6 are its headings."""
    soup = BeautifulSoup(markup, "html.parser")
    parts: list[str] = []
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    for tag in (soup.title, soup.head):
        if tag is not None:
            tag.decompose()
    if title:
        parts += [_BREAK + _HEADING, title, _BREAK]
    _walk(soup, parts)
    out = Writer()
    for block in "".join(parts).split(_BREAK):
        heading = block.startswith(_HEADING) or _HEADING in block[:1]
        block = block.replace(_HEADING, "")
        lines = [_SPACES.sub(" ", line).strip() for line in block.replace("\r", "").split("\n")]
        text = "\n".join(line for line in lines if line)
        if text:
            out.paragraph(text, heading=heading, as_is=True)
    return out.done("the page") if out.text else Extracted("")
