"""Read a question and a passage together: which of its sentences answers, and whether any does.

The answering model (:mod:`qa.search.answering`) sees each sentence through
a few dozen numbers: cosines, overlaps, answer-type cues. It cannot see that
"青岛图灵科技有限公司牵头" answers "which company runs it" while the sentence
before merely repeats the question's words. A cross-encoder can: the bundled
e5 reads ``[CLS] question [SEP] passage [SEP]`` in one pass, each sentence
gets a logit from the mean of its tokens' final states, and the passage one
from ``[CLS]``. Its top layers and the two heads were fine-tuned on the dev
halves of CMRC 2018 and DRCD, Chinese and English questions
(``benchmarks/train_reader.py``); the shipped file holds only those layers
(fp16), the rest is the bundled e5 as it is.

A passage longer than the model's 512 tokens is read in overlapping windows;
a sentence takes its logit from the window that holds most of it.
"""

from __future__ import annotations

import bisect
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from qa.config import BUNDLED_MODEL, Settings
from qa.encoder import compute

log = logging.getLogger(__name__)
WEIGHTS = "reader.safetensors"
MAX_TOKENS = 512
_STRIDE = 96  # tokens of passage repeated between windows


@dataclass(frozen=True)
class Window:
    """One model input: token ids and, per sentence, the indices of its tokens in this window."""

    ids: list[int]
    members: list[list[int]]  # per sentence of the passage (empty when the sentence is not in this window)


def windows(tokenizer: Any, question: str, text: str, spans: list[tuple[int, int]]) -> list[Window]:
    """``question`` and ``text`` as model inputs; ``spans`` are the sentences, as offsets into ``text``."""
    enc = tokenizer(
        question,
        text,
        truncation="only_second",
        max_length=MAX_TOKENS,
        stride=_STRIDE,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
    )
    starts = [a for a, _ in spans]
    out = []
    for w in range(len(enc["input_ids"])):
        members: list[list[int]] = [[] for _ in spans]
        for t, (seq, (a, b)) in enumerate(zip(enc.sequence_ids(w), enc["offset_mapping"][w], strict=True)):
            if seq != 1 or b <= a:
                continue
            s = bisect.bisect_right(starts, a) - 1
            if s >= 0 and a < spans[s][1]:
                members[s].append(t)
        out.append(Window(list(enc["input_ids"][w]), members))
    return out


def batch(wins: list[Window], n_sentences: int) -> dict[str, Any]:
    """Padded tensors for a list of windows: ids, attention mask, and a [window, sentence, token] mean-pooling
    matrix (a row of zeros where the sentence has no token in that window)."""
    import torch

    length = max(len(w.ids) for w in wins)
    ids = torch.zeros((len(wins), length), dtype=torch.long)  # 0 is XLM-R's <s>; masked out anyway
    mask = torch.zeros((len(wins), length), dtype=torch.long)
    pool = torch.zeros((len(wins), n_sentences, length))
    for i, w in enumerate(wins):
        ids[i, : len(w.ids)] = torch.tensor(w.ids)
        mask[i, : len(w.ids)] = 1
        for s, toks in enumerate(w.members):
            if toks:
                pool[i, s, toks] = 1.0 / len(toks)
    return {"input_ids": ids, "attention_mask": mask, "pool": pool}


def net(bert: Any) -> Any:
    """The reader: e5's encoder with a sentence head and a passage head."""
    import torch

    class Reader(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = bert
            size = bert.config.hidden_size
            self.sentence = torch.nn.Linear(size, 1)
            self.passage = torch.nn.Linear(size, 1)

        def forward(self, input_ids: Any, attention_mask: Any, pool: Any) -> tuple[Any, Any]:
            h = self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            return self.sentence(pool @ h).squeeze(-1), self.passage(h[:, 0]).squeeze(-1)

    return Reader()


def combine(wins: list[Window], sentence_logits: np.ndarray, passage_logits: np.ndarray) -> tuple[np.ndarray, float]:
    """Per-sentence logits over a passage's windows (each from the window holding most of its tokens) and the
    passage's logit (its best window's)."""
    n = len(wins[0].members)
    out = np.full(n, -1e4, np.float64)
    most = np.zeros(n, np.int64)
    for w, win in enumerate(wins):
        for s, toks in enumerate(win.members):
            if len(toks) > most[s]:
                most[s], out[s] = len(toks), float(sentence_logits[w, s])
    return out, float(np.max(passage_logits))


def trained_names(bert: Any, layers: int) -> list[str]:
    """The parameters the fine-tuning changes: the top ``layers`` transformer layers."""
    first = bert.config.num_hidden_layers - layers
    return [n for n, _ in bert.named_parameters() if n.startswith("encoder.layer.") and int(n.split(".")[2]) >= first]


@dataclass
class Reader:
    """A loaded reader: the network (eval mode), the tokenizer, and what its file says of itself."""

    model: Any
    tokenizer: Any
    meta: dict[str, str]

    def read(self, question: str, text: str, spans: list[tuple[int, int]]) -> tuple[np.ndarray, float]:
        """Each sentence's logit and the passage's."""
        import torch

        wins = windows(self.tokenizer, question, text, spans)
        with torch.inference_mode():
            s, p = self.model(**batch(wins, len(spans)))
        return combine(wins, s.float().numpy(), p.float().numpy())


def attach(base: Any, tokenizer: Any, weights: Path | None = None) -> Reader:
    """A reader over an already loaded e5 (the embedder's): its embeddings and bottom layers are shared, not
    copied, so the reader costs only its trained layers in memory; those are copied and the file laid over them."""
    import copy

    state, meta = _read(weights or weights_path())
    first = base.config.num_hidden_layers - int(meta["layers"])
    shared = [base.embeddings, *list(base.encoder.layer)[:first]]
    bert = copy.deepcopy(base, memo={id(m): m for m in shared})  # deepcopy stops at what memo already holds
    model = net(bert)
    _lay(model, state, weights or weights_path())
    return Reader(model, tokenizer, meta)


def _read(path: Path) -> tuple[dict[str, Any], dict[str, str]]:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as fh:
        meta = dict(fh.metadata() or {})
        state = {k: fh.get_tensor(k).float() for k in fh.keys()}  # noqa: SIM118 (safe_open is not a dict)
    return state, meta


def _lay(model: Any, state: dict[str, Any], path: Path) -> None:
    unknown = set(state) - set(model.state_dict())
    if unknown:
        raise RuntimeError(f"{path} holds weights this model has not: {sorted(unknown)[:3]}")
    model.load_state_dict(state, strict=False)
    model.eval()


def weights_path() -> Path:
    return Path(str(resources.files(__package__).joinpath(WEIGHTS)))


def load(model_dir: str | Path, weights: Path | None = None) -> Reader:
    """The bundled e5 at ``model_dir`` with the shipped layers and heads laid over it."""
    from transformers import AutoModel, AutoTokenizer

    path = weights or weights_path()
    state, meta = _read(path)
    model = net(AutoModel.from_pretrained(str(model_dir), local_files_only=True))
    _lay(model, state, path)
    return Reader(model, AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True), meta)


# The answer sentence's score is the reader's logit plus this much of the answering model's, for a Chinese and
# for an English question: each the best on the dev questions kept out of the reader's training
# (benchmarks/train_reader.py report --split held; 237 Chinese, 19 English). The reader reads an English question
# against Chinese text less well (alone it picks 0.58-0.60 of the answers, the answering model 0.79-0.88), so for
# English its logits count for less.
MIX = 2.0
MIX_ENGLISH = 6.0


def mix(english: bool) -> float:
    """How much of the answering model's score goes with the reader's logit, for a question in that language."""
    return MIX_ENGLISH if english else MIX


class LazyReader:
    """The reader over the service's own e5, loaded on first use, once.

    None when ``QA_READER`` is off, or the embedder is not the bundled e5 (the
    reader's layers were trained on top of its bottom ones), or the weights
    cannot be read: the answering model alone then picks the sentence.
    """

    def __init__(self, settings: Settings, embedder: object) -> None:
        self._settings = settings
        self._embedder = getattr(embedder, "inner", embedder)  # through the query batcher
        self._lock = threading.Lock()
        self._tried = False
        self._reader: Reader | None = None

    def get(self) -> Reader | None:
        with self._lock:
            if not self._tried:
                self._tried = True
                self._reader = self._load()
            return self._reader

    def _load(self) -> Reader | None:
        if not self._settings.reader or self._settings.model != BUNDLED_MODEL:
            return None
        base = getattr(self._embedder, "transformer", None)
        if base is None:
            return None
        try:
            return compute.run(attach, base, self._embedder.tokenizer)  # type: ignore[attr-defined]
        except (OSError, RuntimeError, KeyError, ValueError) as exc:
            log.warning("answers are picked without the reader: %s", exc)
            return None

    def start(self, question: str, text: str, spans: list[tuple[int, int]]) -> Callable[[], np.ndarray | None]:
        """Start reading ``text`` (its sentences' ``spans`` relative to it) on a torch worker; the returned call
        waits for each sentence's logit (None without a reader)."""
        reader = self.get()
        if reader is None or not spans:
            return lambda: None
        future = compute.submit(reader.read, question, text, spans)
        return lambda: future.result()[0]

    def sentence_logits(self, question: str, text: str, spans: list[tuple[int, int]]) -> np.ndarray | None:
        """Each sentence's logit, read now."""
        return self.start(question, text, spans)()
