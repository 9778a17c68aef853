"""The bridge index: what lets a question written in Latin letters meet a passage written in Chinese characters.

A second BM25 beside the lexical one, over tokens no Chinese question
produces, so Chinese ranking is untouched:

- ``py:<two syllables>``: the pinyin of every two neighbouring characters, so
  "Zhang Shichang" (zhang·shi, shi·chang) meets 张世昌 without a dictionary of
  names. Characters with two common readings (曾 zeng/ceng, 单 shan/dan) give
  both, since surnames are where the dictionary reading is most often wrong.
- ``c:<character>``: every single character, for the one-character words a
  dictionary translation often is (海 sea, 岛 island) and which the lexical
  index only has where jieba happened to cut them alone.

Both are taken from the folded (simplified) text; pinyin is lower-case with ü as v.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache
from itertools import pairwise

from qa.index.lexical import CJK, fold

PINYIN = "py:"
CHAR = "c:"


@lru_cache(maxsize=65536)
def readings(ch: str) -> tuple[str, ...]:
    """The (at most two) commonest toneless readings of a character, from pypinyin's table; () when it has none."""
    from pypinyin.constants import PINYIN_DICT

    found = PINYIN_DICT.get(ord(ch), "")
    out: list[str] = []
    for marked in found.split(","):
        plain = "".join(c for c in unicodedata.normalize("NFKD", marked) if c.isascii() and c.isalpha())
        plain = plain.replace("u\u0308", "v")
        if "ü" in marked or "ǖ" in marked or "ǘ" in marked or "ǚ" in marked or "ǜ" in marked:
            plain = plain.replace("u", "v")
        if plain and plain not in out:
            out.append(plain)
    return tuple(out[:2])


def neighbours(text: str) -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
    """The readings of every two neighbouring Chinese characters of ``text`` (folded to simplified)."""
    return [pair for run in CJK.findall(fold(text)) for pair in pairwise(readings(ch) for ch in run)]


def tokens(text: str) -> list[str]:
    out: list[str] = []
    for run in CJK.findall(fold(text)):
        out += [CHAR + ch for ch in run]
    for a, b in neighbours(text):
        out += [PINYIN + x + y for x in a for y in b]
    return out


@lru_cache(maxsize=1)
def _inventory() -> frozenset[str]:
    """Every toneless syllable a character can be read as."""
    from pypinyin.constants import PINYIN_DICT

    interjections = {"m", "n", "ng", "hm", "hng", "r"}  # would let any English word parse as pinyin
    return frozenset(r for cp in PINYIN_DICT for r in readings(chr(cp))) - interjections


def split_syllables(word: str) -> list[str] | None:
    """A Latin word as pinyin syllables (fewest pieces: "shichang" -> shi chang), or None if it is not pinyin."""
    parts = word.lower().replace("ü", "v").replace("-", "'").split("'")  # Xi'an, Jong-un: the mark is a boundary
    if len(parts) > 1:
        syllables: list[str] = []
        for part in (split_syllables(p) for p in parts if p):
            if part is None:
                return None
            syllables += part
        return syllables
    w = parts[0]
    if not w.isascii() or not w.isalpha():
        return None
    inventory = _inventory()
    best: list[list[str] | None] = [None] * (len(w) + 1)
    best[0] = []
    for i in range(len(w)):
        here = best[i]
        if here is None:
            continue
        for j in range(i + 1, min(len(w), i + 6) + 1):
            piece, there = w[i:j], best[j]
            if piece in inventory and (there is None or len(there) > len(here) + 1):
                best[j] = [*here, piece]
    return best[len(w)]
