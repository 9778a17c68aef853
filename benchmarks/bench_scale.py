"""The vector index at 100k and 1M vectors: exact (flat) against HNSW (and IVF at 100k, to choose), in one run.

Vectors are generated, but shaped like qa's: each is a normalized mix of two
real e5 window vectors from the eval indexes (benchmarks/results/idx-*, built
by `make eval`) plus a little noise, so their cosines crowd like real ones do.
Uniform random vectors would make any approximate index look worse than it is
on text. Queries are 200 more of the same. For every index: build time, the
search median and p99 for k=10 (one query at a time, the encoder excluded),
recall@10 against exact search, size on disk, and the resident memory of a
fresh process that memory-maps the index and runs the queries.

    python benchmarks/bench_scale.py [--sizes 100000,1000000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import faiss
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
DIM = 384


def base_vectors() -> np.ndarray:
    from qa.index import store

    parts = []
    for folder in sorted(RESULTS.glob("idx-*")):
        try:
            vecs = faiss.read_index(str(store.current_path(folder) / store.VECTORS))
        except Exception:  # noqa: BLE001 - a sweep folder without an index is simply skipped
            continue
        if vecs.d == DIM and vecs.ntotal:
            parts.append(vecs.reconstruct_n(0, vecs.ntotal))
    if not parts:
        raise SystemExit("no eval indexes under benchmarks/results; run `make eval` first")
    return np.unique(np.vstack(parts), axis=0)


def generate(base: np.ndarray, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = np.empty((n, DIM), np.float32)
    for start in range(0, n, 100_000):
        m = min(100_000, n - start)
        v = (
            base[rng.integers(0, len(base), m)]
            + rng.uniform(0, 0.7, (m, 1)).astype(np.float32) * base[rng.integers(0, len(base), m)]
        )
        v += 0.02 * rng.standard_normal((m, DIM)).astype(np.float32)
        out[start : start + m] = v / np.linalg.norm(v, axis=1, keepdims=True)
    return out


def child(path: str, queries: str, truth: str, ef: int, nprobe: int) -> None:
    """Load (memory-mapped where FAISS allows), search one query at a time, report latency, recall and memory."""
    index = faiss.read_index(path, faiss.IO_FLAG_MMAP_IFC)
    if hasattr(index, "hnsw"):
        index.hnsw.efSearch = ef
    if hasattr(index, "nprobe"):
        index.nprobe = nprobe
    q, gt = np.load(queries), np.load(truth)
    index.search(q[:5], 10)
    times, hits = [], 0
    for i in range(len(q)):
        t = time.perf_counter()
        _, ids = index.search(q[i : i + 1], 10)
        times.append((time.perf_counter() - t) * 1000)
        hits += len(set(ids[0].tolist()) & set(gt[i].tolist()))
    status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
    print(
        json.dumps(
            {
                "median_ms": float(np.median(times)),
                "p99_ms": float(np.percentile(times, 99)),
                "recall": hits / gt.size,
                "rss_mb": int(status["VmRSS"].split()[0]) / 1024,
                "peak_mb": int(status["VmHWM"].split()[0]) / 1024,
            }
        )
    )


def measure(index: faiss.Index, name: str, work: Path, build_s: float, ef: int = 0, nprobe: int = 0) -> str:
    path = work / f"{name}.faiss"
    faiss.write_index(index, str(path))
    out = subprocess.run(
        [
            sys.executable,
            __file__,
            "--child",
            str(path),
            str(work / "q.npy"),
            str(work / "gt.npy"),
            str(ef),
            str(nprobe),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    r = json.loads(out.strip().splitlines()[-1])
    size = path.stat().st_size / 2**20
    path.unlink()
    return (
        f"| {index.ntotal:,} | {name} | {build_s:.1f} | {r['median_ms']:.2f} | {r['p99_ms']:.2f} | {r['recall']:.3f} | "
        f"{r['rss_mb']:.0f} | {size:.0f} |"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="100000,1000000")
    ap.add_argument("--child", nargs=5)
    args = ap.parse_args()
    if args.child:
        path, q, gt, ef, nprobe = args.child
        child(path, q, gt, int(ef), int(nprobe))
        return
    base = base_vectors()
    print(f"# {len(base):,} real e5 window vectors as the basis; {faiss.omp_get_max_threads()} threads")
    print("| vectors | index | build s | search median ms | p99 ms | recall@10 | RSS MB (mmap) | disk MB |")
    print("|---|---|---|---|---|---|---|---|")
    work = Path(tempfile.mkdtemp(prefix="qa-scale-"))
    queries = generate(base, 200, seed=1)
    np.save(work / "q.npy", queries)
    for n in [int(x) for x in args.sizes.split(",")]:
        x = generate(base, n, seed=0)
        t = time.perf_counter()
        flat = faiss.IndexFlatIP(DIM)
        flat.add(x)
        flat_s = time.perf_counter() - t
        np.save(work / "gt.npy", flat.search(queries, 10)[1])
        print(measure(flat, "flat (exact)", work, flat_s), flush=True)
        del flat
        t = time.perf_counter()
        hnsw = faiss.IndexHNSWFlat(DIM, 32, faiss.METRIC_INNER_PRODUCT)
        hnsw.hnsw.efConstruction = 64
        hnsw.add(x)
        hnsw_s = time.perf_counter() - t
        for ef in (64, 128):
            print(measure(hnsw, f"HNSW32 ef={ef}", work, hnsw_s, ef=ef), flush=True)
        del hnsw
        if n <= 200_000:
            t = time.perf_counter()
            ivf = faiss.IndexIVFFlat(faiss.IndexFlatIP(DIM), DIM, 1024, faiss.METRIC_INNER_PRODUCT)
            ivf.train(x[: min(n, 50_000)])
            ivf.add(x)
            ivf_s = time.perf_counter() - t
            for nprobe in (32, 64):
                print(measure(ivf, f"IVF1024 nprobe={nprobe}", work, ivf_s, nprobe=nprobe), flush=True)
            del ivf
        del x


if __name__ == "__main__":
    main()
