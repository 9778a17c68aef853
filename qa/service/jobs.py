"""Background jobs (a full rebuild) with progress a client can poll.

A job runs in its own thread; its record is replaced, never mutated in
place, so a poll always reads a consistent snapshot. One job of a kind runs
at a time: starting another of the same kind while one is running is a
:class:`Conflict` naming the running job, because two rebuilds (or two
large documents) would only compete for the same cores and the writer lock.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any, Literal

from qa.errors import Conflict, NotFound, QAError
from qa.index.building import Progress

log = logging.getLogger(__name__)
State = Literal["queued", "running", "succeeded", "failed"]
KEEP = 100  # finished jobs remembered for polling


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class Job:
    id: str
    kind: str
    state: State = "queued"
    done: int = 0
    total: int = 0
    created_at: str = field(default_factory=_now)
    finished_at: str | None = None
    result: dict[str, Any] | None = None
    error: str | None = None


class Jobs:
    def __init__(self) -> None:
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._lock = threading.Lock()

    def _put(self, job_id: str, **changes: Any) -> None:
        with self._lock:
            self._jobs[job_id] = replace(self._jobs[job_id], **changes)

    def get(self, job_id: str) -> Job:
        with self._lock:
            if job_id not in self._jobs:
                raise NotFound(f"no job {job_id!r} (finished jobs are kept for the last {KEEP})")
            return self._jobs[job_id]

    def list(self) -> list[Job]:
        with self._lock:
            return list(reversed(self._jobs.values()))

    def start(self, kind: str, work: Callable[[Progress], dict[str, Any]]) -> Job:
        """Run ``work(progress)`` in a thread; its return value becomes the job's result."""
        with self._lock:
            running = [j for j in self._jobs.values() if j.kind == kind and j.state in ("queued", "running")]
            if running:
                raise Conflict(f"job {running[0].id} ({running[0].kind}) is still {running[0].state}")
            job = Job(id=f"job-{secrets.token_hex(6)}", kind=kind)
            self._jobs[job.id] = job
            while len(self._jobs) > KEEP:
                self._jobs.popitem(last=False)
        threading.Thread(target=self._run, args=(job.id, work), name=job.id, daemon=True).start()
        return job

    def _run(self, job_id: str, work: Callable[[Progress], dict[str, Any]]) -> None:
        self._put(job_id, state="running")

        def progress(done: int, total: int) -> None:
            self._put(job_id, done=done, total=total)

        try:
            result = work(progress)
        except QAError as exc:
            self._put(job_id, state="failed", error=str(exc), finished_at=_now())
        except Exception as exc:  # a job thread has no caller to raise to; record it and keep serving
            log.exception("job %s failed", job_id)
            self._put(job_id, state="failed", error=f"{type(exc).__name__}: {exc}", finished_at=_now())
        else:
            self._put(job_id, state="succeeded", result=result, finished_at=_now())
