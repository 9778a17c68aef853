"""Shared fixtures: the real bundled model (loaded once per session) and a counting fake for non-semantic logic."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from qa.config import Settings  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "seeds" / "laoshan-vr-ai.txt"
EVAL = ROOT.parent / "shared" / "eval"


class CountingEmbedder:
    """A deterministic embedder for store and update logic: a text's vector is a hash of it.

    It implements the real seam (not a mock), and counts what it was asked to
    embed so tests can assert that unchanged documents are never re-embedded.
    """

    name = "test:hash-embedder"
    dim = 16

    def __init__(self) -> None:
        self.passages_embedded = 0
        self.queries_embedded = 0

    def _vec(self, text: str) -> np.ndarray:
        seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
        v = np.random.default_rng(seed).standard_normal(self.dim).astype(np.float32)
        return v / np.linalg.norm(v)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        self.queries_embedded += len(texts)
        return np.vstack([self._vec(t) for t in texts]) if texts else np.zeros((0, self.dim), np.float32)

    def encode_passages(self, texts: Sequence[str]) -> np.ndarray:
        self.passages_embedded += len(texts)
        return np.vstack([self._vec(t) for t in texts]) if texts else np.zeros((0, self.dim), np.float32)


@pytest.fixture
def fake_embedder() -> CountingEmbedder:
    return CountingEmbedder()


@pytest.fixture(scope="session")
def real_embedder():  # type: ignore[no-untyped-def]
    from qa.embedding import load_embedder

    return load_embedder(Settings())


@pytest.fixture
def seed_docs(tmp_path: Path) -> Path:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / SEED.name).write_bytes(SEED.read_bytes())
    return docs


@pytest.fixture
def make_settings(tmp_path: Path):  # type: ignore[no-untyped-def]
    def make(**kw: object) -> Settings:
        kw.setdefault("docs_dir", tmp_path / "docs")
        kw.setdefault("index_dir", tmp_path / "index")
        return Settings(**kw)  # type: ignore[arg-type]

    return make
