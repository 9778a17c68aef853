"""Translate Chinese text to English with the provisioned OPUS-MT model, on CTranslate2 and SentencePiece.

A text is cut into sentences (the model was trained on sentences, and a long
input both slows decoding and loses its end); all sentences of a call are
translated together, greedy and in int8, batched by length so a batch pads
little, and joined back per text. Text with no Chinese in it is returned as
it is.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from qa.errors import ModelError

_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_SENTENCE_END = re.compile(r"(?<=[。！？!?；;…])|\n+")
_CLAUSE_END = re.compile(r"(?<=[，,、：:])")
MAX_PIECES = 120  # longer sentences are cut at commas: OPUS-MT drops the tail of very long inputs


@dataclass(frozen=True)
class Threads:
    """How CTranslate2 uses the cores: ``inter`` batches run at once, each on ``intra`` threads."""

    inter: int = 1
    intra: int = 0  # 0: CTranslate2 picks (every core)


class Translator:
    """A loaded zh→en model. Thread-safe: CTranslate2 queues concurrent calls onto its ``inter`` workers."""

    def __init__(self, folder: Path, threads: Threads = Threads(), *, max_batch: int = 32) -> None:
        try:
            import ctranslate2
            import sentencepiece
        except ImportError as exc:  # pragma: no cover - a broken install
            raise ModelError("translation needs 'ctranslate2' and 'sentencepiece': pip install -e .") from exc
        self.folder = folder
        self.max_batch = max_batch
        self._model = ctranslate2.Translator(
            str(folder / "model"),
            device="cpu",
            compute_type="int8",
            inter_threads=threads.inter,
            intra_threads=threads.intra,
        )
        self._vmap = (folder / "model" / "vmap.txt").is_file()  # English pieces only (provision._write_vmap)
        self._pieces = sentencepiece.SentencePieceProcessor(model_file=str(folder / "sentencepiece.model"))
        self._lock = threading.Lock()  # the SentencePiece processor is not documented thread-safe

    def translate(self, texts: Sequence[str]) -> list[str]:
        """Each text in English, in order; one model call for all their sentences."""
        parts = [_sentences(t) if _CJK.search(t) else [] for t in texts]
        flat = [s for p in parts for s in p]
        with self._lock:
            tokens = [_cap(self._pieces.encode(s, out_type=str)) for s in flat]
        english = iter(self._decode(tokens))
        return [" ".join(next(english) for _ in p) if p else t for t, p in zip(texts, parts, strict=True)]

    def _decode(self, tokens: list[list[str]]) -> list[str]:
        if not tokens:
            return []
        order = sorted(range(len(tokens)), key=lambda i: len(tokens[i]))  # batches of like lengths pad little
        results = self._model.translate_batch(
            [tokens[i] for i in order],
            beam_size=1,
            max_batch_size=self.max_batch,
            max_decoding_length=2 * MAX_PIECES,
            use_vmap=self._vmap,
        )
        out = [""] * len(tokens)
        for i, result in zip(order, results, strict=True):
            out[i] = "".join(result.hypotheses[0]).replace("▁", " ").strip()
        return out


def _sentences(text: str) -> list[str]:
    """The sentences of ``text``; one over ``MAX_PIECES`` characters is cut at its commas."""
    out = []
    for sentence in filter(None, (s.strip() for s in _SENTENCE_END.split(text))):
        if len(sentence) <= MAX_PIECES:
            out.append(sentence)
            continue
        piece = ""
        for clause in _CLAUSE_END.split(sentence):
            if piece and len(piece) + len(clause) > MAX_PIECES:
                out.append(piece)
                piece = ""
            piece += clause
        out += [piece] if piece.strip() else []
    return out


def _cap(pieces: list[str]) -> list[str]:
    return pieces[: 2 * MAX_PIECES]  # a sentence with no comma to cut at: its tail is lost either way
