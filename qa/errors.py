"""qa's exception tree. The API maps these to HTTP codes in one place; the CLI prints them in one line.

QAError
├── InvalidInput        bad request data (422)
├── BadDocument         an upload qa refuses: unsafe name, not UTF-8 (400)
├── TooLarge            an upload over the size limit (413)
├── UnsupportedType     a file type qa does not read (415)
├── Unauthorized        no API key where one is required (401)
├── Forbidden           a wrong API key (403)
├── NotFound            an unknown document, job or collection (404)
├── Conflict            another writer holds the index (409)
├── Busy                too many writes are being prepared; retry after a moment (429, Retry-After)
├── NotReady            the server is still loading its index or warming the model (503)
├── IndexUnusable       the index on disk cannot be used
│   ├── IndexMissing    nothing built yet (503)
│   ├── IndexCorrupt    truncated or damaged files (503)
│   ├── ModelMismatch   built with another model (409)
│   └── BackendUnavailable  the configured Milvus cannot be reached or refuses qa (503)
├── ModelError          the embedding model cannot be provisioned or loaded (500)
└── PortInUse           qa serve's address is taken or not this machine's (the CLI's, before anything loads)
"""

from __future__ import annotations


class QAError(Exception):
    """Base of every error qa raises on purpose; ``str(err)`` is meant for users."""

    status_code = 500


class InvalidInput(QAError):
    status_code = 422


class BadDocument(QAError):
    status_code = 400


class NoText(QAError):
    status_code = 422


class TooLarge(QAError):
    status_code = 413


class UnsupportedType(QAError):
    status_code = 415


class Unauthorized(QAError):
    status_code = 401


class Forbidden(QAError):
    status_code = 403


class NotFound(QAError):
    status_code = 404


class Conflict(QAError):
    status_code = 409


class Busy(QAError):
    """The server has as much write work queued as it takes; ``retry_after`` seconds is a fair wait."""

    status_code = 429

    def __init__(self, message: str, retry_after: int = 2) -> None:
        super().__init__(message)
        self.retry_after = retry_after

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (str(self), self.retry_after))


class NotReady(QAError):
    status_code = 503


class IndexUnusable(QAError):
    status_code = 503


class IndexMissing(IndexUnusable):
    pass


class IndexCorrupt(IndexUnusable):
    pass


class ModelMismatch(IndexUnusable):
    status_code = 409


class BackendUnavailable(IndexUnusable):
    """The index's storage service (QA_BACKEND=milvus) is unreachable, refuses the credentials, or is busy."""


class StorageError(QAError):
    status_code = 500


class StorageFull(StorageError):
    status_code = 507


class ModelError(QAError):
    status_code = 500


class PortInUse(QAError):
    pass
