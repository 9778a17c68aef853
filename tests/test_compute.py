"""The torch worker pool: every caller's texts come back as its own vectors, whichever thread asks."""

from __future__ import annotations

import os
import signal
import threading

import numpy as np

from qa.encoder import compute


def test_concurrent_callers_get_their_own_vectors(real_embedder) -> None:  # type: ignore[no-untyped-def]
    texts = [f"第{i}个问题:青岛的虚拟现实产业园有多大?" if i % 2 else f"question {i} about Laoshan" for i in range(12)]
    expected = real_embedder.encode_queries(texts)
    got: dict[int, np.ndarray] = {}

    def ask(i: int) -> None:
        got[i] = real_embedder.encode_queries([texts[i]])[0]

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(texts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(got) == list(range(len(texts)))
    for i, vec in got.items():
        assert float(vec @ expected[i]) > 0.9999


def test_a_forked_child_starts_a_pool_of_its_own() -> None:
    """The parent's pool threads do not exist in a forked child: its first call must run, not wait on them forever."""
    assert compute.run(sum, [1, 2]) == 3  # the parent's pool exists and has worked
    pid = os.fork()
    if pid == 0:  # the child exits here, whatever happens
        signal.alarm(20)  # a hang kills the child, not the suite
        try:
            code = 0 if compute.run(sum, [1, 2, 3]) == 6 else 1
        except BaseException:  # noqa: BLE001
            code = 2
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
