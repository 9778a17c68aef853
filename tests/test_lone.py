"""A lone query on ONNX Runtime: the same vectors as torch, used only when it has no company, on no more threads than cores."""

from __future__ import annotations

import json
import os
import signal
import threading
from pathlib import Path

import numpy as np
import pytest

from qa.encoder import compute, lone
from qa.encoder.batching import BatchingEmbedder

from conftest import EVAL, ROOT

pytestmark = pytest.mark.slow


def _questions() -> list[str]:
    files = [ROOT / "tests" / "fixtures" / "seed_questions.jsonl"]
    files += [p for p in (EVAL / "cmrc2018_dev" / "queries_public.jsonl", EVAL / "drcd_dev" / "queries_public.jsonl")]
    out: list[str] = []
    for f in files:
        if f.exists():
            out += [json.loads(line)["question"] for line in f.read_text(encoding="utf-8").splitlines()[:60]]
    return out


def test_lone_queries_match_torch_in_the_same_vector_space(real_embedder) -> None:  # type: ignore[no-untyped-def]
    """ONNX Runtime (fp32) against the torch path (bf16 where the CPU has it), and against the passages torch embeds."""
    assert real_embedder.lone is not None, "the default (auto) takes ONNX Runtime for the bundled model"
    texts = [
        *_questions(),
        "",
        "短",
        "  leading and trailing spaces  ",
        "How large is the Qingdao VR park?",
        "问" * 600,
    ]
    torch_vecs = real_embedder.encode_queries(texts)
    lone_vecs = np.stack([real_embedder.encode_alone(t) for t in texts])
    assert lone_vecs.dtype == np.float32 and np.allclose(np.linalg.norm(lone_vecs, axis=1), 1, atol=1e-5)
    cos = np.sum(lone_vecs * torch_vecs, axis=1)
    assert cos.min() >= 0.9999, (texts[int(cos.argmin())], cos.min())
    # Ranking passages: the ONNX question finds what the torch question finds.
    passages = [
        p for p in (ROOT / "seeds" / "laoshan-vr-ai.txt").read_text(encoding="utf-8").split("\n\n") if p.strip()
    ]
    p_vecs = real_embedder.encode_passages(passages)
    seed = texts[:25]
    assert np.array_equal(
        np.argmax(lone_vecs[:25] @ p_vecs.T, axis=1), np.argmax(torch_vecs[:25] @ p_vecs.T, axis=1)
    ), seed


def test_the_graph_is_exported_once_beside_the_model_and_reused(real_embedder) -> None:  # type: ignore[no-untyped-def]
    from qa.config import Settings
    from qa.encoder.bundled import provision
    from qa.encoder.embedder import _lone_encoder

    folder = provision.materialize(Settings().model_cache)
    graph = lone.graph_path(folder)
    assert graph.parent == folder.parent and graph.name.startswith(folder.name) and graph.is_file()
    assert graph.stat().st_size < 150_000_000  # the encoder layers, not the 384 MB word table
    mtime = graph.stat().st_mtime_ns
    again = _lone_encoder(Settings(), real_embedder._model, str(folder))
    assert again is not None and graph.stat().st_mtime_ns == mtime
    assert not list(folder.parent.glob(".tmp-*.onnx"))


def test_a_fresh_export_matches_the_model(real_embedder, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    graph = tmp_path / "graph.onnx"
    compute.run(lone.export, real_embedder._model, graph)
    fresh = lone.LoneEncoder(real_embedder._model, graph, threads=1)
    text = "query: 青岛市虚拟现实产业园规划面积有多大?"
    assert float(fresh.encode(text) @ real_embedder.lone.encode(text)) > 0.99999
    assert [p.name for p in tmp_path.iterdir()] == ["graph.onnx"]


def test_threads_never_outnumber_the_cores(real_embedder) -> None:  # type: ignore[no-untyped-def]
    """ONNX Runtime takes every core only for a lone query; the torch workers' threads add up to the cores."""
    cores = compute.cores()
    assert real_embedder.lone.threads == cores
    assert real_embedder.lone._session.get_session_options().intra_op_num_threads == cores
    assert real_embedder.workers * max(1, cores // real_embedder.workers) <= cores


def test_idle_queries_go_to_onnx_and_concurrent_ones_to_packed_batches(real_embedder) -> None:  # type: ignore[no-untyped-def]
    counts = {"lone": 0, "batched": 0}
    lock = threading.Lock()

    class Counting:
        """The real embedder, counting which path each query took."""

        name, dim, workers = real_embedder.name, real_embedder.dim, real_embedder.workers

        def encode_alone(self, text: str) -> np.ndarray:
            with lock:
                counts["lone"] += 1
            return real_embedder.encode_alone(text)

        def encode_queries(self, texts):  # type: ignore[no-untyped-def]
            with lock:
                counts["batched"] += len(texts)
            return real_embedder.encode_queries(texts)

        def encode_passages(self, texts):  # type: ignore[no-untyped-def]
            return real_embedder.encode_passages(texts)

    batching = BatchingEmbedder(Counting(), wait_ms=5, max_batch=10, cache_size=0)
    questions = _questions()[:48]
    reference = real_embedder.encode_queries(questions)
    for q in questions[:5]:
        batching.encode_query(q)
    assert counts == {"lone": 5, "batched": 0}

    got: dict[int, np.ndarray] = {}
    start = threading.Barrier(16)

    def client(k: int) -> None:
        start.wait()
        for i in range(k, len(questions), 16):
            got[i] = batching.encode_query(questions[i])

    threads = [threading.Thread(target=client, args=(k,)) for k in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert sorted(got) == list(range(len(questions)))
    assert counts["batched"] >= 0.75 * len(questions), counts  # 16 clients: packed batches, not lone calls
    for i, vec in got.items():
        assert float(vec @ reference[i]) >= 0.9999


def test_the_setting_chooses_and_onnx_refuses_what_it_cannot_run(real_embedder) -> None:  # type: ignore[no-untyped-def]
    from qa.config import Settings
    from qa.encoder.embedder import _lone_encoder
    from qa.errors import ModelError

    model = real_embedder._model
    assert _lone_encoder(Settings(query_runtime="torch"), model, "unused") is None
    assert _lone_encoder(Settings(model="/some/other-model"), model, "/some/other-model") is None  # auto: torch
    with pytest.raises(ModelError, match="bundled model only"):
        _lone_encoder(Settings(model="/some/other-model", query_runtime="onnx"), model, "/some/other-model")


def test_a_forked_child_encodes_on_torch_instead_of_waiting_for_threads_it_lacks(real_embedder) -> None:  # type: ignore[no-untyped-def]
    text = "青岛的虚拟现实产业园有多大?"
    expected = real_embedder.encode_alone(text)
    pid = os.fork()
    if pid == 0:  # the child exits here, whatever happens
        signal.alarm(60)  # a hang kills the child, not the suite
        try:
            code = 0 if float(real_embedder.encode_alone(text) @ expected) > 0.9999 else 1
        except BaseException:  # noqa: BLE001
            code = 2
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
