"""Headless Chromium for the page's tests: Debian's chromium and chromium-driver, driven by selenium.

Nothing is downloaded: the browser and its driver come from the system (``.ci/run`` installs them), and
tests that need them are skipped, with the reason, where they are missing.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
]
PHONE = (390, 844)
DESKTOP = (1280, 900)


def missing() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if not path.exists():
            return f"{path} is missing: apt-get install chromium chromium-driver"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed: pip install 'qa[test]'"
    return None


@contextmanager
def chromium(lang: str = "en-US", size: tuple[int, int] = DESKTOP) -> Iterator[Any]:
    """A fresh headless Chromium (its own profile) speaking ``lang``, with a ``size`` viewport; quit on exit."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="qa-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in [*FLAGS, f"--user-data-dir={profile}", f"--lang={lang}", f"--window-size={size[0]},{size[1]}"]:
        options.add_argument(flag)
    options.add_experimental_option("prefs", {"intl.accept_languages": lang})
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        resize(driver, size)
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def resize(driver: Any, size: tuple[int, int], scale: float = 1) -> None:
    """The viewport exactly ``size`` CSS pixels (a window's size would include its frame), at ``scale`` device pixels."""
    width, height = size
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": scale, "mobile": width < 600},
    )


def wait_until(check: Callable[[], Any], timeout: float = 20, what: str = "the page") -> Any:
    """Poll ``check`` until it returns something truthy (which is returned); AssertionError naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = check()
            if value:
                return value
        except Exception as exc:  # noqa: BLE001 - an element not there yet, or replaced while read: try again
            last = exc
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}" + (f" (last error: {last})" if last else ""))


def console_errors(driver: Any) -> list[str]:
    """Messages the page logged as errors (script errors, Content-Security-Policy violations) since the last call."""
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
