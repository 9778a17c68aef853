"""qa's exception tree. The API maps these to HTTP codes in one place; the CLI prints them in one line.

    QAError
    ├── InvalidInput        bad request data (422)
    ├── NotFound            an unknown document, job or collection (404)
    ├── Conflict            another writer holds the index (409)
    ├── IndexError_         the index on disk cannot be used
    │   ├── IndexMissing    nothing built yet (503)
    │   ├── IndexCorrupt    truncated or damaged files (503)
    │   └── ModelMismatch   built with another model (409)
    └── ModelError          the embedding model cannot be provisioned or loaded (500)
"""

from __future__ import annotations


class QAError(Exception):
    """Base of every error qa raises on purpose; ``str(err)`` is meant for users."""

    status_code = 500


class InvalidInput(QAError):
    status_code = 422


class NotFound(QAError):
    status_code = 404


class Conflict(QAError):
    status_code = 409


class IndexError_(QAError):  # noqa: N801 - the builtin IndexError is unrelated
    status_code = 503


class IndexMissing(IndexError_):
    pass


class IndexCorrupt(IndexError_):
    pass


class ModelMismatch(IndexError_):
    status_code = 409


class ModelError(QAError):
    status_code = 500
