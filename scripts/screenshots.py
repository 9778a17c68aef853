"""The README's pictures of the page: the seed question asked at desktop and phone width, a question the documents
do not answer, the documents, the reader.

Runs the page over a copy of the seed article with the real model (and two small documents with metadata, so
the list has something to show) in headless Chromium, the same way tests/test_page.py does, and writes PNGs
into docs/. Desktop in English, phone in Chinese, so both languages are seen.

    .venv/bin/python scripts/screenshots.py [--out docs]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import httpx  # noqa: E402

from qa.api import create_app  # noqa: E402
from qa.config import Settings  # noqa: E402
from qa.encoder.embedder import load_embedder  # noqa: E402

from browser import DESKTOP, PHONE, chromium, resize, wait_until  # noqa: E402
from conftest import seed_service  # noqa: E402
from servers import ThreadedServer  # noqa: E402

QUESTION = "青岛市虚拟现实产业园规划面积有多大?"
UNANSWERED = "What will the weather be like in Paris tomorrow?"
EXTRA = {
    "robotics-pavilion.md": (
        "# Qingdao opens a robotics pavilion\n\nThe Laoshan robotics pavilion opens on 18 October with 42 exhibitors.",
        {"lang": "en", "source": "press"},
    ),
    "visitor-faq/parking.txt": (
        "虚拟现实产业园访客停车场位于园区东门，工作日早八点至晚八点开放，前两小时免费。",
        {"lang": "zh", "year": 2024},
    ),
}


def ask(driver, url: str, question: str = QUESTION) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    driver.get(url + "/")
    box = wait_until(lambda: driver.find_element(By.ID, "question"))
    box.send_keys(question + Keys.ENTER)
    wait_until(lambda: driver.find_element(By.ID, "answer-text").text, what="the answer")


def settle(driver) -> None:  # type: ignore[no-untyped-def]
    driver.execute_script("document.activeElement.blur()")  # a picture of the page, not of where the caret was
    time.sleep(0.4)


def shoot(url: str, out: Path) -> list[Path]:
    from selenium.webdriver.common.by import By

    made = []
    with chromium(lang="en-US") as en:
        resize(en, DESKTOP)
        ask(en, url)
        ask(en, url)  # the second time, with the model warm, so the time shown is the usual one
        settle(en)
        made.append(out / "page-desktop.png")
        en.save_screenshot(str(made[-1]))
        ask(en, url, UNANSWERED)
        settle(en)
        made.append(out / "page-not-found.png")
        en.save_screenshot(str(made[-1]))
        en.get(url + "/#/documents")
        wait_until(lambda: len(en.find_elements(By.CSS_SELECTOR, "#doc-list .doc")) == 1 + len(EXTRA))
        settle(en)
        made.append(out / "page-documents.png")
        en.save_screenshot(str(made[-1]))
    with chromium(lang="zh-CN", size=PHONE) as zh:
        resize(zh, PHONE, scale=2)
        ask(zh, url)
        settle(zh)
        made.append(out / "page-phone.png")
        zh.save_screenshot(str(made[-1]))
        zh.find_element(By.CSS_SELECTOR, ".passage .open").click()
        wait_until(lambda: zh.find_elements(By.CSS_SELECTOR, "mark.passage-mark"), what="the reader")
        time.sleep(0.4)
        made.append(out / "page-reader-phone.png")
        zh.save_screenshot(str(made[-1]))
    return made


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        service = seed_service(Path(tmp), load_embedder(Settings()))
        with ThreadedServer(create_app(service.settings, service=service), service.settings) as server:
            for name, (text, metadata) in EXTRA.items():
                r = httpx.post(server.url + "/documents", json={"doc_id": name, "text": text, "metadata": metadata})
                r.raise_for_status()
            for path in shoot(server.url, args.out):
                print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)


if __name__ == "__main__":
    main()
