"""HTML reduced to the text a reader sees, with paragraphs kept as blank-line-separated blocks.

Chunking splits on blank lines, so block elements (p, li, headings, table
rows, ...) must become paragraphs and inline elements must not break a
sentence. Parsing is BeautifulSoup over the standard library's parser, which
tolerates the broken markup real pages have.
"""

from __future__ import annotations

import re

from bs4 import BeautifulSoup, Comment, NavigableString, Tag

_INVISIBLE = {"script", "style", "noscript", "template", "svg", "iframe", "object", "head"}
_BLOCKS = frozenset(
    "address article aside blockquote caption dd details div dl dt fieldset figcaption figure footer form "
    "h1 h2 h3 h4 h5 h6 header hr li main nav ol p pre section summary table tbody td tfoot th thead tr ul".split()
)
_SPACES = re.compile(r"[^\S\n]+")
_BREAK = "\x00"  # paragraph marker while walking; NUL never survives decoding into text


def _walk(node: Tag, out: list[str]) -> None:
    for child in node.children:
        if isinstance(child, Comment):
            continue
        if isinstance(child, NavigableString):
            out.append(str(child))
        elif isinstance(child, Tag):
            name = child.name.lower()
            if name in _INVISIBLE:
                continue
            if name == "br":
                out.append("\n")
                continue
            block = name in _BLOCKS
            if block:
                out.append(_BREAK)
            _walk(child, out)
            if block:
                out.append(_BREAK)


def to_text(markup: str) -> str:
    """The visible text of ``markup``: the title first, then one paragraph per block, whitespace collapsed."""
    soup = BeautifulSoup(markup, "html.parser")
    parts: list[str] = []
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    for tag in (soup.title, soup.head):
        if tag is not None:
            tag.decompose()
    if title:
        parts += [title, _BREAK]
    _walk(soup, parts)
    paragraphs = []
    for block in "".join(parts).split(_BREAK):
        lines = [_SPACES.sub(" ", line).strip() for line in block.replace("\r", "").split("\n")]
        text = "\n".join(line for line in lines if line)
        if text:
            paragraphs.append(text)
    return "\n\n".join(paragraphs) + ("\n" if paragraphs else "")
