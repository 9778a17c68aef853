"""Two `qa serve` replicas behind a real nginx over one `milvus-lite server`, each SIGKILLed and restarted while
clients search and write through the balancer: no search fails, no acknowledged write is lost.

The scenario and the nginx configuration are benchmarks/bench_balancer.py's (tests/balancer.py), with shorter
phases. Skipped where nginx is not installed (Debian: nginx-light; .ci/run installs it).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from balancer import NGINX

pytest.importorskip("pymilvus", reason="the milvus extra is not installed: pip install -e '.[milvus]'")
pytest.importorskip("milvus_lite", reason="the milvus extra is not installed: pip install -e '.[milvus]'")

pytestmark = [
    pytest.mark.slow,  # three servers, two of them started twice
    pytest.mark.model,  # in the `qa serve` processes
    pytest.mark.skipif(NGINX is None, reason="nginx is not installed (Debian: apt-get install nginx-light)"),
]


def test_replicas_killed_under_load_fail_no_search_and_lose_no_write(tmp_path: Path) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from bench_balancer import run

    r = run(tmp_path, warm=4, between=3, after=3, searchers=2, writers=2, lexical="process")
    assert r["searches"] > 20 and r["failed searches"] == 0, r
    assert r["acknowledged writes"] > 5 and r["lost writes"] == [], r
    # PUT and DELETE are retried on the other replica; a POST that a killed replica had received is not (it may
    # have been stored), so its client may see a 502: that is by design. About one PUT or DELETE in 170 still got
    # a 5xx in two runs of about eight (docs/scaling-out.md: not yet traced), so their 5xx are reported, not asserted.
    print("writes answered 5xx at the balancer:", r["writes 5xx"], r["nginx"]["5xx"])
    assert r["nginx"]["retried"] > 0, r  # the kills did cut requests off, and nginx sent them on
    assert r["replicas list what is stored"], r
