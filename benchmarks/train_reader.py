"""Fine-tune the answer reader (qa/search/reader.safetensors) on the dev halves; report it on the test halves.

The reader reads a question and a whole passage together (the bundled e5 as a
cross-encoder: ``[CLS] question [SEP] passage [SEP]``) and gives every
sentence of the passage a logit (its tokens' mean state, through a linear
head) and the passage one (its ``[CLS]`` state): which sentence answers, and
whether any does. Only the top layers are trained; the bottom ones and the
embeddings stay the bundled e5's, so the shipped file holds just the trained
layers and heads (fp16).

Examples, for every question of CMRC 2018 and DRCD (Chinese, ../shared/eval)
and their English versions (benchmarks/xling), over its own set's index:
- the first of the top 10 hybrid passages that holds an answer, with each
  sentence labelled (a positive for the passage head);
- the best-ranked passage of the top 5 that does not (a negative);
- the first passage for a question of the *other* set (unanswerable, a negative).

    python benchmarks/train_reader.py collect   # retrieval over both sets (cached in benchmarks/results)
    python benchmarks/train_reader.py fit       # train on dev, write the weights
    python benchmarks/train_reader.py report    # test halves: answer@1 | hit, passage AUROC
"""

from __future__ import annotations

import argparse
import os
import pickle
import random
import sys
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch

from qa.config import Settings
from qa.encoder.embedder import resolve_model_path
from qa.search import answering, reader, retrieval
from qa.search.evaluation import Query, read_queries
from qa.service.core import QAService

sys.path.insert(0, str(Path(__file__).parent))
import train_answering  # the linear model's cached items, to compare and mix
from train_answering import EVAL, RESULTS, SETS, question_files  # the same sets and question files


@dataclass
class Example:
    question: str
    lang: str
    split: str
    corpus: str
    kind: str  # "answer" (labelled sentences), "wrong" (a retrieved passage without the answer), "unanswerable"
    top_hit: bool  # for "answer": the first passage was this one
    text: str
    spans: list[tuple[int, int]]  # sentence spans, relative to text
    labels: list[bool]
    answers: tuple[str, ...]


def _example(q: Query, lang: str, corpus: str, kind: str, top: bool, chunk: object) -> Example:
    spans = [(a - chunk.start, b - chunk.start) for a, b in answering.spans(chunk)]  # type: ignore[attr-defined]
    text = chunk.text  # type: ignore[attr-defined]
    labels = [q.holds_answer(text[a:b]) for a, b in spans]
    return Example(q.question, lang, q.split, corpus, kind, top, text, spans, labels, q.answers)


def collect() -> list[Example]:
    cache = RESULTS / "reader-examples.pkl"
    if cache.exists():
        return pickle.loads(cache.read_bytes())
    out: list[Example] = []
    for name in SETS:
        other = next(s for s in SETS if s != name)
        service = QAService.open(Settings(docs_dir=EVAL / name / "docs", index_dir=RESULTS / f"idx-{name}"))
        service.writer.ensure()
        index = service.index
        for source, answerable in ((name, True), (other, False)):
            for lang, path in question_files(source).items():
                t0 = time.time()
                for q in read_queries(path):
                    prepared = retrieval.prepare(index, q.question)
                    qvec = service.embedder.encode_queries([prepared.dense_text])[0]
                    hits = retrieval.search(index, service.embedder, prepared, 10, "hybrid", qvec=qvec)
                    if not hits:
                        continue
                    if not answerable:
                        out.append(_example(q, lang, name, "unanswerable", False, hits[0].chunk))
                        continue
                    right = [h for h in hits if h.doc_id == q.doc and q.holds_answer(h.text)]
                    if right:
                        out.append(_example(q, lang, name, "answer", right[0] is hits[0], right[0].chunk))
                    wrong = [h for h in hits[:5] if not (h.doc_id == q.doc and q.holds_answer(h.text))]
                    if wrong:
                        out.append(_example(q, lang, name, "wrong", False, wrong[0].chunk))
                print(f"{name}: {source} {lang} done in {time.time() - t0:.0f} s", flush=True)
    cache.write_bytes(pickle.dumps(out))
    return out


# ---------------------------------------------------------------------------------------------- fitting

HELD_OUT = 7  # one dev question in 7 (by a hash of its text) stays out of training: it picks the mix weight


def held_out(e: Example) -> bool:
    return zlib.crc32(e.question.encode("utf-8")) % HELD_OUT == 0


def model_dir() -> Path:
    return Path(resolve_model_path(Settings()))


@dataclass
class Sample:
    window: reader.Window
    labels: list[bool]  # per sentence; all False for a negative
    positive: bool


def sample(tok: object, e: Example) -> Sample | None:
    wins = reader.windows(tok, e.question, e.text, e.spans)
    if e.kind != "answer":
        return Sample(wins[0], [False] * len(e.spans), False)
    if not any(e.labels) or all(e.labels):
        return Sample(wins[0], [False] * len(e.spans), True)  # nothing to learn for the sentence head
    gold = e.labels.index(True)
    win = max(wins, key=lambda w: len(w.members[gold]))
    labels = [bool(y and win.members[s]) for s, y in enumerate(e.labels)]
    return Sample(win, labels, True)


def fit(examples: list[Example], epochs: float, layers: int, out: Path, lr: float, negatives: float) -> None:
    from safetensors.torch import save_file
    from transformers import AutoModel, AutoTokenizer

    torch.manual_seed(0)
    rng = random.Random(0)
    mdir = str(model_dir())
    tok = AutoTokenizer.from_pretrained(mdir, local_files_only=True)
    bert = AutoModel.from_pretrained(mdir, local_files_only=True)
    model = reader.net(bert)
    trained = set(reader.trained_names(bert, layers))
    for n, p in bert.named_parameters():
        p.requires_grad = n in trained
    share = {"answer": 1.0, "wrong": negatives, "unanswerable": negatives}
    chosen = [e for e in examples if e.split == "dev" and not held_out(e) and rng.random() < share[e.kind]]
    samples = [s for e in chosen if (s := sample(tok, e)) is not None]
    samples.sort(key=lambda s: len(s.window.ids))
    batches = [samples[i : i + BATCH] for i in range(0, len(samples), BATCH)]
    steps = int(len(batches) * epochs)
    print(f"{len(samples)} samples, {len(batches)} batches, {steps} steps", flush=True)
    heads = [*model.sentence.parameters(), *model.passage.parameters()]
    body = [p for p in bert.parameters() if p.requires_grad]
    opt = torch.optim.AdamW([{"params": body, "lr": lr}, {"params": heads, "lr": 1e-3}], weight_decay=0.01)
    warm = max(1, steps // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda k: min((k + 1) / warm, max(0.0, (steps - k) / (steps - warm)))
    )
    model.train()
    t0, done, order = time.time(), 0, []
    while done < steps:
        if not order:
            order = list(range(len(batches)))
            rng.shuffle(order)
        group = batches[order.pop()]
        n_sent = max(len(s.labels) for s in group)
        inputs = reader.batch([s.window for s in group], n_sent)
        present = inputs["pool"].sum(-1) > 0
        s_logits, p_logits = model(**inputs)
        s_logits = s_logits.masked_fill(~present, -1e4)
        gold = torch.zeros_like(s_logits, dtype=torch.bool)
        for i, s in enumerate(group):
            gold[i, : len(s.labels)] = torch.tensor(s.labels)
        has = gold.any(-1)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(
            p_logits, torch.tensor([float(s.positive) for s in group])
        )
        if has.any():
            full = torch.logsumexp(s_logits[has], -1)
            right = torch.logsumexp(s_logits[has].masked_fill(~gold[has], -1e4), -1)
            loss = loss + (full - right).mean()
        loss.backward()
        opt.step()
        sched.step()
        opt.zero_grad()
        done += 1
        if done % 25 == 0:
            print(f"step {done}/{steps} loss {loss.item():.3f} {time.time() - t0:.0f} s", flush=True)
    state = {f"bert.{n}": p.detach().half().contiguous() for n, p in bert.named_parameters() if n in trained}
    state |= {f"sentence.{n}": p.detach().half() for n, p in model.sentence.named_parameters()}
    state |= {f"passage.{n}": p.detach().half() for n, p in model.passage.named_parameters()}
    meta = {"layers": str(layers), "epochs": str(epochs), "samples": str(len(samples)), "lr": str(lr)}
    save_file(state, str(out), metadata=meta)
    print(f"wrote {out} in {time.time() - t0:.0f} s", flush=True)


BATCH = 8


def auroc(pos: list[float], neg: list[float]) -> float:
    if not pos or not neg:
        return float("nan")
    neg_sorted = np.sort(neg)
    return float(np.mean([np.searchsorted(neg_sorted, p, side="left") for p in pos]) / len(neg))


def report(examples: list[Example], weights: Path, split: str, limit: int) -> None:
    """answer@1 given a right first passage: the linear model, the reader, and their mix; the passage head's
    AUROC for a right first passage against an unanswerable question's first passage."""

    torch.set_num_threads(2)
    rd = reader.load(model_dir(), weights)
    linear = {(it.query.question, name): it for name in SETS for it in train_answering.items(name)}
    rows: dict[tuple[str, str], list[tuple[np.ndarray, np.ndarray, list[bool]]]] = {}
    heads: dict[tuple[str, str, str], list[float]] = {}
    rng = random.Random(1)
    chosen = [e for e in examples if (e.split == split or (split == "held" and e.split == "dev" and held_out(e)))]
    rng.shuffle(chosen)
    counts: dict[tuple[str, str, str], int] = {}
    kept = []
    for e in chosen:  # every answer; at most ``limit`` negatives of each kind, language and set
        key = (e.corpus, e.lang, e.kind)
        counts[key] = counts.get(key, 0) + 1
        if e.kind == "answer" or counts[key] <= limit:
            kept.append(e)
    chosen = kept
    t0 = time.time()
    cache = RESULTS / f"reader-logits-{weights.stem}-{split}.pkl"
    read = pickle.loads(cache.read_bytes()) if cache.exists() else {}
    for n, e in enumerate(chosen):
        key = (e.corpus, e.lang, e.kind, e.question, e.text)
        if key not in read:
            read[key] = rd.read(e.question, e.text, e.spans)
        s_logits, p_logit = read[key]
        heads.setdefault((e.corpus, e.lang, e.kind if not e.top_hit else "top"), []).append(p_logit)
        if e.kind == "answer" and e.top_hit and (it := linear.get((e.question, e.corpus))) is not None:
            texts = [e.text[a:b] for a, b in e.spans]
            x = train_answering.sentence_features.features(it.asked, texts, it.cosines)
            rows.setdefault((e.corpus, e.lang), []).append((answering.model().scores(x), s_logits, e.labels))
        if n % 200 == 0:
            print(f"{n}/{len(chosen)} {time.time() - t0:.0f} s", flush=True)
    cache.write_bytes(pickle.dumps(read))
    for (corpus, lang), got in sorted(rows.items()):
        line = [f"{corpus} {lang} {split} ({len(got)})"]
        for alpha in (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, None):
            acc = np.mean([y[int(np.argmax(lin if alpha is None else r + alpha * lin))] for lin, r, y in got])
            line.append(f"{'linear' if alpha is None else alpha}: {acc:.4f}")
        print("  ".join(line))
        pos = heads.get((corpus, lang, "top"), [])
        print(
            f"   passage head AUROC top-right vs unanswerable {auroc(pos, heads.get((corpus, lang, 'unanswerable'), [])):.4f}"
            f" vs wrong {auroc(pos, heads.get((corpus, lang, 'wrong'), [])):.4f}"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("step", choices=("collect", "fit", "report"))
    ap.add_argument("--epochs", type=float, default=1.5)
    ap.add_argument("--train-layers", type=int, default=6)
    ap.add_argument("--lr", type=float, default=1e-4, help="of the trained layers (the heads: 1e-3)")
    ap.add_argument("--negatives", type=float, default=0.0, help="share of wrong and unanswerable passages")
    ap.add_argument("--split", default="test", choices=("test", "held"))
    ap.add_argument("--report-negatives", type=int, default=300, help="negatives per kind, language and set")
    ap.add_argument("--weights", type=Path, default=None)
    args = ap.parse_args()
    examples = collect()
    kinds: dict[tuple[str, str, str], int] = {}
    for e in examples:
        kinds[(e.corpus, e.lang, e.kind)] = kinds.get((e.corpus, e.lang, e.kind), 0) + 1
    print(kinds)
    weights = args.weights or reader.weights_path()
    if args.step == "fit":
        fit(examples, args.epochs, args.train_layers, weights, args.lr, args.negatives)
    elif args.step == "report":
        report(examples, weights, args.split, args.report_negatives)


if __name__ == "__main__":
    main()
