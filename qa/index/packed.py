"""A small segment's files as one file, so writing it costs one fsync instead of one per file and folder.

    seg-<time>-<rand>.seg
      QASEG1\\n              what this is, and its version
      8 bytes              the table's length, little-endian
      table                JSON: {"parts": [[name, length], ...], "crc32": of the parts}
      parts                each part's bytes, end to end, in the table's order

A part is what a segment folder holds as a file, under the same relative name
(``chunks.jsonl``, ``lexical/rows.npy``...). The file is read whole: a small
segment is a few hundred kilobytes, and a file cut short or damaged is then
an error at load (sizes and checksum), never a SIGBUS while serving.
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path

MAGIC = b"QASEG1\n"
_LENGTH = 8


def pack(parts: dict[str, bytes]) -> bytes:
    """The file holding ``parts`` (name to content)."""
    crc = 0
    for data in parts.values():
        crc = zlib.crc32(data, crc)
    table = json.dumps({"parts": [[name, len(data)] for name, data in parts.items()], "crc32": crc}).encode()
    return b"".join([MAGIC, len(table).to_bytes(_LENGTH, "little"), table, *parts.values()])


def unpack(data: bytes) -> dict[str, memoryview]:
    """The parts of a packed file's content; ValueError saying what is wrong when it is not whole."""
    view = memoryview(data)
    head = len(MAGIC) + _LENGTH
    if bytes(view[: len(MAGIC)]) != MAGIC:
        raise ValueError("not a packed segment (its first bytes are not QASEG1)")
    size = int.from_bytes(view[len(MAGIC) : head], "little")
    try:
        table = json.loads(bytes(view[head : head + size]))
        names = [(str(name), int(length)) for name, length in table["parts"]]
        expected_crc = int(table["crc32"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"the table of contents of a packed segment is damaged ({exc})") from None
    body = head + size
    if len(data) != body + sum(length for _, length in names):
        raise ValueError(f"a packed segment of {len(data)} bytes; its table says {body + sum(n for _, n in names)}")
    parts, at, crc = {}, body, 0
    for name, length in names:
        parts[name] = view[at : at + length]
        crc = zlib.crc32(parts[name], crc)
        at += length
    if crc != expected_crc:
        raise ValueError("a packed segment whose content does not match its checksum")
    return parts


def read(path: Path) -> dict[str, memoryview]:
    """:func:`unpack` of the file at ``path``, its name in the error."""
    try:
        return unpack(path.read_bytes())
    except ValueError as exc:
        raise ValueError(f"{path.name}: {exc}") from None
