"""Split a document's text into retrievable chunks with exact character offsets.

Paragraphs (blank-line separated) are the unit of meaning and what a search
returns; headlines and photo captions are too short to stand alone and merge
into the paragraph after them; paragraphs longer than ``size`` become
overlapping pieces cut at sentence ends. Each chunk is embedded as smaller
sentence windows (``window`` chars), because a short window's embedding is
sharper than a whole paragraph's. Every chunk's text is exactly
``source[start:end]``, so nothing is invented or lost.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Protocol

from qa.config import ChunkParams

Span = tuple[int, int]

_BLANK_LINE = re.compile(r"\n[^\S\n]*\n")
# Chinese sentence ends (with closing quotes/brackets), Latin ". " / "! " / "? ",
# and single line breaks inside a paragraph.
_SENTENCE_END = re.compile(r"[。！？；!?]+[”’」』）)\"']*|\.(?=\s)|\n")


@dataclass(frozen=True)
class Chunk:
    chunk_id: str
    doc_id: str
    start: int
    end: int
    text: str
    page: int | None = None  # 1-based page of a PDF where the chunk starts
    section: str | None = None  # the nearest heading before it (DOCX, Markdown, HTML, PDF)


class Layout(Protocol):
    """Where a converted document's pages and headings are (qa.ingest.layout.Extracted has this shape)."""

    def page_at(self, offset: int) -> int | None: ...

    def section_at(self, offset: int) -> str | None: ...


def _trimmed(text: str, a: int, b: int) -> Span | None:
    seg = text[a:b]
    lead = len(seg) - len(seg.lstrip())
    trail = len(seg) - len(seg.rstrip())
    return (a + lead, b - trail) if b - a - lead - trail > 0 else None


def _split(text: str, a: int, b: int, boundary: re.Pattern[str], *, keep: bool) -> list[Span]:
    """Non-empty trimmed spans of text[a:b] cut at ``boundary`` matches; ``keep`` leaves the match on the left piece."""
    spans, pos = [], a
    for m in boundary.finditer(text, a, b):
        cut = m.end() if keep else m.start()
        if (span := _trimmed(text, pos, cut)) is not None:
            spans.append(span)
        pos = m.end()
    if (span := _trimmed(text, pos, b)) is not None:
        spans.append(span)
    return spans


def paragraphs(text: str) -> list[Span]:
    return _split(text, 0, len(text), _BLANK_LINE, keep=False)


def merge_short(spans: list[Span], min_chars: int) -> list[Span]:
    """Merge each paragraph shorter than ``min_chars`` into the next one (the last into the previous)."""
    out: list[Span] = []
    pending: int | None = None
    for a, b in spans:
        start = a if pending is None else pending
        if b - a < min_chars:
            pending = start
            continue
        out.append((start, b))
        pending = None
    if pending is not None:
        end = spans[-1][1]
        if out:
            out[-1] = (out[-1][0], end)
        else:
            out.append((pending, end))
    return out


def sentences(text: str, span: Span) -> list[Span]:
    """Sentence spans inside ``span``, trimmed, with offsets into ``text``."""
    return _split(text, span[0], span[1], _SENTENCE_END, keep=True)


def _sentences(text: str, span: Span, size: int, overlap: int) -> list[Span]:
    """Sentence spans; a sentence longer than ``size`` is cut into overlapping pieces."""
    out: list[Span] = []
    stride = max(1, size - overlap)
    for a, b in sentences(text, span):
        if b - a <= size:
            out.append((a, b))
            continue
        for s in range(a, b, stride):
            out.append((s, min(s + size, b)))
            if s + size >= b:
                break
    return out


def windows(text: str, span: Span, size: int, overlap: int) -> list[Span]:
    """Greedy windows of whole sentences up to ``size`` chars, each repeating up to ``overlap`` chars."""
    if span[1] - span[0] <= size:
        return [span]
    sents = _sentences(text, span, size, overlap)
    out: list[Span] = []
    i = 0
    while i < len(sents):
        start, j = sents[i][0], i + 1
        while j < len(sents) and sents[j][1] - start <= size:
            j += 1
        out.append((start, sents[j - 1][1]))
        if j >= len(sents):
            break
        k = j
        while k - 1 > i and sents[j - 1][1] - sents[k - 1][0] <= overlap:
            k -= 1
        i = k
    return out


def chunk_spans(text: str, params: ChunkParams) -> list[Span]:
    spans = merge_short(paragraphs(text), params.min_paragraph)
    return [w for span in spans for w in windows(text, span, params.size, params.overlap)]


def chunk_document(doc_id: str, text: str, params: ChunkParams, layout: Layout | None = None) -> list[Chunk]:
    """The document's chunks; with ``layout``, each carries the page and section it starts in."""
    chunks: list[Chunk] = []
    seen: dict[str, int] = {}
    for a, b in chunk_spans(text, params):
        body = text[a:b]
        digest = hashlib.sha256(body.encode("utf-8")).hexdigest()[:12]
        seen[digest] = seen.get(digest, 0) + 1
        suffix = "" if seen[digest] == 1 else f"-{seen[digest]}"
        page, section = (layout.page_at(a), layout.section_at(a)) if layout is not None else (None, None)
        chunks.append(Chunk(f"{doc_id}#{digest}{suffix}", doc_id, a, b, body, page, section))
    return chunks


def embedding_windows(chunk: Chunk, params: ChunkParams) -> list[str]:
    """The texts embedded for a chunk: sentence windows of ``params.window`` chars, each distinct one once.

    A chunk scores as its best window, so a repeated window adds nothing but
    its vector: 5 MB of one phrase stored 30 times its size in vectors.
    """
    spans = windows(chunk.text, (0, len(chunk.text)), params.window, params.window_overlap)
    return list(dict.fromkeys(chunk.text[a:b] for a, b in spans))
