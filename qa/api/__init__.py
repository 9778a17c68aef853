"""The HTTP layer: FastAPI routes that translate between JSON and the core (:mod:`qa.service`).

Routes are grouped by area, one module each; errors become responses in
:mod:`qa.api.errors` only; the wire types are :mod:`qa.wire`, below every
front end. ``create_app`` is imported lazily, so importing this package does
not import FastAPI's app or the core.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from qa.api.app import create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from qa.api.app import create_app

        return create_app
    raise AttributeError(name)
