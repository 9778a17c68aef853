"""The Documents view over 1,000 documents, in headless Chromium against real uvicorn (counting embedder): the
server pages, sorts and searches the list, so the page holds one page of it; uploads go as one bulk request with
each file's outcome; and the Ask view dims the previous answer while a new one is on its way."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from qa.api import create_app
from qa.service.changes import NewDocument
from qa.service.core import QAService

import browser
from browser import chromium, console_errors, wait_until
from conftest import CountingEmbedder, seed_service
from servers import ThreadedServer

needs_browser = pytest.mark.skipif(
    browser.missing() is not None and not os.environ.get("QA_REQUIRE_BROWSER"), reason=browser.missing() or ""
)
N = 1000


@pytest.fixture(scope="module")
def thousand(tmp_path_factory: pytest.TempPathFactory) -> QAService:
    """The seed article and 999 more, of growing size, metadata on every tenth."""
    service = seed_service(tmp_path_factory.mktemp("thousand"), CountingEmbedder())
    items = [
        NewDocument(f"note-{i:04d}.txt", (f"Note {i} about topic {i % 7}. " * (1 + i % 40)).encode(), _meta(i))
        for i in range(N - 1)
    ]
    assert not service.write(service.prepare(items, create=True)).errors
    return service


def _meta(i: int) -> dict[str, str] | None:
    return {"team": "harbour"} if i % 10 == 0 else None


@pytest.fixture(scope="module")
def server(thousand: QAService) -> Iterator[ThreadedServer]:
    with ThreadedServer(create_app(thousand.settings, service=thousand)) as s:
        yield s


@pytest.mark.slow
def test_the_list_api_pages_sorts_and_searches(server: ThreadedServer) -> None:
    seen, cursor = [], None
    while True:
        params = {"limit": 300, "sort": "-size"} | ({"cursor": cursor} if cursor else {})
        page = httpx.get(server.url + "/documents", params=params, timeout=30).json()
        assert page["total"] == N
        seen += page["documents"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == N and len({d["doc_id"] for d in seen}) == N  # every document once
    sizes = [d["bytes"] for d in seen]
    assert sizes == sorted(sizes, reverse=True) and seen[0]["doc_id"] == "laoshan-vr-ai.txt"
    assert all(d["modified"] for d in seen)
    found = httpx.get(server.url + "/documents", params={"q": "HARBOUR", "limit": 5}, timeout=30).json()
    assert found["total"] == 100 and len(found["documents"]) == 5 and found["next_cursor"]
    assert all(d["metadata"] == {"team": "harbour"} for d in found["documents"])
    assert len(httpx.get(server.url + "/documents", timeout=30).json()["documents"]) == N  # no limit: all, as before
    bad = httpx.get(server.url + "/documents", params={"cursor": "nonsense"}, timeout=30)
    assert bad.status_code == 422 and "cursor" in bad.json()["detail"]


def _names(driver: Any) -> list[str]:
    return driver.execute_script("return [...document.querySelectorAll('#doc-list .doc-name')].map(e => e.textContent)")


@needs_browser
@pytest.mark.browser
def test_a_thousand_documents_page_sort_and_search_on_the_server(server: ThreadedServer) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    with chromium() as driver:
        driver.get(server.url + "/")
        driver.find_element(By.ID, "tab-documents").click()
        wait_until(lambda: len(_names(driver)) == 50, what="the first page")
        count = driver.find_element(By.ID, "docs-count").text
        assert count.startswith("1000 documents, ") and driver.find_element(By.ID, "doc-page").text == "1–50 of 1000"
        assert _names(driver)[0] == "laoshan-vr-ai.txt" and _names(driver)[1] == "note-0000.txt"
        first = driver.find_element(By.CSS_SELECTOR, "#doc-list .doc-file").text
        assert " KB · " in first  # its size and date
        assert driver.find_element(By.ID, "doc-prev").get_attribute("disabled")

        driver.find_element(By.ID, "doc-next").click()
        wait_until(lambda: _names(driver)[:1] == ["note-0049.txt"], what="the second page")
        assert driver.find_element(By.ID, "doc-page").text == "51–100 of 1000"
        driver.find_element(By.ID, "doc-prev").click()
        wait_until(lambda: _names(driver)[:1] == ["laoshan-vr-ai.txt"], what="the first page again")

        Select(driver.find_element(By.ID, "doc-sort")).select_by_value("-passages")
        expected = httpx.get(server.url + "/documents", params={"sort": "-passages", "limit": 50}, timeout=30).json()
        wait_until(lambda: _names(driver) == [d["doc_id"] for d in expected["documents"]], what="the sorted page")

        driver.find_element(By.ID, "doc-filter").send_keys("harbour")
        wait_until(lambda: driver.find_element(By.ID, "docs-count").text == "100 matching documents", what="search")
        assert len(_names(driver)) == 50 and len(driver.find_elements(By.CSS_SELECTOR, "#doc-list > li")) == 50
        assert not console_errors(driver)


@needs_browser
@pytest.mark.browser
def test_several_files_go_as_one_bulk_request_with_each_outcome(make_service: Any, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    service = make_service()
    files = {"a.md": "# A\n\nAlpha harbour notes.", "b.txt": "Beta harbour notes.", "laoshan-vr-ai.txt": "clash"}
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    commits = service.writer.commits
    with ThreadedServer(create_app(service.settings, service=service)) as s, chromium() as driver:
        driver.get(s.url + "/")
        driver.find_element(By.ID, "tab-documents").click()
        wait_until(lambda: "laoshan-vr-ai.txt" in _names(driver), what="the list")
        driver.find_element(By.ID, "file").send_keys("\n".join(str(tmp_path / n) for n in files))
        wait_until(lambda: "a.md" in _names(driver) and "b.txt" in _names(driver), what="the uploads in the list")
        lines = driver.find_element(By.ID, "uploads").text.splitlines()
        assert lines == [
            "a.md: added, 1 passage.",
            "b.txt: added, 1 passage.",
            "laoshan-vr-ai.txt already exists. Tick “Replace documents that have the same name” to replace it.",
        ]
    assert service.writer.commits == commits + 1  # one index change for the batch


@needs_browser
@pytest.mark.browser
def test_the_previous_answer_dims_while_a_new_one_is_on_its_way(make_service: Any) -> None:
    from selenium.webdriver.common.by import By

    service = make_service()
    with ThreadedServer(create_app(service.settings, service=service)) as s, chromium() as driver:
        driver.get(s.url + "/")
        box = driver.find_element(By.ID, "question")
        box.send_keys("虚拟现实产业园\n")
        wait_until(lambda: driver.find_element(By.ID, "results").is_displayed(), what="the first answer")
        opacity = "return getComputedStyle(document.getElementById('results')).opacity"
        assert driver.execute_script(opacity) == "1"
        driver.execute_script("document.getElementById('ask-form').setAttribute('aria-busy', 'true')")  # in flight
        assert float(driver.execute_script(opacity)) < 1 or wait_until(
            lambda: float(driver.execute_script(opacity)) < 1, what="the dimmed answer"
        )
        driver.execute_script("document.getElementById('ask-form').removeAttribute('aria-busy')")
        wait_until(lambda: driver.execute_script(opacity) == "1", what="the answer back")
