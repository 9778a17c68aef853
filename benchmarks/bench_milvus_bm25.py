"""Ranking with BM25 in Milvus (QA_MILVUS_LEXICAL=milvus) against the local store, over indexes already built.

`qa eval` measures each backend alone, answers included; this reads the local index and the Milvus collection
`qa eval` left behind (or, with --build, builds it from the local index's window vectors: no embedding), encodes each question once for both, and ranks every question of the
half asked by lexical and hybrid search on each, to compare R@1 / R@5 / MRR@10 on the same vectors and the
same day's code, and to count the questions whose first passage differs.

    python benchmarks/bench_milvus_bm25.py --set cmrc2018_dev --local INDEX_DIR --milvus-uri FILE.db \
        --collection NAME [--split test] [--modes lexical,hybrid] [--build] [--queries FILE] [--show]

--queries: another question file over the same corpus (the English ones in benchmarks/xling/); --show: each
question whose first passage differs, with its rank of the right passage on each backend.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
EVAL = Path(__file__).resolve().parents[2] / "shared" / "eval"


class QueryCache:
    """The real embedder, each question encoded once for both backends (passages are never encoded here)."""

    def __init__(self, inner) -> None:  # type: ignore[no-untyped-def]
        self.inner, self.name, self.dim = inner, inner.name, inner.dim
        self.cache: dict[str, np.ndarray] = {}

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        todo = [t for t in dict.fromkeys(texts) if t not in self.cache]
        if todo:
            self.cache.update(zip(todo, self.inner.encode_queries(todo), strict=True))
        return np.vstack([self.cache[t] for t in texts])

    def encode_passages(self, texts: Sequence[str]) -> np.ndarray:
        return np.vstack([self.passages[t] for t in texts])

    passages: dict[str, np.ndarray] = {}  # noqa: RUF012 - filled by stored(): the local index's window vectors


def stored(settings) -> dict[str, np.ndarray]:  # type: ignore[no-untyped-def]
    """Each window's vector as the local index holds it, by the window's text (so a build embeds nothing)."""
    from qa.index import store
    from qa.index.chunking import embedding_windows

    snapshot = store.load(settings.index_dir, model="bundled:multilingual-e5-small", dim=384)
    out: dict[str, np.ndarray] = {}
    for segment in snapshot.segments:
        for row, chunk in enumerate(segment.chunks):
            vectors, _ = segment.window_vectors([row])
            for text, vec in zip(embedding_windows(chunk, settings.chunk_params), vectors, strict=True):
                out[text] = vec
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", required=True)
    parser.add_argument("--local", type=Path, required=True)
    parser.add_argument("--milvus-uri", required=True)
    parser.add_argument("--collection", required=True)
    parser.add_argument("--split", default="test", choices=["all", "dev", "test"])
    parser.add_argument("--modes", default="lexical,hybrid")
    parser.add_argument("--build", action="store_true", help="build the collection from the local index's vectors")
    parser.add_argument("--queries", type=Path, help="question file (default: the set's queries_public.jsonl)")
    parser.add_argument("--show", action="store_true", help="print each question whose first passage differs")
    args = parser.parse_args()

    from qa.config import Settings
    from qa.encoder.embedder import load_embedder
    from qa.search.evaluation import first_hit, read_queries
    from qa.service.core import QAService

    docs = EVAL / args.set / "docs"
    source = args.queries or EVAL / args.set / "queries_public.jsonl"
    queries = [q for q in read_queries(source) if args.split in ("all", q.split)]
    embedder = QueryCache(load_embedder(Settings()))
    embedder.encode_queries([q.question for q in queries])
    local = Settings(docs_dir=docs, index_dir=args.local, query_cache_size=0)
    milvus = local.model_copy(
        update={
            "backend": "milvus",
            "milvus_uri": args.milvus_uri,
            "milvus_collection": args.collection,
            "milvus_lexical": "milvus",
            "index_dir": Path(args.local).with_name(Path(args.local).name + "-unused"),
        }
    )
    if args.build:  # the collection from the local index's vectors: the same vectors, no model run over the corpus
        QueryCache.passages = stored(local)
        QAService(milvus, embedder).writer.sync(rebuild=True)  # type: ignore[arg-type]
    firsts: dict[str, dict[str, list[str | None]]] = {}
    hits: dict[str, dict[str, list[int | None]]] = {}
    for label, settings in (("local", local), ("milvus", milvus)):
        service = QAService(settings, embedder)  # type: ignore[arg-type]
        service.writer.load()
        for mode in args.modes.split(","):
            ranks, top = [], []
            for q in queries:
                chunks = [h.chunk for h in service.search(q.question, 10, mode, min_relevance=0.0).results]
                ranks.append(first_hit(q, chunks))
                top.append(chunks[0].chunk_id if chunks else None)
            firsts.setdefault(mode, {})[label] = top
            hits.setdefault(mode, {})[label] = ranks
            n = len(queries)
            row = {
                "set": args.set,
                "split": args.split,
                "backend": label,
                "mode": mode,
                "queries": n,
                "R@1": round(sum(r == 1 for r in ranks) / n, 4),
                "R@5": round(sum(r is not None and r <= 5 for r in ranks) / n, 4),
                "MRR@10": round(sum(1 / r for r in ranks if r is not None) / n, 4),
            }
            print(json.dumps(row), flush=True)
    for mode, by in firsts.items():
        differ = sum(a != b for a, b in zip(by["local"], by["milvus"], strict=True))
        print(json.dumps({"set": args.set, "mode": mode, "first passage differs": differ}), flush=True)
        if args.show:
            for i, q in enumerate(queries):
                if by["local"][i] != by["milvus"][i]:
                    row = {"id": q.id, "question": q.question, "mode": mode}
                    row |= {f"{b} first": by[b][i] for b in ("local", "milvus")}
                    row |= {f"{b} rank": hits[mode][b][i] for b in ("local", "milvus")}
                    print(json.dumps(row, ensure_ascii=False), flush=True)


if __name__ == "__main__":
    sys.exit(main())
