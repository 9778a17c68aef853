"""The embedding seam: turn queries and passages into normalized float32 vectors.

Everything above this module sees only :class:`Embedder`; the real one wraps a
sentence-transformers model whose prompts (``query: `` / ``passage: `` for e5)
come from the model's own config.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from qa.config import BUNDLED_MODEL, Settings
from qa.encoder import compute, lone, packed
from qa.encoder.packed import SentenceModel
from qa.errors import ModelError

log = logging.getLogger(__name__)
_PACKED_MAX = 64  # questions per packed call; larger lists go through sentence-transformers in batches


class Embedder(Protocol):
    """What the index and retrieval need from a model."""

    name: str
    dim: int

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray: ...

    def encode_passages(self, texts: Sequence[str]) -> np.ndarray: ...


def native_bf16() -> bool:
    """Whether this CPU multiplies bf16 in hardware (AVX512-BF16 or AMX); elsewhere bf16 is emulated and slower."""
    try:
        import torch

        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except Exception:  # noqa: BLE001 - a torch without these probes: stay on fp32
        return False


class SentenceTransformerEmbedder:
    """A sentence-transformers model, run on the torch workers of :mod:`qa.compute`.

    Each call runs on one worker; a long list of passages is dealt out to all
    of them, so indexing uses every core the way concurrent queries do.

    With ``bf16`` the matmuls run under CPU autocast: the encoder is the whole
    cost of a query, and on CPUs with native bf16 this is markedly faster
    while the vectors stay within cosine 0.9999 of fp32 (the weights stay
    fp32; tests/test_model.py holds that bound and the seed ranks).
    """

    def __init__(
        self,
        model: SentenceModel,
        name: str,
        batch_size: int = 32,
        bf16: bool = False,
        workers: int = 1,
        lone_encoder: lone.LoneEncoder | None = None,
    ) -> None:
        self._model = model
        self.name = name
        get_dim = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        self.dim = int(get_dim())
        self.batch_size = batch_size
        self.bf16 = bf16
        self.workers = workers  # calls that can run at once; the query batcher runs this many batches
        # Batches of questions of mixed lengths skip their padding (qa.packed); passages
        # arrive sorted by length from the indexer and gain nothing from it.
        self._packed_queries = packed.supports(model)
        self._query_prompt = (getattr(model, "prompts", None) or {}).get("query", "")
        self.lone = lone_encoder  # a query with nothing else in flight runs here, on every core (qa.encoder.lone)

    def _precision(self) -> contextlib.AbstractContextManager[object]:
        if not self.bf16:
            return contextlib.nullcontext()
        import torch

        return torch.autocast("cpu", dtype=torch.bfloat16)

    @property
    def tokenizer(self) -> Any:  # the model's (a transformers tokenizer), for callers that count tokens
        return self._model.tokenizer

    @property
    def transformer(self) -> Any:
        """The model's transformer (a transformers ``BertModel`` for e5), which the answer reader shares."""
        return self._model[0].auto_model

    def _encode(self, method: Callable[..., Any], texts: Sequence[str], *, split_small: bool = False) -> np.ndarray:
        """``texts`` on the torch workers, a shard each. ``split_small``: several texts fewer than a batch are dealt
        out too (one small document's windows: 139 -> 82 ms for 7 windows on two workers, and a write waits for
        them); otherwise a shard is at least a batch."""
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        texts = list(texts)
        shards = min(self.workers, len(texts) if split_small else -(-len(texts) // self.batch_size))
        if shards <= 1:
            return compute.run(self._encode_here, method, texts)
        # Dealt round-robin, so every shard gets a like mix of lengths.
        futures = [compute.submit(self._encode_here, method, texts[k::shards]) for k in range(shards)]
        out = np.empty((len(texts), self.dim), np.float32)
        for k, future in enumerate(futures):
            out[k::shards] = future.result()
        return out

    def _encode_here(self, method: Callable[..., Any], texts: list[str]) -> np.ndarray:
        with self._precision():
            # sentence-transformers sorts by length inside encode(), which keeps
            # padding (and so wasted work) low within each batch.
            out = method(
                texts,
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.ascontiguousarray(out, dtype=np.float32)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        if self._packed_queries and 1 < len(texts) <= _PACKED_MAX:
            return compute.run(self._encode_packed, [self._query_prompt + t for t in texts])
        return self._encode(self._model.encode_query, texts)

    def encode_alone(self, text: str) -> np.ndarray:
        """One query that has no company: on every core through ONNX Runtime when there is a lone encoder."""
        if self.lone is None or not self.lone.usable():
            vec: np.ndarray = self.encode_queries([text])[0]
            return vec
        return self.lone.encode(self._query_prompt + text)

    def _encode_packed(self, texts: list[str]) -> np.ndarray:
        with self._precision():
            return packed.encode(self._model, texts)

    def encode_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(self._model.encode_document, texts, split_small=True)


def resolve_model_path(settings: Settings) -> str:
    """The bundled model's materialized folder, or the user's path / hub id as given."""
    if settings.model == BUNDLED_MODEL:
        from qa.encoder.bundled.provision import materialize

        return str(materialize(settings.model_cache))
    return settings.model


def load_embedder(settings: Settings) -> SentenceTransformerEmbedder:
    path = resolve_model_path(settings)
    try:
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # a per-start "Loading weights" bar is noise in server logs

        # The bundled folder is complete on disk: never let a missing file turn into a hub download.
        # Loaded on a torch worker: loading runs torch's parallel copies too.
        workers = compute.start(settings.encoder_workers)
        model = compute.run(SentenceTransformer, path, device="cpu", local_files_only=settings.model == BUNDLED_MODEL)
    except Exception as exc:  # any loader failure is a model error for users
        raise ModelError(f"cannot load embedding model {settings.model!r} from {path}: {exc}") from exc
    model.eval()
    bf16 = settings.precision == "bf16" or (settings.precision == "auto" and native_bf16())
    return SentenceTransformerEmbedder(
        model,
        name=settings.model,
        batch_size=settings.batch_size,
        bf16=bf16,
        workers=workers,
        lone_encoder=_lone_encoder(settings, model, path),
    )


def _lone_encoder(settings: Settings, model: SentenceModel, path: str) -> lone.LoneEncoder | None:
    """The ONNX Runtime encoder for lone queries that ``QA_QUERY_RUNTIME`` asks for, exporting its graph once.

    ``auto`` takes it where it can be had (the bundled model, onnxruntime
    installed) and otherwise stays on torch; ``onnx`` fails without it.
    """
    if settings.query_runtime == "torch":
        return None
    if settings.model != BUNDLED_MODEL or not packed.supports(model):
        if settings.query_runtime == "onnx":
            raise ModelError("QA_QUERY_RUNTIME=onnx runs the bundled model only")
        return None
    try:
        graph = lone.graph_path(Path(path))
        if not graph.exists():
            log.info("exporting the lone-query graph to %s (once)", graph)
            compute.run(lone.export, model, graph)
        return lone.LoneEncoder(model, graph, threads=compute.cores())
    except Exception as exc:  # auto falls back to torch; onnx says why it cannot
        why = f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0]}"
        if settings.query_runtime == "onnx":
            raise ModelError(f"QA_QUERY_RUNTIME=onnx: {why}") from exc
        log.warning("lone queries stay on torch (%s)", why)
        return None
