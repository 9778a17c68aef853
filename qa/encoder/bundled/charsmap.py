"""Compile a per-codepoint normalization map into a SentencePiece "precompiled charsmap".

`tokenizers.normalizers.Precompiled` is the only normalizer that applies an
arbitrary character map in one pass (thousands of `Replace` rules would be far
slower), and it reads SentencePiece's binary form: a little-endian uint32 trie
size, a darts-clone double-array trie over the UTF-8 keys, then the
NUL-terminated replacement strings the trie's values point into.

A darts-clone unit is a uint32: the node's label in bits 0-7, a has-leaf flag
in bit 8, and the offset to its children in bits 10-30 (children sit at
``pos ^ offset ^ label``); a leaf unit (the label-0 child) has bit 31 set and
holds its value in bits 0-30. The keys here are whole UTF-8 characters, so no
key is a prefix of another and the shortest-prefix match the reader takes is
the exact character.
"""

from __future__ import annotations

import struct

_MAX_OFFSET = 1 << 21  # what bits 10-30 hold without darts' extended form


def _trie(keys: list[bytes]) -> dict[bytes, list[int]]:
    """Map each trie node (by its key prefix) to the sorted labels of its children."""
    children: dict[bytes, set[int]] = {b"": set()}
    for key in keys:
        for i in range(len(key)):
            children.setdefault(key[:i], set()).add(key[i])
            children.setdefault(key[: i + 1], set())
        children[key].add(0)  # the leaf that carries the value
    return {node: sorted(labels) for node, labels in children.items()}


def _place(labels: list[int], taken: bytearray, bases: set[int], start: int) -> int:
    """First base b (unused as a base) whose slots b ^ label are all free."""
    free = start
    while True:
        while free < len(taken) and taken[free]:
            free += 1
        base = free ^ labels[0]
        if base not in bases and all((base ^ c) >= len(taken) or not taken[base ^ c] for c in labels):
            return base
        free += 1


def build(table: dict[int, str]) -> bytes:
    """Return precompiled-charsmap bytes mapping each codepoint key to its string."""
    entries = sorted((chr(cp).encode("utf-8"), out.encode("utf-8")) for cp, out in table.items())
    blob = bytearray()
    value_of: dict[bytes, int] = {}
    for key, out in entries:
        value_of[key] = len(blob)
        blob += out + b"\0"

    children = _trie([k for k, _ in entries])
    units = [0]
    taken = bytearray(b"\1")  # the root's slot
    bases: set[int] = set()
    position = {b"": 0}
    queue = [b""]
    while queue:
        node = queue.pop(0)
        labels = children[node]
        if not labels:
            continue
        base = _place(labels, taken, bases, 1)
        bases.add(base)
        # The reader indexes base ^ byte for any input byte: keep the whole
        # 256-unit block of every base inside the array.
        size = (base | 0xFF) + 1
        if size > len(units):
            units.extend([0] * (size - len(units)))
            taken.extend(b"\0" * (size - len(taken)))
        pos = position[node]
        offset = pos ^ base
        if offset >= _MAX_OFFSET:
            raise ValueError("normalization map too large for this trie builder")
        units[pos] |= offset << 10 | (1 << 8 if labels[0] == 0 else 0)
        for label in labels:
            child = base ^ label
            taken[child] = 1
            if label == 0:
                units[child] = (1 << 31) | value_of[node]
            else:
                units[child] = label
                position[node + bytes([label])] = child
                queue.append(node + bytes([label]))
    trie = struct.pack(f"<{len(units)}I", *units)
    return struct.pack("<I", len(trie)) + trie + bytes(blob)
