"""One MilvusClient per (URI, token) in a process, and Milvus failures as one-line errors that name the setting.

milvus-lite lets one process open a ``.db`` file (a second fails at once), and
pymilvus serves every client of a path in a process through one embedded
server, so the collections of one qa process share a client. Milvus' own
errors are long gRPC reprs; users need to know which ``QA_MILVUS_*`` to fix.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from qa.config import Settings
from qa.errors import BackendUnavailable, QAError

try:
    import pymilvus
except ImportError:  # pragma: no cover - depends on the extra
    pymilvus = None

T = TypeVar("T")
_clients: dict[tuple[str, str], Any] = {}
_lock = threading.Lock()
# pymilvus logs every failed call with its traceback at ERROR, including the ones qa expects and explains itself.
logging.getLogger("pymilvus").setLevel(logging.CRITICAL)
# milvus-lite's in-process gRPC server logs a traceback for each query iterator (its AllocTimestamp is unimplemented
# and pymilvus falls back to a client timestamp, as it says itself): noise, not an error.
logging.getLogger("grpc._server").setLevel(logging.CRITICAL)


def is_lite(uri: str) -> bool:
    return uri.endswith(".db")


def where(settings: Settings) -> str:
    return f"QA_MILVUS_URI={settings.milvus_uri}"


def connect(settings: Settings) -> Any:
    """The shared client for the configured URI and token, connecting (and checking the token) the first time."""
    if pymilvus is None:
        raise BackendUnavailable("QA_BACKEND=milvus needs pymilvus: pip install 'qa[milvus]'")
    uri = settings.milvus_uri
    token = settings.milvus_token.get_secret_value() if settings.milvus_token else ""
    if is_lite(uri):
        parent = Path(uri).expanduser().resolve().parent
        if not parent.is_dir():
            raise BackendUnavailable(f"{where(settings)}: folder {parent} does not exist")
        uri = str(Path(uri).expanduser().resolve())
    elif not uri.startswith(("http://", "https://", "tcp://", "unix:")):
        raise BackendUnavailable(f"{where(settings)} is neither a .db path nor an http(s)://host:port address")
    key = (uri, token)
    with _lock:
        client = _clients.get(key)
        if client is None:
            client = call(settings, "connecting", lambda: pymilvus.MilvusClient(uri=uri, token=token, timeout=10))
            call(settings, "listing collections", client.list_collections)  # a wrong token fails here on servers
            _clients[key] = client
        return client


def call(settings: Settings, doing: str, fn: Callable[[], T]) -> T:
    """``fn()``, with a Milvus failure raised as :class:`BackendUnavailable` in one line naming the setting."""
    try:
        return fn()
    except QAError:
        raise
    except Exception as exc:  # noqa: BLE001 - pymilvus raises its own, gRPC's and OS errors alike
        raise BackendUnavailable(_explain(settings, doing, exc)) from None


def _explain(settings: Settings, doing: str, exc: Exception) -> str:
    message = _first_line(exc)
    chain = _chain(exc)
    causes = " ".join(str(e) for e in chain).lower()  # pymilvus wraps the gRPC error that says what happened
    if "unauthenticated" in causes or "auth check" in causes or "permission denied" in causes:
        detail = next((_first_line(e) for e in chain if "auth" in _first_line(e).lower()), message)
        return f"Milvus at {where(settings)} refused QA_MILVUS_TOKEN while {doing}: {detail}"
    if is_lite(settings.milvus_uri) and ("lock" in causes or "open local milvus failed" in causes):
        # pymilvus hides milvus-lite's DataDirLockedError behind "Open local milvus failed"
        return (
            f"{where(settings)} could not be opened ({message}): milvus-lite lets one process open a .db file, "
            "so another may hold it; share it through `milvus-lite server` or use a Milvus server (README, Scaling out)"
        )
    return f"Milvus at {where(settings)} failed while {doing}: {message}"


def _first_line(exc: BaseException) -> str:
    details = getattr(exc, "details", None)  # a gRPC error: its details, not its multi-line repr
    text = str((details() if callable(details) else None) or getattr(exc, "message", "") or exc).strip()
    return (text.splitlines() or [type(exc).__name__])[0][:300]


def _chain(exc: BaseException) -> list[BaseException]:
    out: list[BaseException] = []
    link: BaseException | None = exc
    while link is not None and len(out) < 10:
        out.append(link)
        link = link.__cause__ or link.__context__
    return out
