"""Sweep chunking and the hybrid weight on the public eval sets; prints one table per set.

    python benchmarks/tune_retrieval.py --set cmrc2018_dev --chunk-size 200 --overlap 60

Indexes are cached under benchmarks/results/ (per set and chunking), so
re-running a sweep of weights costs only the queries.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from qa.config import Settings
from qa.search import retrieval
from qa.search.evaluation import Scores, evaluate, read_queries
from qa.service.core import QAService

ROOT = Path(__file__).resolve().parents[1]
EVAL = ROOT.parent / "shared" / "eval"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--set", default="cmrc2018_dev")
    ap.add_argument("--chunk-size", type=int, default=200)
    ap.add_argument("--overlap", type=int, default=60)
    ap.add_argument("--weights", default="0.1,0.2,0.3,0.4,0.5,0.6")
    ap.add_argument("--limit", type=int, default=0, help="only the first N questions")
    args = ap.parse_args()

    data = EVAL / args.set
    idx = ROOT / "benchmarks" / "results" / f"idx-{args.set}-{args.chunk_size}-{args.overlap}"
    settings = Settings(docs_dir=data / "docs", index_dir=idx, chunk_size=args.chunk_size, chunk_overlap=args.overlap)
    service = QAService.open(settings)
    t = time.perf_counter()
    service.writer.ensure()
    print(
        f"# {args.set} size={args.chunk_size} overlap={args.overlap}: {service.index.size} chunks "
        f"(index ready in {time.perf_counter() - t:.0f}s)",
        file=sys.stderr,
    )
    queries = read_queries(data / "queries_public.jsonl")
    if args.limit:
        queries = queries[: args.limit]

    # Encode every question once (cached on disk per set); each configuration then only ranks.
    cache = ROOT / "benchmarks" / "results" / f"qvecs-{args.set}-{len(queries)}.npy"
    if cache.exists():
        vecs = np.load(cache)
    else:
        vecs = service.embedder.encode_queries([q.question for q in queries])
        np.save(cache, vecs)
    qvecs = dict(zip((q.question for q in queries), vecs, strict=True))

    class Cached:
        name, dim = service.embedder.name, service.embedder.dim

        def encode_queries(self, texts):  # type: ignore[no-untyped-def]
            return np.vstack([qvecs[t] for t in texts])

    cached = Cached()

    def run(mode: str) -> Scores:
        return evaluate(queries, lambda q: [h.chunk for h in retrieval.search(service.index, cached, q, 10, mode)])  # type: ignore[arg-type]

    print(f"{'config':16} {'R@1':>7} {'R@5':>7} {'MRR@10':>7}")
    for mode in ("dense", "lexical"):
        r = run(mode).row()
        print(f"{mode:16} {r['R@1']:7.4f} {r['R@5']:7.4f} {r['MRR@10']:7.4f}")
    for w in (float(x) for x in args.weights.split(",")):
        retrieval.LEXICAL_WEIGHT = w
        r = run("hybrid").row()
        print(f"{'hybrid w=' + str(w):16} {r['R@1']:7.4f} {r['R@5']:7.4f} {r['MRR@10']:7.4f}")


if __name__ == "__main__":
    main()
