"""The docs folder for Chinese questions over English documents: CMRC with 24 of its paragraphs in English instead.

benchmarks/xling/en_docs holds English translations of 24 CMRC paragraphs and
benchmarks/xling/zh_over_en.jsonl the original Chinese questions about them,
answered by an English span. Their Chinese originals are left out of the
corpus, so each question has to cross from Chinese to English, among 824
Chinese paragraphs that compete for it.

    python benchmarks/xling_corpus.py [OUT]     # default benchmarks/results/xling-mixed/docs
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CMRC = ROOT.parent / "shared" / "eval" / "cmrc2018_dev" / "docs"
ENGLISH = ROOT / "benchmarks" / "xling" / "en_docs"


def build(out: Path) -> Path:
    replaced = {p.name.replace(".en.txt", ".txt") for p in ENGLISH.glob("*.en.txt")}
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    for doc in sorted(CMRC.glob("*.txt")):
        if doc.name not in replaced:
            shutil.copyfile(doc, out / doc.name)
    for doc in sorted(ENGLISH.glob("*.en.txt")):
        shutil.copyfile(doc, out / doc.name)
    return out


if __name__ == "__main__":
    print(build(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "benchmarks" / "results" / "xling-mixed" / "docs"))
