"""A question in English, made searchable over Chinese passages without a translation model.

Its lexical side becomes *concepts*, each a set of alternative term
sequences scored as the best of them (so a word with four translations
counts once, not four times):

- dictionary phrases first, longest first ("Tang dynasty", "Sunset
  Boulevard"), then single words through their lemmas ("founded" -> found)
  and the country behind an adjective ("Japanese" -> Japan). Translations are
  ranked many-character first, then by how common jieba finds them; a word
  the passages lack in the lexical index is matched through its bigrams, a
  one-character word through the bridge index;
- names in pinyin: capitalized words that read as pinyin syllables ("Zhang
  Shichang") become the bridge index's syllable pairs;
- Latin words and numbers as they are (passages quote "JR", "1994").

The English stopwords of a question ("what", "the", ...) are dropped: in a
Chinese corpus they look rare, and BM25 would reward any passage that
happens to quote them. The dense side embeds the question with its Chinese
words appended, which pulls it towards the passages' language.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from itertools import pairwise

from qa.index import bridge
from qa.index.lexical import CJK, fold, latin
from qa.search import lexicon

Terms = tuple[str, ...]  # tokens that together make one way of saying a concept
_WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*|\d+(?:[.,]\d+)*")
_QUESTION_WORDS = {"what", "which", "who", "whom", "whose", "when", "where", "why", "how", "many", "much", "name"}
_QUESTION_WORDS |= {"did", "does", "do", "was", "were", "is", "are", "called", "known", "also"}
# (suffix, endings to try instead): the country or plural an adjective or a stem stands for
_DEMONYMS = (("ese", ("", "a")), ("ian", ("a", "")), ("an", ("a", "o", "")), ("n", ("",)), ("i", ("",)), ("", ("s",)))
MAX_TRANSLATIONS = 4
MAX_PHRASE = 4


@lru_cache(maxsize=1)
def stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN_PLUS

    return frozenset(STOPWORDS_EN_PLUS) | _QUESTION_WORDS


def words(text: str) -> list[str]:
    """The Latin words and numbers of ``text``."""
    return _WORD.findall(text)


def applies(query: str) -> bool:
    """Whether ``query`` is written in Latin letters (no CJK) and so goes through here."""
    return not CJK.search(query) and sum(c.isascii() and c.isalpha() for c in query) >= 2


@dataclass(frozen=True)
class Translation:
    concepts: list[list[Terms]]  # per concept, its alternatives
    chinese: list[str]  # the best Chinese word of each dictionary concept, for the dense query
    unmatched: int = 0  # content words with no concept: they count against the ceiling all the same

    def dense_text(self, query: str) -> str:
        return " ".join([query, *self.chinese]) if self.chinese else query

    def uncovered(self) -> float:
        """The share of the question's content words the dictionary and pinyin found nothing for (0 to 1)."""
        words = len(self.concepts) + self.unmatched
        return self.unmatched / words if words else 1.0


def _forms(word: str) -> list[str]:
    """The keys to look ``word`` up by: itself, its lemmas, and what an adjective or plural stems from."""
    from lemminflect import getAllLemmas

    forms = [word, *(lemma for lemmas in getAllLemmas(word).values() for lemma in lemmas)]
    for suffix, endings in _DEMONYMS:
        if word.endswith(suffix) and len(word) > len(suffix) + 2:
            stem = word[: len(word) - len(suffix)] if suffix else word
            forms += [stem + e for e in endings if lexicon.lookup(stem + e)]
    return list(dict.fromkeys(forms))


def _frequency(word: str) -> int:
    import rjieba

    return int(rjieba.suggest_freq(word))


def _alternatives(words: set[str], known: Callable[[str], bool]) -> list[tuple[str, Terms]]:
    """The Chinese words as term sequences the index has, best first (many characters, then common ones)."""
    ranked: dict[Terms, tuple[bool, int]] = {}
    word_of: dict[Terms, str] = {}
    for word in words:
        folded = fold(word)
        if known(folded):
            terms: Terms | None = (folded,)
        elif len(folded) == 1 and known(bridge.CHAR + folded):
            terms = (bridge.CHAR + folded,)
        elif len(folded) >= 3 and all(known(folded[i : i + 2]) for i in range(len(folded) - 1)):
            terms = tuple(folded[i : i + 2] for i in range(len(folded) - 1))
        else:
            terms = None
        if terms is not None and terms not in ranked:
            ranked[terms], word_of[terms] = (len(folded) < 2, -_frequency(folded)), folded
    return [(word_of[t], t) for t in sorted(ranked, key=lambda t: ranked[t])[:MAX_TRANSLATIONS]]


def _names(words: list[str], lower: list[str], covered: list[bool], known: Callable[[str], bool]) -> list[Terms]:
    """Runs of capitalized words that read as pinyin, as the bridge index's syllable pairs."""
    out, i, stop = [], 0, stopwords()
    while i < len(words):
        j, syllables = i, []
        while j < len(words) and words[j][:1].isupper() and lower[j] not in stop and not covered[j]:
            found = bridge.split_syllables(words[j])
            if not found:
                break
            syllables += found
            j += 1
        pairs = tuple(p for p in (bridge.PINYIN + a + b for a, b in pairwise(syllables)) if known(p))
        if pairs:
            out.append(pairs)
            for k in range(i, j):
                covered[k] = True
        i = max(j, i + 1)
    return out


def translate(query: str, known: Callable[[str], bool]) -> Translation:
    """``query``'s concepts as terms that ``known`` says the index has, and its Chinese words for the dense side."""
    words = [re.sub(r"['’]s$", "", w) for w in _WORD.findall(query)]
    lower = [w.lower() for w in words]
    stop, covered = stopwords(), [False] * len(words)
    concepts: list[list[Terms]] = []
    chinese: list[str] = []
    for n in range(MAX_PHRASE, 1, -1):  # dictionary phrases, longest first
        for i in range(len(words) - n + 1):
            if any(covered[i : i + n]) or lower[i] in stop or lower[i + n - 1] in stop:
                continue
            found = _alternatives(set(lexicon.lookup(" ".join(lower[i : i + n]))), known)
            if found:
                concepts.append([terms for _, terms in found])
                chinese.append(found[0][0])
                covered[i : i + n] = [True] * n
    concepts += [[pairs] for pairs in _names(words, lower, covered, known)]
    unmatched = 0
    for low, done in zip(lower, covered, strict=True):
        if done or low in stop:
            continue
        found = _alternatives({c for form in _forms(low) for c in lexicon.lookup(form)}, known)
        if found and len(found[0][0]) > 1:
            chinese.append(found[0][0])
        as_is = [(latin(low),)] if known(latin(low)) else []
        if as_is or found:
            concepts.append(as_is + [terms for _, terms in found])
        else:
            unmatched += 1
    return Translation(concepts, chinese, unmatched)


# ------------------------------------------------------------------ the other way: a Chinese question, English passages
def glossed(query: str, known: Callable[[str], bool]) -> tuple[list[list[Terms]], int]:
    """The words of a Chinese question as the English their dictionary glosses use, one concept per word,
    and how many words the question has (those without a known gloss count against the ceiling).

    Each gloss is an alternative (its content words, stemmed, all present in
    the index). Only English passages can match them, which is the point:
    a Chinese question competes with every Chinese passage, and without this
    an English passage that answers it has nothing to match but the embedding.
    """
    concepts = []
    candidates = _gloss_candidates(query)
    for glosses in candidates:
        alternatives: list[Terms] = []
        for terms in glosses:
            if all(known(t) for t in terms) and terms not in alternatives:
                alternatives.append(terms)
        if alternatives:
            concepts.append(alternatives)
    return concepts, len(candidates)


def _gloss_candidates(query: str) -> list[list[Terms]]:
    """Per word of a Chinese question, its glosses' content words, stemmed (what :func:`glossed` checks)."""
    import rjieba

    stop = stopwords()
    words = list(dict.fromkeys(w for w in rjieba.cut(fold(query)) if len(w) >= 2 and CJK.fullmatch(w)))
    found = []
    for word in words:
        terms = (
            tuple(latin(w) for w in gloss.split() if w not in stop)
            for gloss in lexicon.glosses(word)[:MAX_TRANSLATIONS]
        )
        found.append([t for t in terms if t])
    return found


def gloss_terms(query: str) -> list[str]:
    """Every term :func:`glossed` may ask the index about, so an index that reads them remotely reads them at once."""
    return sorted({t for glosses in _gloss_candidates(query) for terms in glosses for t in terms})
