"""Which documents a search may return, decided from each document's id and metadata.

A filter is a predicate over (doc_id, metadata), evaluated once per document
of the index (not per chunk), then turned into the chunk rows retrieval may
rank. The simple form the HTTP API takes, ``{"doc_id": [...], "lang": "zh"}``,
means every key must match, and a list matches any of its values.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from qa.errors import InvalidInput
from qa.index.backend import IndexView

Predicate = Callable[[str, Mapping[str, Any]], bool]


def rows_where(index: IndexView, where: Predicate | None) -> np.ndarray | None:
    """Chunk rows of the documents ``where`` admits, judged once per document (None: no filter, every row)."""
    if where is None:
        return None
    docs = index.manifest.documents
    rows = index.rows_of([d for d, entry in docs.items() if where(d, entry.metadata)])
    return np.asarray(sorted(rows), np.int64)


def _as_set(value: object) -> list[object]:
    return list(value) if isinstance(value, (list, tuple, set)) else [value]


def _field(doc_id: str, metadata: Mapping[str, Any], key: str) -> list[object]:
    """A document's values for ``key``: its id for 'doc_id', else its metadata value (a list counts each item)."""
    if key == "doc_id":
        return [doc_id]
    if key not in metadata:
        return []
    return _as_set(metadata[key])


def equals(spec: Mapping[str, Any]) -> Predicate:
    """Every key must match; a list of wanted values matches any of them."""
    if not isinstance(spec, Mapping):
        raise InvalidInput('filter must be an object such as {"doc_id": ["a.txt"]}')
    wanted = {k: _as_set(v) for k, v in spec.items()}
    for key, values in wanted.items():
        if not values:
            raise InvalidInput(f"filter {key!r} lists no values, so nothing could match")

    def match(doc_id: str, metadata: Mapping[str, Any]) -> bool:
        return all(any(v in values for v in _field(doc_id, metadata, key)) for key, values in wanted.items())

    return match


def _number(value: object) -> float | None:
    if not isinstance(value, (int, float, str)):  # a JSON list, object or null is no number
        return None
    try:
        return float(value)
    except ValueError:
        return None


def _compare(op: str, have: object, want: object) -> bool:
    """One metadata value against one condition, the way Dify's operators read."""
    text, wanted = str(have), str(want)
    if op == "contains":
        return wanted in text
    if op == "not contains":
        return wanted not in text
    if op == "start with":
        return text.startswith(wanted)
    if op == "end with":
        return text.endswith(wanted)
    if op in ("is", "="):
        a, b = _number(have), _number(want)
        return a == b if op == "=" and a is not None and b is not None else text == wanted
    if op in ("in",):
        return text in {str(v) for v in _as_set(want)}
    a, b = _number(have), _number(want)
    if (a is None) != (b is None):
        return False  # a number against text: no order between them
    if a is None or b is None:  # both text, e.g. ISO dates, which order as text
        return _ORDER[op](text, wanted)
    return _ORDER[op](a, b)


_ORDER: dict[str, Callable[[Any, Any], bool]] = {
    ">": operator.gt,
    "<": operator.lt,
    "≥": operator.ge,
    ">=": operator.ge,
    "≤": operator.le,
    "<=": operator.le,
}
_ORDER |= {"after": operator.gt, "before": operator.lt}
NEGATED = {"is not": "is", "≠": "=", "!=": "=", "not in": "in", "not contains": "contains"}
OPERATORS = {"contains", "start with", "end with", "is", "in", "empty", "not empty", "="} | set(NEGATED) | set(_ORDER)


def condition(name: str, op: str, value: object = None) -> Predicate:
    """One condition: a document matches when any of its values for ``name`` does (none: only 'empty' and negations)."""
    if op not in OPERATORS:
        raise InvalidInput(f"unknown comparison operator {op!r}; qa supports {', '.join(sorted(OPERATORS))}")
    if op not in ("empty", "not empty") and value is None:
        raise InvalidInput(f"condition on {name!r} with {op!r} needs a value")

    def match(doc_id: str, metadata: Mapping[str, Any]) -> bool:
        values = [v for v in _field(doc_id, metadata, name) if v not in (None, "")]
        if op == "empty":
            return not values
        if op == "not empty":
            return bool(values)
        if op in NEGATED:
            return not any(_compare(NEGATED[op], v, value) for v in values)
        return any(_compare(op, v, value) for v in values)

    return match


def combine(predicates: list[Predicate], logical_operator: str = "and") -> Predicate:
    if logical_operator not in ("and", "or"):
        raise InvalidInput(f"logical_operator must be 'and' or 'or', not {logical_operator!r}")
    join = all if logical_operator == "and" else any
    return lambda doc_id, metadata: join(p(doc_id, metadata) for p in predicates)
