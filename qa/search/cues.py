"""What kind of answer a question wants, and where things of that kind stand in a sentence.

A 多少/how-many question wants a number, 何时/when a date, 谁/who a person's
name, 哪里/where a place. In a sentence, numbers and dates are found by their
shape (digits or Chinese numerals with a unit; 年/月/日), names and places by
jieba's part-of-speech tags (``nr``, ``ns``). The answering model weighs a
sentence by whether it holds a thing of the wanted kind that the question does
not already name, and the answer's span is that thing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from qa.index.lexical import CJK, fold

Kind = Literal["number", "date", "person", "place"]
KINDS: tuple[Kind, ...] = ("number", "date", "person", "place")

# Checked in this order: "哪一年" is a date before "几" makes it a number.
_ASKS_ZH: tuple[tuple[Kind, re.Pattern[str]], ...] = (
    (
        "date",
        re.compile(r"哪一?年|何年|哪个?年代|何时|什么时[候间]|哪一?天|几月|几号|何日|哪个?月份?|日期|年份|哪个?世纪"),
    ),
    ("person", re.compile(r"谁|哪一?位|何人|什么人|哪些人|哪个人")),
    (
        "place",
        re.compile(r"哪里|哪儿|何处|何地|在哪|哪一?[个座所]?(?:国家?|城市?|省份?|州|地[区方]|县|岛|洲|大陆|村|镇)"),
    ),
    ("number", re.compile(r"多少|几|多[大高长重远深宽久厚]|数量|人数|比例|百分之|面积|人口|票数|排名第")),
)
_ASKS_EN: tuple[tuple[Kind, re.Pattern[str]], ...] = (
    (
        "date",
        re.compile(
            r"\bwhen\b|\b(?:what|which|in what|in which) (?:year|date|day|month|century|decade|era|season)\b",
            re.I,
        ),
    ),
    ("person", re.compile(r"\bwho(?:m|se)?\b|\bwhich (?:person|man|woman|king|emperor|artist|writer|author)\b", re.I)),
    (
        "place",
        re.compile(
            r"\bwhere\b|\b(?:what|which|in what|in which) (?:country|city|province|place|state|island|region|"
            r"town|county|continent|village|area)\b",
            re.I,
        ),
    ),
    (
        "number",
        re.compile(
            r"\bhow (?:many|much|long|large|big|tall|high|old|far|deep|wide|heavy|fast)\b|"
            r"\bwhat (?:percentage|proportion|number|amount|area|population|size|height|length|rank)\b",
            re.I,
        ),
    ),
)

_UNIT = (
    r"(?:平方公里|平方千米|平方米|公里|千米|厘米|毫米|米|英尺|英里|英寸|公顷|亩|公斤|千克|吨|克|元|美元|港元|英镑|欧元|日元|"
    r"人次|个月|小时|分钟|秒|周|天|岁|年|倍|个|位|名|种|项|次|座|家|条|层|人|部|首|场|届|章|卷|册|集|期|度|户|所|间|栋|"
    r"台|辆|艘|架|枚|只|头|匹|分|票|件|份|块|株|支|队|国|省|字|页|号|%|％)"
)
_DIGITS = r"\d+(?:[,，]\d{3})*(?:\.\d+)?"
_NUMERALS = r"[零〇一二两三四五六七八九十百千万亿]+"
_NUMBER = re.compile(
    rf"(?:约|近|超过|逾|共|达)?(?:{_DIGITS}|{_NUMERALS}(?={_UNIT}))(?:\s*[万亿千百]+)?(?:多|余)?\s*{_UNIT}?",
)
_DATE = re.compile(
    r"(?:公元前?)?(?:\d{1,4}|[零〇一二三四五六七八九]{2,4})年(?:代)?(?:\d{1,2}月)?(?:\d{1,2}[日号])?"
    r"(?:\s*[－—–~～至到-]\s*(?:\d{1,4}年(?:\d{1,2}月)?(?:\d{1,2}[日号])?|\d{1,2}月(?:\d{1,2}[日号])?|\d{1,2}[日号]))?"
    r"|\d{1,2}月(?:\d{1,2}[日号])?|\d{1,2}世纪(?:\d{1,2}0年代)?|(?:[一二三四五六七八九十]{1,3})世纪"
)
_TAG_KINDS: dict[str, Kind] = {"nr": "person", "nrfg": "person", "nrt": "person", "ns": "place"}


def asks_for(question: str) -> Kind | None:
    """The kind of answer ``question`` wants, when its wording says so."""
    if CJK.search(question):
        text, rules = fold(question), _ASKS_ZH
    else:
        text, rules = question, _ASKS_EN
    for kind, pattern in rules:
        if pattern.search(text):
            return kind
    return None


@dataclass(frozen=True)
class Mention:
    """A thing of one kind in a text, by offsets into it."""

    kind: Kind
    start: int
    end: int


@lru_cache(maxsize=4096)
def _tags(text: str) -> tuple[tuple[str, str, int], ...]:
    """(word, tag, start) of jieba's part-of-speech tagging of the folded text, offsets into ``text``."""
    import rjieba

    folded = fold(text)
    if len(folded) != len(text):  # folding changed the length: offsets would not map back
        return ()
    out, pos = [], 0
    for word, tag in rjieba.tag(folded):
        at = folded.find(word, pos)
        if at < 0:
            return ()
        out.append((word, tag, at))
        pos = at + len(word)
    return tuple(out)


def mentions(text: str) -> list[Mention]:
    """Numbers, dates, persons' names and places in ``text``; a date is not also counted as a number."""
    found = [Mention("date", m.start(), m.end()) for m in _DATE.finditer(text)]
    taken = [(m.start, m.end) for m in found]
    for m in _NUMBER.finditer(text):
        if m.end() > m.start() and not any(a < m.end() and m.start() < b for a, b in taken):
            found.append(Mention("number", m.start(), m.end()))
    runs: list[Mention] = []
    for word, tag, start in _tags(text):
        kind = _TAG_KINDS.get(tag)
        if kind is None or len(word) < 2:
            continue
        gap = text[runs[-1].end : start] if runs else None
        if runs and runs[-1].kind == kind and gap in ("", "·", "・"):  # 爱德华·肯尼迪, 浙江省嘉兴市: one name
            runs[-1] = Mention(kind, runs[-1].start, start + len(word))
        else:
            runs.append(Mention(kind, start, start + len(word)))
    return found + runs


def novel(found: list[Mention], text: str, question: str) -> list[Mention]:
    """The mentions the question does not already hold (a question names what it asks about, not its answer)."""
    q = fold(question)
    return [m for m in found if fold(text[m.start : m.end]).strip() not in q]
