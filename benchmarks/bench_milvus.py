"""The local store beside QA_BACKEND=milvus (milvus-lite) on the eval sets: quality, search latency, build speed.

For each set (CMRC 2018 and DRCD dev, ../shared/eval) in one process:
  encode - every embedding window once, through a cache both builds then read (the encoder is the same for both);
  build  - each backend from documents to a served index with the vectors cached: what storage costs;
  eval   - R@1, R@5, MRR@10 per mode, and search median / p99 with query vectors cached (the index's work only).
With --milvus-bm25, also ranks by Milvus' own BM25 (jieba analyzer) over the same passages, alone and fused
with qa's dense scores, to show what replacing qa's lexical index with it would cost.

    python benchmarks/bench_milvus.py [--sets cmrc2018_dev,drcd_dev] [--limit N] [--milvus-bm25]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
EVAL = ROOT.parent / "shared" / "eval"
MODES = ("dense", "lexical", "hybrid")


class Cached:
    """The real embedder with every passage and query vector kept by text, so each is encoded once per run."""

    def __init__(self, inner) -> None:  # type: ignore[no-untyped-def]
        self.inner, self.name, self.dim = inner, inner.name, inner.dim
        self.passages: dict[str, np.ndarray] = {}
        self.queries: dict[str, np.ndarray] = {}

    def _get(self, store: dict[str, np.ndarray], texts: Sequence[str], encode) -> np.ndarray:  # type: ignore[no-untyped-def]
        todo = [t for t in dict.fromkeys(texts) if t not in store]
        for i in range(0, len(todo), 256):
            store.update(zip(todo[i : i + 256], encode(todo[i : i + 256]), strict=True))
        return np.vstack([store[t] for t in texts]) if texts else np.zeros((0, self.dim), np.float32)

    def encode_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._get(self.passages, texts, self.inner.encode_passages)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._get(self.queries, texts, self.inner.encode_queries)


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else 0.0


def run_set(name: str, embedder: Cached, work: Path, limit: int | None, milvus_bm25: bool) -> list[dict]:  # type: ignore[type-arg]
    from qa.config import Settings
    from qa.index.chunking import chunk_document, embedding_windows
    from qa.ingest import folder
    from qa.search.evaluation import first_hit, read_queries
    from qa.service.core import QAService

    docs_dir = EVAL / name / "docs"
    queries = read_queries(EVAL / name / "queries_public.jsonl")[:limit]
    settings = Settings(docs_dir=docs_dir)
    params = settings.chunk_params
    docs = folder.read_folder(docs_dir)
    windows = [
        w
        for d in docs
        for c in chunk_document(d.doc_id, d.text, params, d.layout)
        for w in embedding_windows(c, params)
    ]
    t = time.perf_counter()
    embedder.encode_passages(windows)
    encode_s = time.perf_counter() - t
    embedder.encode_queries([q.question for q in queries])
    rows = []
    services = {}
    for backend in ("local", "milvus"):
        s = settings.model_copy(
            update={
                "index_dir": work / f"{name}-{backend}",
                "backend": backend,
                "milvus_uri": str(work / f"{name}.db"),
                "query_cache_size": 0,
            }
        )
        t = time.perf_counter()
        service = QAService(s, embedder)  # type: ignore[arg-type]
        service.writer.sync(rebuild=True)
        build_s = time.perf_counter() - t
        services[backend] = service
        t = time.perf_counter()
        QAService(s, embedder).writer.load()  # type: ignore[arg-type]  # what a restart or a second replica does
        open_s = time.perf_counter() - t
        for mode in MODES:
            for q in queries[:5]:  # the first searches build what a view computes once (BM25 statistics)
                service.search(q.question, 10, mode)  # type: ignore[arg-type]
            ranks, times = [], []
            for q in queries:
                started = time.perf_counter()
                chunks = [h.chunk for h in service.search(q.question, 10, mode, min_relevance=0.0).results]  # type: ignore[arg-type]
                times.append((time.perf_counter() - started) * 1000)
                ranks.append(first_hit(q, chunks))
            n = len(queries)
            rows.append(
                {
                    "set": name,
                    "backend": backend,
                    "mode": mode,
                    "queries": n,
                    "chunks": service.index.live_size,
                    "windows": len(windows),
                    "R@1": sum(r == 1 for r in ranks) / n,
                    "R@5": sum(r is not None and r <= 5 for r in ranks) / n,
                    "MRR@10": sum(1 / r for r in ranks if r is not None) / n,
                    "median_ms": statistics.median(times),
                    "p99_ms": _percentile(times, 99),
                    "encode_windows_per_s": len(windows) / encode_s,
                    "store_windows_per_s": len(windows) / build_s,
                    "build_windows_per_s": len(windows) / (encode_s + build_s),
                    "open_s": open_s,
                }
            )
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    if milvus_bm25:
        rows += milvus_bm25_rows(name, services["local"], embedder, queries, work)
    return rows


def milvus_bm25_rows(name, service, embedder, queries, work):  # type: ignore[no-untyped-def]
    """Milvus' BM25 (jieba analyzer; on the raw text, and on text qa folded to simplified) in place of qa's.

    Lexical: ranked by Milvus' BM25 alone. Hybrid: qa's fusion, 0.6 x cosine + 0.4 x BM25 share, where the
    share is of the best BM25 among the query's hits (Milvus gives no idf, so no ceiling as qa uses).
    """
    from pymilvus import DataType, Function, FunctionType, MilvusClient

    from qa.index.lexical import fold
    from qa.search.evaluation import first_hit
    from qa.search.retrieval import CANDIDATES, LEXICAL_WEIGHT

    index = service.index
    live = [r for r in range(index.size) if index.live[r]]
    client = MilvusClient(str(work / f"{name}-bm25.db"))
    schema = MilvusClient.create_schema(auto_id=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    params = client.prepare_index_params()
    for variant in ("raw", "folded"):
        schema.add_field(
            variant, DataType.VARCHAR, max_length=65535, enable_analyzer=True, analyzer_params={"tokenizer": "jieba"}
        )
        schema.add_field(f"{variant}_bm25", DataType.SPARSE_FLOAT_VECTOR)
        schema.add_function(
            Function(
                name=f"{variant}_f",
                function_type=FunctionType.BM25,
                input_field_names=[variant],
                output_field_names=[f"{variant}_bm25"],
            )
        )
        params.add_index(
            f"{variant}_bm25",
            index_type="SPARSE_INVERTED_INDEX",
            metric_type="BM25",
            params={"bm25_k1": 1.2, "bm25_b": 0.75},
        )
    client.create_collection("p", schema=schema, index_params=params)
    entities = [{"id": r, "raw": index.chunks[r].text, "folded": fold(index.chunks[r].text)} for r in live]
    for i in range(0, len(entities), 500):
        client.insert("p", entities[i : i + 500])
    client.flush("p")
    rows = []
    for variant in ("raw", "folded", "qa"):  # "qa": qa's own BM25 under the same fusion, to tell tokens from scaling
        lexical_ranks, hybrid_ranks = [], []
        for q in queries:
            if variant == "qa":
                scores = index.lexical.scores(q.question)[0]
                top_rows = np.argsort(-scores)[:CANDIDATES]
                bm25 = {int(r): float(scores[r]) for r in top_rows if scores[r] > 0}
            else:
                text = q.question if variant == "raw" else fold(q.question)
                found = client.search(
                    "p",
                    data=[text],
                    anns_field=f"{variant}_bm25",
                    limit=CANDIDATES,
                    search_params={"metric_type": "BM25"},
                )[0]
                bm25 = {int(h["id"]): abs(float(h["distance"])) for h in found}  # milvus-lite returns -BM25
            lexical = sorted(bm25, key=lambda r: -bm25[r])[:10]
            lexical_ranks.append(first_hit(q, [index.chunks[r] for r in lexical]))
            qvec = embedder.encode_queries([q.question])[0]
            dense = index.dense(qvec, CANDIDATES)
            dense |= index.dense_of(qvec, [r for r in bm25 if r not in dense])
            top = max(bm25.values(), default=0.0) or 1.0
            fused = {r: (1 - LEXICAL_WEIGHT) * d + LEXICAL_WEIGHT * bm25.get(r, 0.0) / top for r, d in dense.items()}
            hybrid = sorted(fused, key=lambda r: -fused[r])[:10]
            hybrid_ranks.append(first_hit(q, [index.chunks[r] for r in hybrid]))
        n = len(queries)
        for mode, ranks in (("lexical", lexical_ranks), ("hybrid", hybrid_ranks)):
            rows.append(
                {
                    "set": name,
                    "backend": "qa BM25, top-scaled" if variant == "qa" else f"milvus BM25 ({variant})",
                    "mode": mode,
                    "R@1": sum(r == 1 for r in ranks) / n,
                    "R@5": sum(r is not None and r <= 5 for r in ranks) / n,
                    "MRR@10": sum(1 / r for r in ranks if r is not None) / n,
                }
            )
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    client.close()
    return rows


def table(rows: list[dict]) -> str:  # type: ignore[type-arg]
    out = [
        "| set | mode | backend | R@1 | R@5 | MRR@10 | search median ms | p99 ms |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in sorted(rows, key=lambda r: (r["set"], MODES.index(r["mode"]) if r["mode"] in MODES else 9, r["backend"])):
        out.append(
            f"| {r['set']} | {r['mode']} | {r['backend']} | {r['R@1']:.4f} | {r['R@5']:.4f} | {r['MRR@10']:.4f} "
            f"| {r.get('median_ms', float('nan')):.2f} | {r.get('p99_ms', float('nan')):.2f} |"
        )
    out += [
        "",
        "| set | backend | windows | encoder windows/s | storage windows/s | build windows/s (both) | open s |",
        "|---|---|---|---|---|---|---|",
    ]
    seen = set()
    for r in rows:
        if "store_windows_per_s" in r and (r["set"], r["backend"]) not in seen:
            seen.add((r["set"], r["backend"]))
            out.append(
                f"| {r['set']} | {r['backend']} | {r['windows']} | {r['encode_windows_per_s']:.1f} "
                f"| {r['store_windows_per_s']:.0f} | {r['build_windows_per_s']:.1f} | {r['open_s']:.2f} |"
            )
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sets", default="cmrc2018_dev,drcd_dev")
    ap.add_argument("--limit", type=int, default=None, help="Questions per set (default all).")
    ap.add_argument("--milvus-bm25", action="store_true", help="Also measure Milvus' own BM25 in place of qa's.")
    ap.add_argument("--json", type=Path, help="Also write the rows here.")
    args = ap.parse_args()
    from qa.config import Settings
    from qa.encoder.embedder import load_embedder

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    embedder = Cached(load_embedder(Settings()))
    work = Path(tempfile.mkdtemp(prefix="bench-milvus-"))
    try:
        rows = [r for name in args.sets.split(",") for r in run_set(name, embedder, work, args.limit, args.milvus_bm25)]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    print(table(rows))


if __name__ == "__main__":
    main()
