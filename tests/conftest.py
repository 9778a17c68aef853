"""Shared fixtures: the real bundled model (loaded once per session), a counting fake for non-semantic logic,
services over the seed article, and polling a background job."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
# A Chinese question over passages in English loads the translation model (seconds, in every server process
# the tests start): off for the suite, on in the tests of it (test_translation.py), which say so.
os.environ.setdefault("QA_TRANSLATE_QUESTIONS", "false")

from qa.config import Settings
from qa.service.core import QAService

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "seeds" / "laoshan-vr-ai.txt"
EVAL = ROOT.parent / "shared" / "eval"
TEST_HOSTS = {"allowed_hosts": "localhost,127.0.0.1,::1,testserver"}  # FastAPI's TestClient sends Host: testserver


class CountingEmbedder:
    """A deterministic embedder for store and update logic: a text's vector is a hash of it.

    It implements the real seam (not a mock), and counts what it was asked to
    embed so tests can assert that unchanged documents are never re-embedded.
    """

    name = "test:hash-embedder"
    dim = 16

    def __init__(self) -> None:
        self.passages_embedded = 0

    def _vec(self, text: str) -> np.ndarray:
        seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
        v = np.random.default_rng(seed).standard_normal(self.dim).astype(np.float32)
        return v / np.linalg.norm(v)

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        return np.vstack([self._vec(t) for t in texts]) if texts else np.zeros((0, self.dim), np.float32)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts)

    def encode_passages(self, texts: Sequence[str]) -> np.ndarray:
        self.passages_embedded += len(texts)
        return self._encode(texts)


def backend_settings(root: Path) -> dict[str, Any]:
    """``QA_TEST_BACKEND=milvus`` runs the tests built on these fixtures against milvus-lite (one .db per test)."""
    if os.environ.get("QA_TEST_BACKEND") == "milvus":
        return {"backend": "milvus", "milvus_uri": str(root / "milvus.db")}
    return {}


def seed_service(root: Path, embedder: Any, **settings: Any) -> QAService:
    """A service over a copy of the seed article in ``root/docs``, with its index built in ``root/index``."""
    docs = root / "docs"
    docs.mkdir(parents=True, exist_ok=True)
    if not (docs / SEED.name).exists():
        (docs / SEED.name).write_bytes(SEED.read_bytes())
    if isinstance(embedder, CountingEmbedder):  # its vectors mean nothing: no passage would reach a threshold
        settings.setdefault("min_relevance", 0.0)
    settings = {
        "docs_dir": docs,
        "index_dir": root / "index",
        "collections_dir": root / "collections",
        **TEST_HOSTS,
        **backend_settings(root),
        **settings,
    }
    service = QAService(Settings(**settings), embedder)
    service.writer.ensure()
    return service


def wait_for_job(poll: Callable[[], Any], timeout: float = 180) -> Any:
    """Poll a background job (a JSON dict or a client's ``Job``) until it is neither queued nor running."""
    deadline = time.monotonic() + timeout
    while True:
        job = poll()
        state = job["state"] if isinstance(job, dict) else job.state
        if state not in ("queued", "running") or time.monotonic() > deadline:
            return job
        time.sleep(0.05)


@pytest.fixture
def fake_embedder() -> CountingEmbedder:
    return CountingEmbedder()


@pytest.fixture(scope="session")
def real_embedder():  # type: ignore[no-untyped-def]
    """The bundled model, materialized into the user's cache once and loaded once for the whole session."""
    from qa.encoder.embedder import load_embedder

    return load_embedder(Settings())


@pytest.fixture
def seed_docs(tmp_path: Path) -> Path:
    docs = tmp_path / "docs"
    docs.mkdir(exist_ok=True)
    (docs / SEED.name).write_bytes(SEED.read_bytes())
    return docs


@pytest.fixture
def folder_segments(monkeypatch: pytest.MonkeyPatch) -> None:
    """Segments written as folders, as a large one is: the seed article alone would be packed into one file."""
    from qa.index import segment

    monkeypatch.setattr(segment, "PACKED_MAX_WINDOWS", -1)


@pytest.fixture
def make_settings(tmp_path: Path):  # type: ignore[no-untyped-def]
    def make(**kw: object) -> Settings:
        kw.setdefault("docs_dir", tmp_path / "docs")
        kw.setdefault("index_dir", tmp_path / "index")
        kw.setdefault("collections_dir", tmp_path / "collections")
        kw = {**TEST_HOSTS, **backend_settings(tmp_path), **kw}
        return Settings(**kw)  # type: ignore[arg-type]

    return make


@pytest.fixture
def make_service(tmp_path: Path, fake_embedder: CountingEmbedder) -> Callable[..., QAService]:
    """``make_service(**settings)``: a service over the seed article with the counting embedder (``embedder=`` for another)."""

    def make(embedder: Any = None, **settings: Any) -> QAService:
        return seed_service(tmp_path, embedder or fake_embedder, **settings)

    return make


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Markers that follow from what a test uses, so they cannot drift from it: ``model`` wherever the real model
    is a fixture (directly or through another fixture), and ``slow`` wherever Chromium is started."""
    for item in items:
        if "real_embedder" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.model)
        if item.get_closest_marker("browser"):
            item.add_marker(pytest.mark.slow)
