"""Writing files so that a crash leaves the old content or the new, never half: fsync, then rename.

Both the docs folder and the index store write through these, so there is
one definition of "on disk" in qa.
"""

from __future__ import annotations

import os
from pathlib import Path


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
