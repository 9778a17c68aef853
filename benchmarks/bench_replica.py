"""What a replica costs to start and to keep, by where BM25 lives: the local store, Milvus with BM25 in the process
(QA_MILVUS_LEXICAL=process), and Milvus with BM25 in Milvus too (QA_MILVUS_LEXICAL=milvus).

For each corpus size (embedding windows), the eval sets' documents are copied until they make that many windows
(each copy with a line of its own, so the vocabulary grows a little with them), then indexed three ways with a hash
embedder (vectors mean nothing here: what is measured is storage and BM25). Milvus is a `milvus-lite server` in its
own process, as a replica's Milvus would be. Each replica is then a fresh process that opens the index and answers
questions of the eval sets:
  open    - seconds from the service object to a loaded index (the replica's start, the model aside);
  first   - milliseconds of its first hybrid search (on Milvus, after another replica's: a server's first sparse
            search after its start loads the index, seconds that are the server's, reported apart as
            "server's first search");
  RSS     - MB of the replica process above what it held before opening (Python, qa and numpy imported), after
            opening and after --searches hybrid searches.

--backends picks the replicas (local, process, milvus: all three by default): at a million windows a replica with
BM25 in the process reads every passage to open (minutes) and the local store builds an HNSW graph (most of an
hour on two shared cores), so a run there may measure the BM25-in-Milvus replica alone. The builds tokenize each
distinct passage text once (the copies repeat the eval sets' passages): what is measured is a replica's start, not
the build, and a memo changes no stored weight.

--copies K (BM25 in Milvus only) makes the collection K times larger without K times the build: qa builds it
from the copies as above, then every window and document entity is written K-1 times more straight into Milvus
under new ids (the same vectors, weights, text and versions, as a corpus of K times the copies would hold), and the
statistics are scaled to match (passages, lengths and each document frequency times K). That is how a million
windows fit in a run: a build through qa fills milvus-lite at a few hundred windows a second here.

    python benchmarks/bench_replica.py [--windows 10000,100000] [--searches 200] [--backends local,milvus]
        [--copies K] [--keep DIR]

--keep DIR keeps each corpus, its builds and its Milvus data in DIR, and a later run with the same arguments
measures the replicas again without building (a million windows take most of an hour to build here).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
EVAL = ROOT.parent / "shared" / "eval"
sys.path.insert(0, str(ROOT / "tests"))
BACKENDS = {
    "local": {},
    "milvus, BM25 in process": {"backend": "milvus", "milvus_lexical": "process", "milvus_collection": "bench_p"},
    "milvus, BM25 in Milvus": {"backend": "milvus", "milvus_lexical": "milvus", "milvus_collection": "bench_m"},
}
KEYS = dict(zip(("local", "process", "milvus"), BACKENDS, strict=True))  # --backends names


class HashEmbedder:
    """A deterministic 384-d embedder: a text's vector is a hash of it (start and memory do not depend on meaning)."""

    name = "bench:hash-embedder"
    dim = 384

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), np.float32)
        for i, t in enumerate(texts):
            seed = int.from_bytes(hashlib.sha256(t.encode()).digest()[:8], "little")
            v = np.random.default_rng(seed).standard_normal(self.dim).astype(np.float32)
            out[i] = v / np.linalg.norm(v)
        return out

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts)

    def encode_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts)


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def corpus(folder: Path, windows: int) -> int:
    """Copies of the eval sets' documents in ``folder`` until they make ``windows`` windows; how many they make."""
    from qa.config import Settings
    from qa.index.chunking import chunk_document, embedding_windows

    params = Settings().chunk_params
    sources = sorted((EVAL / "cmrc2018_dev" / "docs").iterdir()) + sorted((EVAL / "drcd_dev" / "docs").iterdir())
    folder.mkdir(parents=True)
    made, copy = 0, 0
    while made < windows:
        for src in sources:
            text = src.read_text(encoding="utf-8") + f"\n\n副本编号{copy}：第{copy}份拷贝。\n"
            name = f"c{copy}-{src.name}"
            (folder / name).write_text(text, encoding="utf-8")
            made += sum(len(embedding_windows(c, params)) for c in chunk_document(name, text, params))
            if made >= windows:
                break
        copy += 1
    return made


def memo_terms() -> None:
    """Tokenize each distinct passage once while building: the copies repeat the eval sets' passages, and jieba over
    a million of them would be most of the build. The weights stored are the same (one text, one Terms)."""
    from functools import lru_cache

    from qa.index.milvus import terms

    of = lru_cache(maxsize=None)(terms.Terms.of.__func__)  # type: ignore[attr-defined]
    terms.Terms.of = classmethod(lambda cls, text: of(cls, text))  # type: ignore[assignment, method-assign]


def build(root: Path, uri: str, labels: list[str]) -> dict[str, float]:
    """Index the copies for each replica in ``labels``; seconds each build took."""
    from qa.config import Settings
    from qa.service.core import QAService

    memo_terms()
    took = {}
    for label in labels:
        started = time.perf_counter()
        extra = BACKENDS[label]
        settings = Settings(docs_dir=root / "docs", index_dir=root / f"idx-{len(label)}", milvus_uri=uri, **extra)
        QAService(settings, HashEmbedder()).writer.sync()
        took[label] = time.perf_counter() - started
        print(f"  built {label} in {took[label]:.0f} s", file=sys.stderr, flush=True)
    return took


def grow(uri: str, alias: str, copies: int) -> None:
    """Write every entity of the collection behind ``alias`` ``copies - 1`` more times under new ids, and scale its
    statistics to match (see the module docstring)."""
    from pymilvus import MilvusClient

    from qa.index.milvus import layout, terms

    client = MilvusClient(uri=uri)
    name = client.describe_alias(alias)["collection_name"]
    fields = [*layout.FIELDS, "sparse"]
    started, written, held = time.perf_counter(), 0, []
    batches = client.query_iterator(name, batch_size=2048, filter="kind in [0, 1]", output_fields=fields)
    while batch := batches.next():  # all of it first: an iterator could meet the rows written while it reads
        held += [r | {"vector": np.asarray(r["vector"], np.float32)} for r in batch]
    batches.close()
    for c in range(1, copies):
        rows = []
        for r in held:
            chunk_id = f"k{c}-{r['chunk_id']}" if r["chunk_id"] else ""
            row = {f: r[f] for f in fields} | {"doc_id": f"k{c}-{r['doc_id']}", "chunk_id": chunk_id}
            row["id"] = (
                f"d:{row['doc_id']}" if r["kind"] == layout.DOCUMENT else layout.window_id(chunk_id, r["window"])
            )
            row["vector"] = r["vector"].tolist()
            rows.append(row)
            if len(rows) == 512:
                client.insert(name, rows)
                written, rows = written + len(rows), []
        if rows:
            client.insert(name, rows)
            written += len(rows)
        print(f"  grown by {written:,} entities in {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    stats = name + terms.STATS_SUFFIX
    dfs = client.query_iterator(stats, batch_size=4096, filter='id != "n:"', output_fields=["id", "df", "info"])
    while batch := dfs.next():
        client.upsert(stats, [{**r, "df": r["df"] * copies, "sparse": dict(terms.PLACEHOLDER)} for r in batch])
    dfs.close()
    totals = terms.Totals.of(client.get(stats, ids=[terms.TOTALS], output_fields=["info"])[0])
    length = {f: v * copies for f, v in totals.length.items()}
    client.upsert(stats, [terms.Totals(totals.n * copies, length, totals.built_avg).entity()])
    client.flush(name)
    client.close()


def timed(obj: object, names: tuple[str, ...]) -> list[float]:
    """Seconds spent in each call of ``obj``'s methods ``names`` (appended to the list returned, as they happen)."""
    spent: list[float] = []
    for name in names:
        fn = getattr(obj, name, None)
        if fn is None:
            continue

        def wrapped(*args: object, fn=fn, **kwargs: object) -> object:  # type: ignore[no-untyped-def]
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent.append(time.perf_counter() - started)

        setattr(obj, name, wrapped)
    return spent


def child(spec: dict[str, object], questions: list[str], searches: int) -> dict[str, float]:
    """One replica: open the index, search; what it took."""
    from qa.config import Settings
    from qa.index import bridge
    from qa.index.lexical import tokenize
    from qa.search import lexicon
    from qa.service.core import QAService

    settings = Settings(**spec)  # type: ignore[arg-type]
    service = QAService(settings, HashEmbedder())
    tokenize("预热分词词典 warm"), bridge.tokens("预热")  # what every replica loads whatever the index: not counted
    lexicon.table()
    lexicon.glosses("预热")
    before = rss_mb()
    in_milvus = timed(getattr(service.writer, "collection", None), ("load", "load_stats"))  # Milvus loading it
    started = time.perf_counter()
    service.writer.load()
    opened = time.perf_counter() - started
    after_open = rss_mb()
    opened_line = json.dumps({"open_s": opened, "milvus_load_s": sum(in_milvus), "rss_open_mb": after_open - before})
    print(f"  opened: {opened_line}", file=sys.stderr, flush=True)  # searches at a million windows can take long
    (Path(str(spec["index_dir"])).parent / f"opened-{Path(str(spec['index_dir'])).name}.json").write_text(opened_line)
    t = time.perf_counter()
    service.search(questions[0], 10, "hybrid")
    first = (time.perf_counter() - t) * 1000
    times = []
    for q in questions[1 : searches + 1]:
        t = time.perf_counter()
        service.search(q, 10, "hybrid")
        times.append((time.perf_counter() - t) * 1000)
    return {
        "open_s": opened,
        "first_ms": first,
        "median_ms": float(np.median(times)) if times else 0.0,
        "milvus_load_s": sum(in_milvus),
        "rss_open_mb": after_open - before,
        "rss_searched_mb": rss_mb() - before,
        "base_mb": before,
    }


def replica(spec: dict[str, object], searches: int) -> dict[str, float]:
    """A replica in a fresh process (:func:`child`): what it measured."""
    cmd = [sys.executable, __file__, "--child", json.dumps(spec), "--searches", str(searches)]
    out = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=True).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def questions() -> list[str]:
    out = []
    for name in ("cmrc2018_dev", "drcd_dev"):
        with (EVAL / name / "queries_public.jsonl").open(encoding="utf-8") as f:
            out += [json.loads(line)["question"] for line in f]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--windows", default="10000")
    parser.add_argument("--searches", type=int, default=200)
    parser.add_argument("--backends", default="local,process,milvus", help="of local, process, milvus")
    parser.add_argument("--copies", type=int, default=1, help="grow the BM25-in-Milvus collection K times")
    parser.add_argument("--keep", help="build into this folder and keep it; a run with the same folder reuses it")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(json.loads(args.child), questions(), args.searches)))
        return
    from servers import milvus_lite_server  # the tests' helper: a milvus-lite server process, stopped after

    labels = [KEYS[k] for k in args.backends.split(",")]
    if args.copies > 1 and args.backends != "milvus":
        parser.error("--copies grows the BM25-in-Milvus collection only: use it with --backends milvus")
    rows = []
    for windows in (int(w) for w in args.windows.split(",")):
        if args.keep:  # one folder per corpus: a later run with the same arguments measures the same build again
            root = Path(args.keep) / f"{windows}x{args.copies}-{args.backends.replace(',', '-')}"
            root.mkdir(parents=True, exist_ok=True)
        else:
            root = Path(tempfile.mkdtemp(prefix=f"qa-replica-{windows}-"))
        built = root / "built.json"
        try:
            with milvus_lite_server(root / "milvus") as uri:
                if built.exists():
                    made, documents, took = json.loads(built.read_text())
                    print(f"reusing {root}: {made} windows in {documents} documents", file=sys.stderr, flush=True)
                else:
                    shutil.rmtree(root / "docs", ignore_errors=True)
                    made = corpus(root / "docs", windows)
                    documents = len(list((root / "docs").iterdir()))
                    print(f"{made} windows in {documents} documents", file=sys.stderr, flush=True)
                    took = build(root, uri, labels)
                    if args.copies > 1:
                        started = time.perf_counter()
                        grow(uri, str(BACKENDS[labels[0]]["milvus_collection"]), args.copies)
                        took[labels[0]] += time.perf_counter() - started
                        made, documents = made * args.copies, documents * args.copies
                    if args.keep:
                        built.write_text(json.dumps([made, documents, took]))
                for label in labels:
                    spec = {"docs_dir": str(root / "docs"), "index_dir": str(root / f"idx-{len(label)}")}
                    spec |= {"milvus_uri": uri, **BACKENDS[label]}
                    row = {"windows": made, "documents": documents, "backend": label, "build_s": took[label]}
                    if label != "local":  # a replica that searches first warms the server for all that follow
                        row["server_first_ms"] = replica(spec, 0)["first_ms"]
                    rows.append(row | replica(spec, args.searches) | {"load": os.getloadavg()[0]})
                    print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
        finally:
            if not args.keep:
                shutil.rmtree(root, ignore_errors=True)
    print(
        "| windows (documents) | replica | build (s) | open (s) | server's first search (ms) | first search (ms) | "
        f"median search (ms) | RSS after open (MB) | RSS after {args.searches} searches (MB) | load |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        server = f"{r['server_first_ms']:.0f}" if "server_first_ms" in r else ""
        print(
            f"| {r['windows']:,} ({r['documents']:,}) | {r['backend']} | {r['build_s']:.0f} | {r['open_s']:.2f} | "
            f"{server} | {r['first_ms']:.0f} | {r['median_ms']:.0f} | {r['rss_open_mb']:.1f} | "
            f"{r['rss_searched_mb']:.1f} | {r['load']:.1f} |"
        )


if __name__ == "__main__":
    main()
