"""`qa watch`'s loop over a real folder (inotify via watchfiles), with the counting embedder."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from qa.ingest import folder as documents
from qa.service import watching

from conftest import SEED


def _until(cond: Callable[[], bool], timeout: float = 15) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return False


@pytest.mark.skipif(
    os.environ.get("QA_TEST_BACKEND") == "milvus",
    reason="on Milvus a folder edited by hand differs from what Milvus holds, so its sync is refused "
    "(docs/scaling-out.md, 'The docs folder on each replica'; tests/test_milvus_folder.py)",
)
def test_changes_in_the_folder_reach_the_index(make_service, seed_docs: Path, fake_embedder) -> None:  # type: ignore[no-untyped-def]
    service = make_service(watch_debounce_ms=100)
    reports = []
    thread, stop = watching.start(service, reports.append)
    try:
        time.sleep(0.3)  # let the watcher start before the first change
        docs = lambda: set(service.index.manifest.documents)  # noqa: E731
        (seed_docs / "new.md").write_text("# New\n\nA brand new document about harbour cranes.", encoding="utf-8")
        (seed_docs / "junk.tmp").write_text("not a document", encoding="utf-8")
        assert _until(lambda: docs() == {SEED.name, "new.md"})
        embedded = fake_embedder.passages_embedded
        (seed_docs / "new.md").unlink()
        assert _until(lambda: docs() == {SEED.name})
        assert fake_embedder.passages_embedded == embedded  # a removal embeds nothing
        documents.save(seed_docs, "tagged.txt", b"Tagged text about cranes.", {"lang": "en"})
        assert _until(lambda: service.index.manifest.documents.get("tagged.txt") is not None)
        assert service.index.manifest.documents["tagged.txt"].metadata == {"lang": "en"}
        assert reports and all(r.touched for r in reports)  # each burst was one sync that changed something
    finally:
        stop.set()
        thread.join(timeout=10)
    assert not thread.is_alive()
