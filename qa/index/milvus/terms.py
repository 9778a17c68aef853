"""qa's own BM25 kept in Milvus (QA_MILVUS_LEXICAL=milvus): per passage a sparse vector of document-side weights,
and the corpus statistics the query side needs in a small stats collection beside the collection.

BM25 (the lucene form of :mod:`qa.index.postings`) splits into two factors per term:
``idf(t) = ln(1 + (N - df + 0.5) / (df + 0.5))``, which needs the live count N and the term's document
frequency, and ``tf / (tf + k1 (1 - b + b len / avglen))``, which needs only the passage and the
average length. The second is stored on the passage as a SPARSE_FLOAT_VECTOR, the first is the query
vector's weight, so Milvus' inner product over a ``SPARSE_INVERTED_INDEX`` is the passage's BM25.
Both of qa's tokenizations share the one vector: the lexical tokens (:func:`qa.index.lexical.tokenize`)
and the bridge tokens (:func:`qa.index.bridge.tokens`, prefixed, so the two never name the same term), each
normalised by its own length.

A term's id in the vector is a 32-bit hash of the token (0 is kept for the placeholder an entity without
terms carries, as Milvus refuses an empty sparse vector). Two tokens with one hash count as one term; at a
vocabulary of a million that is about a hundred pairs, each merging the postings of two rare tokens.

The document side is weighted with the average length the corpus had when the passage was written (a
whole build: the final one). Later writes change the average and not the stored weights, so a corpus that
grows or shrinks a lot drifts from the local store's scores until it is rebuilt; the stats record the
average each build used, so the drift can be seen.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from hashlib import blake2b
from typing import Any

import numpy as np

from qa.index import bridge
from qa.index.lexical import tokenize
from qa.index.postings import K1, B

FIELDS = ("lexical", "bridge")
PLACEHOLDER: dict[int, float] = {0: 1.0}  # a vector no query term meets: Milvus needs one non-zero weight
_SPACE = 2**32 - 2  # ids 1 .. 2**32 - 2 (Milvus' sparse indices are uint32, the largest one reserved)
TOTALS = "n:"  # the stats entity holding the live count and each field's total length
STATS_SUFFIX = "_t"  # the stats collection of collection ``name`` is ``name + STATS_SUFFIX``


def term_id(field_name: str, token: str) -> int:
    """The token's index in the sparse vector (field names keep lexical and bridge tokens apart)."""
    digest = blake2b(f"{field_name[0]}:{token}".encode(), digest_size=4).digest()
    return int.from_bytes(digest, "little") % _SPACE + 1


def stat_id(field_name: str, term: int) -> str:
    return f"{field_name[0]}:{term}"


@dataclass(frozen=True)
class Terms:
    """One passage's term counts, per field, by term id; and its length per field (as BM25 counts it)."""

    counts: dict[str, Counter[int]]
    lengths: dict[str, int]

    @classmethod
    def of(cls, text: str) -> Terms:
        tokens = {"lexical": tokenize(text), "bridge": bridge.tokens(text)}
        counts = {f: Counter(term_id(f, t) for t in ts) for f, ts in tokens.items()}
        return cls(counts, {f: max(len(ts), 1) for f, ts in tokens.items()})  # bm25s: an empty passage is 1 long

    def weights(self, avg: dict[str, float]) -> dict[int, float]:
        """The document side of BM25 for each of the passage's terms (summed on a hash collision)."""
        out: dict[int, float] = {}
        for f in FIELDS:
            norm = K1 * ((1 - B) + B * self.lengths[f] / max(avg[f], 1e-9))
            for term, tf in self.counts[f].items():
                out[term] = out.get(term, 0.0) + float(np.float32(tf / (tf + norm)))
        return out or dict(PLACEHOLDER)


@dataclass
class Delta:
    """What a write changes in the statistics: live passages, total lengths, document frequencies."""

    n: int = 0
    length: dict[str, float] = field(default_factory=lambda: dict.fromkeys(FIELDS, 0.0))
    df: Counter[str] = field(default_factory=Counter)

    def add(self, terms: Iterable[Terms], sign: int = 1) -> None:
        for t in terms:
            self.n += sign
            for f in FIELDS:
                self.length[f] += sign * t.lengths[f]
                for term in t.counts[f]:
                    self.df[stat_id(f, term)] += sign


@dataclass(frozen=True)
class Totals:
    """The live passage count and each field's total length; ``built_avg``: the averages the last build used."""

    n: int
    length: dict[str, float]
    built_avg: dict[str, float]

    def avg(self) -> dict[str, float]:
        return {f: self.length[f] / self.n if self.n else 1.0 for f in FIELDS}

    def plus(self, delta: Delta) -> Totals:
        return Totals(self.n + delta.n, {f: self.length[f] + delta.length[f] for f in FIELDS}, self.built_avg)

    def entity(self) -> dict[str, Any]:
        info = {"n": self.n, "length": self.length, "built_avg": self.built_avg}
        return {"id": TOTALS, "df": self.n, "info": info, "sparse": dict(PLACEHOLDER)}

    @classmethod
    def of(cls, row: dict[str, Any] | None) -> Totals:
        if row is None:
            return cls(0, dict.fromkeys(FIELDS, 0.0), dict.fromkeys(FIELDS, 1.0))
        info = row["info"]
        return cls(int(info["n"]), dict(info["length"]), dict(info["built_avg"]))


def stats_schema() -> Any:
    """A term's document frequency per entity (its only vector the placeholder: Milvus wants one vector field)."""
    from pymilvus import DataType, MilvusClient

    s = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    s.add_field("id", DataType.VARCHAR, is_primary=True, max_length=64)
    s.add_field("df", DataType.INT64)
    s.add_field("info", DataType.JSON)
    s.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    return s


def idf(n: int, df: int) -> float:
    return float(np.log1p((n - df + 0.5) / (df + 0.5)))
