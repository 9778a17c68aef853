"""Background jobs (a full rebuild) with progress a client can poll, kept on disk across restarts.

A job runs in its own thread; its record is replaced, never mutated in
place, so a poll always reads a consistent snapshot. One job of a kind runs
at a time: starting another of the same kind while one is running is a
:class:`Conflict` naming the running job, because two rebuilds (or two
large documents) would only compete for the same cores and the writer lock.

With a ``path`` (the collection's ``index/jobs.json``) the records are
written there, whole, on every change of state and at most once a second
for progress, so a restarted server still answers for its jobs. A job that
was queued or running in a process that is gone is ``interrupted``: its work
never landed (an index change commits whole or not at all), and it can
simply be started again. Several processes serving one index each keep
their own records in the file.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

import filelock

from qa import durable
from qa.errors import Conflict, NotFound, QAError
from qa.index.building import Progress

log = logging.getLogger(__name__)
State = Literal["queued", "running", "succeeded", "failed", "interrupted"]
KEEP = 100  # finished jobs remembered for polling
SAVE_EVERY = 1.0  # seconds between writes of mere progress


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
    pid: int = field(default_factory=os.getpid)  # the process that runs it: gone means interrupted


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def _interrupted(job: Job) -> Job:
    if job.state not in ("queued", "running") or job.pid == os.getpid() or _alive(job.pid):
        return job
    return replace(
        job,
        state="interrupted",
        finished_at=_now(),
        error=f"the server stopped while this job ran ({job.done} of {job.total} windows embedded); "
        "nothing of it landed: start it again",
    )


class Jobs:
    def __init__(self, path: Path | None = None) -> None:
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._lock = threading.Lock()
        self._path = path
        self._saved_at = 0.0
        if path is not None:
            for job in self._read():
                self._jobs[job.id] = _interrupted(job)
            self._save()

    def _read(self) -> list[Job]:
        """The records in the file, oldest first; an unreadable file is no records (jobs are not the index)."""
        assert self._path is not None
        try:
            raw = json.loads(self._path.read_text(encoding="utf-8"))
            names = {f.name for f in fields(Job)}
            return [Job(**{k: v for k, v in r.items() if k in names}) for r in raw["jobs"]]
        except FileNotFoundError:
            return []
        except (OSError, ValueError, TypeError, KeyError):
            log.warning("ignoring unreadable job records in %s", self._path, exc_info=True)
            return []

    def _save(self) -> None:
        """Write this process's records into the file, keeping other live processes' own."""
        path = self._path
        if path is None or not path.parent.is_dir():  # no index folder yet, or the collection was deleted
            return
        self._saved_at = time.monotonic()
        try:
            with filelock.UnixFileLock(str(path) + ".lock", timeout=5):
                with self._lock:
                    mine = list(self._jobs.values())
                ids = {j.id for j in mine}
                others = [j for j in self._read() if j.id not in ids and j.pid != os.getpid()]
                keep = sorted(others + mine, key=lambda j: j.created_at)[-KEEP:]
                data = json.dumps({"jobs": [asdict(j) for j in keep]}, ensure_ascii=False, indent=1).encode()
                durable.replace(path, data, path.with_name(f".{path.name}-{secrets.token_hex(3)}.part"))
        except (OSError, filelock.Timeout):
            log.warning("could not save job records to %s", path, exc_info=True)

    def _put(self, job_id: str, *, progress_only: bool = False, **changes: Any) -> None:
        with self._lock:
            self._jobs[job_id] = replace(self._jobs[job_id], **changes)
        if not progress_only or time.monotonic() - self._saved_at >= SAVE_EVERY:
            self._save()

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
        self._save()
        threading.Thread(target=self._run, args=(job.id, work), name=job.id, daemon=True).start()
        return job

    def _run(self, job_id: str, work: Callable[[Progress], dict[str, Any]]) -> None:
        self._put(job_id, state="running")

        def progress(done: int, total: int) -> None:
            self._put(job_id, progress_only=True, done=done, total=total)

        try:
            result = work(progress)
        except QAError as exc:
            self._put(job_id, state="failed", error=str(exc), finished_at=_now())
        except Exception as exc:  # a job thread has no caller to raise to; record it and keep serving
            log.exception("job %s failed", job_id)
            self._put(job_id, state="failed", error=f"{type(exc).__name__}: {exc}", finished_at=_now())
        else:
            self._put(job_id, state="succeeded", result=result, finished_at=_now())
