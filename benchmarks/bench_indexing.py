"""Index build throughput beside the raw encoder's on the same texts, and peak memory, in one run.

For each corpus size (the first N CMRC 2018 documents, or copies of the seed
without ../shared/eval), a fresh process (so peak RSS is its own) measures:
  raw   - the encoder alone: every embedding window in one encode call (sentence-transformers sorts by length);
  build - `indexing.build` from documents to a complete in-memory index (chunking, windows, encode, FAISS, BM25).

    python benchmarks/bench_indexing.py [--sizes 100,400]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
EVAL_DOCS = ROOT.parent / "shared" / "eval" / "cmrc2018_dev" / "docs"


def corpus(n: int):  # type: ignore[no-untyped-def]
    from qa.ingest import folder as documents

    if EVAL_DOCS.is_dir():
        return documents.read_folder(EVAL_DOCS)[:n]
    seed = (ROOT / "seeds" / "laoshan-vr-ai.txt").read_text(encoding="utf-8")
    return [documents.make(f"copy-{i}.txt", seed) for i in range(n)]


def child(n: int, phase: str) -> dict[str, float]:
    from qa.config import Settings
    from qa.encoder.embedder import load_embedder
    from qa.index import building as indexing
    from qa.index.chunking import chunk_document, embedding_windows

    settings = Settings()
    embedder = load_embedder(settings)
    params = settings.chunk_params
    docs = corpus(n)
    embedder.encode_passages(["warm up"])
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t = time.perf_counter()
    if phase == "raw":
        windows = [
            w for d in docs for c in chunk_document(d.doc_id, d.text, params) for w in embedding_windows(c, params)
        ]
        t = time.perf_counter()  # chunking is not the encoder's work
        embedder.encode_passages(windows)
        count = len(windows)
    else:
        _, report = indexing.build(docs, embedder, params)
        count = report.embedded
    elapsed = time.perf_counter() - t
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "windows": count,
        "seconds": elapsed,
        "per_s": count / elapsed,
        "rss_mb": rss / 1024,
        "rss_before_mb": rss0 / 1024,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="100,400")
    ap.add_argument("--child", nargs=2, metavar=("N", "PHASE"))
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(int(args.child[0]), args.child[1])))
        return
    print("| documents | windows | raw encoder windows/s | build windows/s | build / raw | peak RSS MB: raw, build |")
    print("|---|---|---|---|---|---|")
    for n in [int(x) for x in args.sizes.split(",")]:
        res = {}
        for phase in ("raw", "build"):
            out = subprocess.run(
                [sys.executable, __file__, "--child", str(n), phase], capture_output=True, text=True, check=True
            )
            res[phase] = json.loads(out.stdout.strip().splitlines()[-1])
        raw, build = res["raw"], res["build"]
        print(
            f"| {n} | {build['windows']} | {raw['per_s']:.1f} | {build['per_s']:.1f} | {build['per_s'] / raw['per_s']:.2f} | "
            f"{raw['rss_mb']:.0f}, {build['rss_mb']:.0f} |"
        )


if __name__ == "__main__":
    main()
