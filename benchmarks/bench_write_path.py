"""Where one single-document write's time goes, stage by stage, and how many fsyncs it makes.

A service over the seed article; each write is ``Writer.put`` of a new DRCD
paragraph (a few hundred characters, about 5 windows), as ``POST /documents``
makes it, minus HTTP. Stages are timed by wrapping the functions that do them;
background merges are off so each write is measured alone. With the hash
embedder (the default) the times exclude the model; ``--model`` embeds with the
bundled one, whose share is then the "embed" line, and prints the CPU time of
embedding one document's windows on one encoder worker and, split in two, on
each of two (what a quiet machine's wall time would be).

    python benchmarks/bench_write_path.py [--writes 30] [--model]
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
EVAL = ROOT.parent / "shared" / "eval"
TOTALS: dict[str, float] = defaultdict(float)
CALLS: dict[str, int] = defaultdict(int)


def timed(owner: object, name: str, label: str) -> None:
    """Add the time of every call of ``owner.name`` to ``label``."""
    fn = getattr(owner, name)

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):  # type: ignore[no-untyped-def]
        started = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            TOTALS[label] += (time.perf_counter() - started) * 1000
            CALLS[label] += 1

    setattr(owner, name, wrapper)


def paragraphs() -> list[str]:
    lines = (EVAL / "drcd_dev" / "corpus.jsonl").read_text(encoding="utf-8").splitlines()
    texts = [json.loads(line)["text"] for line in lines]
    return [t for t in texts if 200 <= len(t) <= 600 and "\n" not in t]


def embed_cpu(embedder, windows: list[list[str]]) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """Median CPU ms of one document's windows on one worker, and of the larger half when split over two."""
    from qa.encoder import compute

    def cpu(texts: list[str]) -> float:
        started = time.thread_time()  # torch runs on the worker's own thread
        embedder._encode_here(embedder._model.encode_document, texts)
        return (time.thread_time() - started) * 1000

    one, two = [], []
    for texts in windows:
        one.append(compute.run(cpu, texts))
        two.append(max(f.result() for f in [compute.submit(cpu, texts[k::2]) for k in range(2)]))
    return statistics.median(one), statistics.median(two)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--writes", type=int, default=30)
    ap.add_argument("--model", action="store_true", help="embed with the bundled model instead of a hash")
    args = ap.parse_args()

    from qa.config import Settings
    from qa.index import building, merging, segment, store
    from qa.index.writer import Writer
    from qa.ingest import folder
    from qa.service.core import QAService

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from bench_writes import HashEmbedder

    work = Path(tempfile.mkdtemp(prefix="qa-write-path-"))
    try:
        docs = work / "docs"
        docs.mkdir()
        shutil.copy(ROOT / "seeds" / "laoshan-vr-ai.txt", docs)
        settings = Settings(docs_dir=docs, index_dir=work / "index", query_cache_size=0)
        service = QAService.open(settings) if args.model else QAService(settings, HashEmbedder())
        service.writer.ensure()
        service.writer.on_commit = None
        texts = paragraphs()
        for k in range(3):  # warm up
            service.put(f"warm-{k}.txt", texts[-1 - k].encode())

        timed(Writer, "prepare", "check, convert, chunk")
        timed(building, "encode_all", "embed")
        timed(building, "assemble", "segment in memory (embed, FAISS, BM25)")
        timed(folder.FolderChange, "put", "docs folder")
        timed(segment.Segment, "write", "segment file(s)")
        timed(store, "commit", "commit (segment, commit file, CURRENT, prune)")
        timed(store, "prune", "prune")
        timed(merging, "plan", "merge consideration")
        timed(service.writer.live, "set", "live swap")
        real_fsync = os.fsync

        def fsync(fd: int) -> None:
            started = time.perf_counter()
            real_fsync(fd)
            TOTALS["fsync"] += (time.perf_counter() - started) * 1000
            CALLS["fsync"] += 1

        os.fsync = fsync
        merging.plan(service.index)  # what the writer's on_commit asks after each commit
        times = []
        for k in range(args.writes):
            started = time.perf_counter()
            service.put(f"new-{k}.txt", texts[k].encode())
            merging.plan(service.index)
            times.append((time.perf_counter() - started) * 1000)
        if args.model:
            from qa.index.chunking import chunk_document, embedding_windows

            p = settings.chunk_params
            windows = [[w for c in chunk_document("d.txt", t, p) for w in embedding_windows(c, p)] for t in texts[:30]]
            one, half = embed_cpu(getattr(service.embedder, "inner", service.embedder), windows)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    n = args.writes
    print(f"# {n} writes, {'the bundled model' if args.model else 'hash embedder'}; load {os.getloadavg()[0]:.1f}")
    print(f"write, median ms: {statistics.median(times):.1f} (min {min(times):.1f}, max {max(times):.1f})")
    print("| stage | ms per write (mean) | calls per write |")
    print("|---|---|---|")
    for label in sorted(TOTALS, key=lambda k: -TOTALS[k]):
        print(f"| {label} | {TOTALS[label] / n:.2f} | {CALLS[label] / n:.1f} |")
    if args.model:
        print(
            f"embedding one document's windows, CPU ms: {one:.1f} on one worker, {half:.1f} for the larger half of two"
        )


if __name__ == "__main__":
    main()
