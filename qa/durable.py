"""Writing files so that a crash leaves the old content or the new, never half: fsync, then rename.

Both the docs folder and the index store write through these, so there is
one definition of "on disk" in qa.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from qa.errors import StorageError, StorageFull

_FULL = {errno.ENOSPC, errno.EDQUOT}


def fsync_dir(path: Path) -> None:
    """Make a rename or new entry in ``path`` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_file(path: Path, data: bytes) -> None:
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def fsync_file(path: Path) -> None:
    """For files a library wrote itself (bm25s)."""
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def replace(path: Path, data: bytes, tmp: Path) -> None:
    """Put ``data`` at ``path`` through ``tmp`` (same folder) and a rename, so readers see old or new, never half."""
    try:
        write_file(tmp, data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    fsync_dir(path.parent)


@contextmanager
def disk_errors(what: str) -> Iterator[None]:
    """Turn the disk's refusals into qa errors that name the operation: 507 when full, 500 otherwise.

    Callers undo their own partial work first (in ``except``/``finally``
    blocks inside this context), so the error always means "nothing changed".
    """
    try:
        yield
    except OSError as exc:
        if exc.errno in _FULL:
            raise StorageFull(
                f"{what}: no space left on the disk ({exc.filename or 'the index or docs folder'}); "
                "free some space and try again"
            ) from exc
        raise StorageError(f"{what}: {exc.strerror or exc} ({exc.filename or ''})") from exc


@contextmanager
def staged_folder(target: Path) -> Iterator[Path]:
    """A temporary folder beside ``target`` to fill; when the block ends without error it becomes ``target``.

    A leftover of a killed run at ``target`` is replaced. When another process renames its own folder into
    place first, that one stays: the caller checks ``target``'s completion marker afterwards. The temporary
    folder is removed whatever happens (the models' caches are filled this way).
    """
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=target.parent))
    try:
        yield tmp
        if target.exists():
            shutil.rmtree(target, ignore_errors=True)
        with contextlib.suppress(OSError):  # another process won the race
            os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
