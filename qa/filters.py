"""Which documents a search may return, decided from each document's id and metadata.

A filter is a predicate over (doc_id, metadata), evaluated once per document
of the index (not per chunk), then turned into the chunk rows retrieval may
rank. The simple form the HTTP API takes, ``{"doc_id": [...], "lang": "zh"}``,
means every key must match, and a list matches any of its values.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from qa.errors import InvalidInput

Predicate = Callable[[str, Mapping[str, Any]], bool]


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
        raise InvalidInput("filter must be an object such as {\"doc_id\": [\"a.txt\"]}")
    wanted = {k: _as_set(v) for k, v in spec.items()}
    for key, values in wanted.items():
        if not values:
            raise InvalidInput(f"filter {key!r} lists no values, so nothing could match")

    def match(doc_id: str, metadata: Mapping[str, Any]) -> bool:
        return all(any(v in values for v in _field(doc_id, metadata, key)) for key, values in wanted.items())

    return match
