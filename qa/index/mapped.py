"""Memory-mapped files, checked before they are mapped and before each use, so damage is an error, not a SIGBUS.

Reading a page of a mapping whose file was cut short kills the process with
SIGBUS: no exception, no response, every client's connection gone. So a
``.npy`` file is mapped only after its header was read and its size matches
what the header promises, and :class:`Watched` remembers each mapped file's
inode and size so a reader can refuse (``OSError``) once it changed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from math import prod
from pathlib import Path

import numpy as np

_HEADERS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}


def load_npy(path: Path) -> np.ndarray:
    """``np.load(path, mmap_mode="r")`` once the file holds as many bytes as its header says; ValueError otherwise."""
    with open(path, "rb") as fh:
        version = np.lib.format.read_magic(fh)
        if version not in _HEADERS:
            raise ValueError(f"{path} is .npy format {version}, which qa does not write")
        shape, _, dtype = _HEADERS[version](fh)
        expected = fh.tell() + prod(shape) * dtype.itemsize
        size = os.fstat(fh.fileno()).st_size
    if dtype.hasobject:
        raise ValueError(f"{path} holds Python objects, not numbers")
    if size != expected:
        raise ValueError(f"{path} is {size} bytes; its header says {expected}")
    mapped: np.ndarray = np.load(path, mmap_mode="r", allow_pickle=False)
    return mapped


@dataclass
class Watched:
    """The files a segment has mapped: (path, inode, size) as they were when mapped."""

    files: list[tuple[Path, int, int]] = field(default_factory=list)

    def add(self, path: Path) -> None:
        st = os.stat(path)
        self.files.append((path, st.st_ino, st.st_size))

    def check(self) -> None:
        """Raise OSError if a mapped file was cut short or grown since it was mapped (reading it: SIGBUS)."""
        for path, inode, size in self.files:
            try:
                st = os.stat(path)
            except OSError:
                continue  # removed by a merge or a prune: the mapping still holds the old inode whole
            if st.st_ino == inode and st.st_size != size:
                raise OSError(f"{path} changed size while it was being served ({size} -> {st.st_size} bytes)")
