"""``/docs`` (Swagger UI) and ``/redoc`` work offline: their files come from qa itself, and headless Chromium (which
reaches nothing but 127.0.0.1 here) renders the operations from them."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from qa.api import create_app

import browser
from browser import chromium, console_errors, wait_until
from servers import ThreadedServer

needs_browser = pytest.mark.skipif(
    browser.missing() is not None and not os.environ.get("QA_REQUIRE_BROWSER"), reason=browser.missing() or ""
)


@pytest.fixture
def server(make_service: Any) -> Iterator[ThreadedServer]:
    service = make_service()
    with ThreadedServer(create_app(service.settings, service=service)) as s:
        yield s


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_documentation_pages_load_only_files_of_this_server(server: ThreadedServer, page: str) -> None:
    html = httpx.get(server.url + page, timeout=10).text
    urls = re.findall(r'(?:src|href)=["\']([^"\']+)["\']', html) + re.findall(r"url: ['\"]([^'\"]+)['\"]", html)
    assert urls and all(u.startswith("/") and not u.startswith("//") for u in urls), urls
    for url in urls:
        r = httpx.get(server.url + url, timeout=10)
        assert r.status_code == 200, url
    assert httpx.get(server.url + "/docs-assets/..%2Fcore.py", timeout=10).status_code == 404


@needs_browser
@pytest.mark.browser
def test_swagger_ui_renders_the_operations_offline(server: ThreadedServer) -> None:
    from selenium.webdriver.common.by import By

    with chromium() as driver:
        driver.get(server.url + "/docs")
        paths = wait_until(
            lambda: [e.text for e in driver.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")],
            what="Swagger UI's operations",
        )
        assert {"/search", "/ask", "/health/ready"} <= set(paths)
        assert not console_errors(driver)


@needs_browser
@pytest.mark.browser
def test_redoc_renders_the_operations_offline(server: ThreadedServer) -> None:
    from selenium.webdriver.common.by import By

    with chromium() as driver:
        driver.get(server.url + "/redoc")
        wait_until(
            lambda: "/search" in driver.find_element(By.TAG_NAME, "body").text and "Ask" in driver.page_source,
            what="ReDoc's operations",
        )
        assert not console_errors(driver)
