"""What each cross-lingual lever contributes: English questions (benchmarks/xling) over the Chinese eval sets.

Each row turns one more lever on, in the order the README lists them, and
scores hybrid R@1 / R@5 on all 160 questions of each set (dev and test
halves together; the weight was chosen on the dev half). It needs
`make eval`'s indexes (benchmarks/results/idx-*).

    python benchmarks/xling_levers.py
"""

from __future__ import annotations

import json
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from qa.config import Settings
from qa.search import english, evaluation, lexicon, retrieval
from qa.service.core import QAService

ROOT = Path(__file__).resolve().parents[1]
EVAL = ROOT.parent / "shared" / "eval"
SETS = ("cmrc2018_dev", "drcd_dev")


def levers(step: int) -> None:
    """Undo the levers past ``step`` by putting plain stand-ins in their place."""
    retrieval.CROSS_LINGUAL_WEIGHT = 0.25 if step >= 5 else retrieval.LEXICAL_WEIGHT
    lexicon_on, pinyin_on, dense_on = step >= 2, step >= 3, step >= 4
    english.lexicon.lookup = _lookup if lexicon_on else (lambda key: ())  # type: ignore[assignment]
    english.bridge.split_syllables = _split if pinyin_on else (lambda word: None)  # type: ignore[assignment]
    english.Translation.dense_text = _dense if dense_on else (lambda self, query: query)  # type: ignore[method-assign]
    if step == 0:
        retrieval.prepare = lambda index, text: retrieval.Query(text, text, retrieval.LEXICAL_WEIGHT)  # type: ignore
    else:
        retrieval.prepare = _prepare  # type: ignore[assignment]


_lookup, _split, _dense, _prepare = (
    lexicon.lookup,
    english.bridge.split_syllables,
    english.Translation.dense_text,
    retrieval.prepare,
)
STEPS = [
    "before: the question's own tokens, Chinese fusion weight",
    "+ English stopwords dropped (Latin words and numbers kept)",
    "+ CC-CEDICT translations (phrases, lemmas, demonyms)",
    "+ names through pinyin (bridge index)",
    "+ Chinese words appended to the embedded question",
    "+ fusion weight 0.25 for questions in Latin letters",
]


def main() -> None:
    services = {}
    for name in SETS:
        settings = Settings(docs_dir=EVAL / name / "docs", index_dir=ROOT / "benchmarks" / "results" / f"idx-{name}")
        services[name] = QAService.open(settings)
        services[name].writer.load()
    queries = {name: evaluation.read_queries(ROOT / "benchmarks" / "xling" / f"{name}.en.jsonl") for name in SETS}
    print("| lever | CMRC R@1 | R@5 | DRCD R@1 | R@5 |\n|---|---|---|---|---|")
    for step, label in enumerate(STEPS):
        levers(step)
        cells = []
        for name in SETS:
            service = services[name]
            scores = evaluation.evaluate(
                queries[name],
                lambda q, service=service: [
                    h.chunk for h in service.search(q, 10, "hybrid", min_relevance=0.0).results
                ],
            )
            cells += [f"{scores.recall_at_1:.3f}", f"{scores.recall_at_5:.3f}"]
        print(f"| {label} | " + " | ".join(cells) + " |", flush=True)
    print(json.dumps({"questions": {n: len(q) for n, q in queries.items()}}))


if __name__ == "__main__":
    main()
