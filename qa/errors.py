"""qa's exception tree. The API maps these to HTTP codes in one place (:mod:`qa.api.errors`); the CLI prints them
in one line. Below the API nothing speaks HTTP: the codes in this tree are what the API answers.

QAError
├── InvalidInput        bad request data (422)
├── BadDocument         an upload qa refuses: unsafe name, not UTF-8 (400)
├── TooLarge            an upload over the size limit (413)
├── UnsupportedType     a file type qa does not read (415)
├── Unauthorized        no API key where one is required (401)
├── Forbidden           a wrong API key (403)
├── NotFound            an unknown document, job or collection (404)
├── Conflict            another writer holds the index (409)
│   └── FolderDisagrees a Milvus build or sync from a docs folder that differs from what replicas wrote (409)
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


class InvalidInput(QAError):
    pass


class BadDocument(QAError):
    pass


class NoText(QAError):
    pass


class TooLarge(QAError):
    pass


class UnsupportedType(QAError):
    pass


class Unauthorized(QAError):
    pass


class Forbidden(QAError):
    pass


class NotFound(QAError):
    pass


class Conflict(QAError):
    pass


class FolderDisagrees(Conflict):
    """A build or a sync from this machine's docs folder would replace a shared (Milvus) collection's documents
    with the folder's, which lacks some, holds others, or holds other versions: writes acknowledged through other
    replicas would be lost (or deletes undone)."""


class Busy(QAError):
    """The server has as much write work queued as it takes; ``retry_after`` seconds is a fair wait."""

    def __init__(self, message: str, retry_after: int = 2) -> None:
        super().__init__(message)
        self.retry_after = retry_after

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (str(self), self.retry_after))


class NotReady(QAError):
    pass


class IndexUnusable(QAError):
    pass


class IndexMissing(IndexUnusable):
    pass


class IndexCorrupt(IndexUnusable):
    pass


class ModelMismatch(IndexUnusable):
    pass


class BackendUnavailable(IndexUnusable):
    """The index's storage service (QA_BACKEND=milvus) is unreachable, refuses the credentials, or is busy."""


class StorageError(QAError):
    pass


class StorageFull(StorageError):
    pass


class ModelError(QAError):
    pass


class PortInUse(QAError):
    pass
