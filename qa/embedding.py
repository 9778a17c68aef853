"""The embedding seam: turn queries and passages into normalized float32 vectors.

Everything above this module sees only :class:`Embedder`; the real one wraps a
sentence-transformers model whose prompts (``query: `` / ``passage: `` for e5)
come from the model's own config.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from qa.config import BUNDLED_MODEL, Settings
from qa.errors import ModelError

log = logging.getLogger(__name__)


class Embedder(Protocol):
    """What the index and retrieval need from a model."""

    name: str
    dim: int

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray: ...

    def encode_passages(self, texts: Sequence[str]) -> np.ndarray: ...


class SentenceTransformerEmbedder:
    """A sentence-transformers model; encodes under a lock because torch on 2 cores gains nothing from overlap."""

    def __init__(self, model, name: str, batch_size: int = 32) -> None:  # type: ignore[no-untyped-def]
        self._model = model
        self.name = name
        get_dim = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        self.dim = int(get_dim())
        self.batch_size = batch_size
        self._lock = threading.Lock()

    @property
    def tokenizer(self):  # type: ignore[no-untyped-def]
        return self._model.tokenizer

    def _encode(self, method, texts: Sequence[str]) -> np.ndarray:  # type: ignore[no-untyped-def]
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        with self._lock:
            # sentence-transformers sorts by length inside encode(), which keeps
            # padding (and so wasted work) low within each batch.
            out = method(
                list(texts),
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.ascontiguousarray(out, dtype=np.float32)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(self._model.encode_query, texts)

    def encode_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(self._model.encode_document, texts)


def resolve_model_path(settings: Settings) -> str:
    """The bundled model's materialized folder, or the user's path / hub id as given."""
    if settings.model == BUNDLED_MODEL:
        from qa.models.provision import materialize

        return str(materialize(settings.model_cache))
    return settings.model


def load_embedder(settings: Settings) -> SentenceTransformerEmbedder:
    path = resolve_model_path(settings)
    try:
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # a per-start "Loading weights" bar is noise in server logs

        # The bundled folder is complete on disk: never let a missing file turn into a hub download.
        model = SentenceTransformer(path, device="cpu", local_files_only=settings.model == BUNDLED_MODEL)
    except Exception as exc:  # noqa: BLE001 - any loader failure is a model error for users
        raise ModelError(f"cannot load embedding model {settings.model!r} from {path}: {exc}") from exc
    model.eval()
    return SentenceTransformerEmbedder(model, name=settings.model, batch_size=settings.batch_size)


