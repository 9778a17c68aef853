"""The cost of one write at 10k, 100k and 1M window vectors: add, replace and delete one document, and search
latency while a merge runs.

Each size is an index of real passages (the CMRC and DRCD paragraphs,
repeated with a marker so every one is distinct) whose window vectors are
synthetic (random unit vectors, as in bench_scale.py: the vector index's
cost is what matters here, not its meaning), built once as one segment, HNSW
past QA_HNSW_THRESHOLD as qa builds it. Writes then go through the real
writer with a hash embedder, so what is timed excludes the document's own
embedding (a model's cost, the same at every size). Merges are held back
while writes are timed; then the small segments those writes made are merged
in the background while searches (hybrid, hash-embedded queries) are timed.

    python benchmarks/bench_writes.py [--sizes 10000,100000,1000000] [--ops 15]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
EVAL = ROOT.parent / "shared" / "eval"
WINDOWS_PER_CHUNK = 7.5  # what 100-character windows give on the eval paragraphs


class HashEmbedder:
    """Deterministic unit vectors from a text's hash: a stand-in that costs nothing, as a model never does."""

    name, dim = "bench:hash", 384

    def _vec(self, text: str) -> np.ndarray:
        seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
        v = np.random.default_rng(seed).standard_normal(self.dim).astype(np.float32)
        return v / np.linalg.norm(v)

    def encode_queries(self, texts):  # type: ignore[no-untyped-def]
        return np.vstack([self._vec(t) for t in texts]) if texts else np.zeros((0, self.dim), np.float32)

    encode_passages = encode_queries


def paragraphs() -> list[str]:
    out = []
    for name in ("cmrc2018_dev", "drcd_dev"):
        with open(EVAL / name / "corpus.jsonl", encoding="utf-8") as fh:
            out += [json.loads(line)["text"] for line in fh]
    return out


def build(root: Path, windows: int, texts: list[str]):  # type: ignore[no-untyped-def]
    """An index of about ``windows`` window vectors in one segment, written as qa writes one."""
    from qa.config import Settings
    from qa.index import store
    from qa.index.chunking import Chunk
    from qa.index.segment import DocEntry, Segment
    from qa.ingest.folder import content_hash

    settings = Settings(docs_dir=root / "docs", index_dir=root / "index")
    n = int(windows / WINDOWS_PER_CHUNK)
    rng = np.random.default_rng(0)
    counts = rng.integers(5, 11, n)
    documents, chunks = {}, []
    for i in range(n):
        text = f"{texts[i % len(texts)]}（第{i}份）"
        doc_id = f"d/{i}.txt"
        chunks.append(Chunk(f"{doc_id}#{i:012x}", doc_id, 0, len(text), text))
        documents[doc_id] = DocEntry(content_hash(text), 1)
    vecs = rng.standard_normal((int(counts.sum()), HashEmbedder.dim)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    started = time.perf_counter()
    segment = Segment.build(documents, chunks, vecs, offsets, HashEmbedder.dim, settings.vector_spec)
    settings.index_dir.mkdir(parents=True)
    chunking = dict(vars(settings.chunk_params))
    store.commit(settings.index_dir, store.empty(HashEmbedder.name, HashEmbedder.dim, chunking), add=[segment])
    return settings, int(counts.sum()), time.perf_counter() - started


def timed(fn, ops: int) -> list[float]:  # type: ignore[no-untyped-def]
    out = []
    for k in range(ops):
        t = time.perf_counter()
        fn(k)
        out.append((time.perf_counter() - t) * 1000)
    return out


def measure(windows: int, ops: int, texts: list[str]) -> dict[str, float]:
    from qa.service.core import QAService

    root = Path(tempfile.mkdtemp(prefix="qa-writes-"))
    try:
        settings, total, build_s = build(root, windows, texts)
        # The build leaves gigabytes of dirty pages at 1M windows; flushed now, they do not slow the fsyncs of
        # the first writes timed (a server's writes meet an index written long before).
        os.sync()
        service = QAService(settings, HashEmbedder())
        t = time.perf_counter()
        service.writer.load()
        load_s = time.perf_counter() - t
        service.writer.on_commit = None  # merges wait until the writes are timed
        w = service.writer
        add = timed(lambda k: service.put(f"new/{k}.txt", f"新文档{k}：港口起重机的检修记录。".encode()), ops)
        replace = timed(lambda k: service.put(f"d/{k}.txt", f"替换后的第{k}份文档：渡轮航线调整。".encode()), ops)
        delete = timed(lambda k: w.delete(f"d/{ops + k}.txt"), ops)
        queries = ["港口起重机检修", "渡轮航线", "虚拟现实产业园规划面积", "人工智能计算中心上线"]
        idle = timed(lambda k: service.search(queries[k % 4], 10, "hybrid"), 40)
        merged = threading.Event()

        def merge() -> None:
            w.merger.merge(service.index)
            merged.set()

        segments = len(service.index.segments)
        thread = threading.Thread(target=merge)
        thread.start()
        during = []
        while not merged.is_set():
            during += timed(lambda k: service.search(queries[k % 4], 10, "hybrid"), 4)
        thread.join()
        return {
            "windows": total,
            "build_s": round(build_s, 1),
            "load_s": round(load_s, 2),
            "add_ms": round(statistics.median(add), 1),
            "replace_ms": round(statistics.median(replace), 1),
            "delete_ms": round(statistics.median(delete), 1),
            "add_max_ms": round(max(add + replace + delete), 1),
            "search_idle_ms": round(statistics.median(idle), 2),
            "search_merging_ms": round(statistics.median(during), 2) if during else None,
            "search_merging_max_ms": round(max(during), 2) if during else None,
            "segments_before_after_merge": f"{segments} -> {len(service.index.segments)}",
        }
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--ops", type=int, default=15)
    args = ap.parse_args()
    texts = paragraphs()
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        rows.append(measure(size, args.ops, texts))
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    print("| windows | add ms | replace ms | delete ms | slowest write ms | search ms idle | during a merge (max) |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        writes = f"{r['add_ms']} | {r['replace_ms']} | {r['delete_ms']} | {r['add_max_ms']}"
        searches = f"{r['search_idle_ms']} | {r['search_merging_ms']} ({r['search_merging_max_ms']})"
        print(f"| {r['windows']:,} | {writes} | {searches} |")


if __name__ == "__main__":
    main()
