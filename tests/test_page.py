"""The page at ``GET /``: how it is served, and what its files may and may not do."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from fastapi.testclient import TestClient

from qa.api import create_app
from qa.api.page import CSP
from qa.web import STATIC

KEY = "s3cret-key"


# ------------------------------------------------------------------ served right (no browser)


@pytest.fixture
def client(make_service) -> TestClient:  # type: ignore[no-untyped-def]
    service = make_service()
    with TestClient(create_app(service.settings, service=service)) as c:
        yield c


def test_the_page_is_html_with_a_policy_that_allows_only_its_own_files(client: TestClient) -> None:
    r = client.get("/")
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    assert "<title>" in r.text and 'src="/static/app.js"' in r.text
    policy = dict(part.strip().split(" ", 1) for part in r.headers["content-security-policy"].split(";"))
    assert policy["default-src"] == "'self'" and policy["script-src"] == "'self'" and policy["style-src"] == "'self'"
    assert policy["connect-src"] == "'self'" and policy["object-src"] == "'none'"
    assert policy["frame-ancestors"] == "'none'" and policy["base-uri"] == "'none'"
    assert "unsafe" not in r.headers["content-security-policy"]
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "no-referrer"


def _module_imports(source: str) -> set[str]:
    return set(re.findall(r'^import .* from "\./([\w.-]+)";$', source, re.M))


def test_every_file_of_the_page_is_served_with_its_type_and_the_policy(client: TestClient) -> None:
    html = client.get("/").text
    linked = set(re.findall(r'(?:src|href)="/static/([\w.-]+)"', html))
    modules = set()
    for name in {n for n in linked if n.endswith(".js")} | {"app.js"}:
        modules |= _module_imports((STATIC / name).read_text())
    for module in list(modules):
        modules |= _module_imports((STATIC / module).read_text())
    expected = {"js": "text/javascript; charset=utf-8", "css": "text/css; charset=utf-8", "svg": "image/svg+xml"}
    assert {"app.js", "app.css", "icon.svg"} <= linked and {"api.js", "i18n.js", "text.js"} <= modules
    for name in linked | modules:
        r = client.get(f"/static/{name}")
        assert r.status_code == 200, name
        assert r.headers["content-type"] == expected[name.rsplit(".", 1)[1]], name
        assert r.headers["content-security-policy"] == CSP and r.headers["x-content-type-options"] == "nosniff"
    assert not {p.name for p in STATIC.iterdir()} - linked - modules - {"index.html"}, "a file nothing uses"


@pytest.mark.parametrize("path", ["/static/nope.js", "/static/..%2F__init__.py", "/static/../__init__.py", "/static/"])
def test_only_the_page_files_are_served(client: TestClient, path: str) -> None:
    r = client.get(path)
    assert r.status_code == 404 and "detail" in r.json()


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.script_text = ""
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.script_text += data


def _tags() -> _Tags:
    parser = _Tags()
    parser.feed((STATIC / "index.html").read_text())
    return parser


def test_the_html_has_no_inline_script_style_or_handler_and_loads_nothing_from_elsewhere() -> None:
    parser = _tags()
    scripts = [attrs for tag, attrs in parser.tags if tag == "script"]
    assert scripts and all(a.get("src", "").startswith("/static/") for a in scripts)
    assert parser.script_text.strip() == ""
    assert not [tag for tag, _ in parser.tags if tag == "style"]
    for tag, attrs in parser.tags:
        assert "style" not in attrs and not [a for a in attrs if a.startswith("on")], (tag, attrs)
        for a in ("src", "href", "action"):
            value = attrs.get(a) or ""
            assert not re.match(r"^(\w+:)?//", value), (tag, a, value)


def test_every_input_of_the_html_has_a_label() -> None:
    parser = _tags()
    labelled = {attrs.get("for") for tag, attrs in parser.tags if tag == "label"}
    controls = [attrs for tag, attrs in parser.tags if tag in ("input", "select", "textarea")]
    assert len(controls) >= 8
    for attrs in controls:
        assert attrs.get("id") in labelled or attrs.get("aria-label"), attrs


def test_the_scripts_never_parse_text_as_html() -> None:
    """Documents reach the page only through textContent, text nodes and attributes (see dom.js)."""
    for path in STATIC.glob("*.js"):
        source = path.read_text()
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
            assert sink not in source, (path.name, sink)


def _messages() -> dict[str, set[str]]:
    source = (STATIC / "i18n.js").read_text()
    blocks = re.split(r"^  (en|zh): \{$", source, flags=re.M)
    return {blocks[i]: set(re.findall(r'^    "([\w.]+)":', blocks[i + 1], re.M)) for i in (1, 3)}


def test_every_message_exists_in_english_and_chinese() -> None:
    messages = _messages()
    assert messages["en"] == messages["zh"] and len(messages["en"]) > 50
    used = set(re.findall(r'data-i18n(?:-[\w-]+)?="([\w.]+)"', (STATIC / "index.html").read_text()))
    for path in STATIC.glob("*.js"):
        used |= set(re.findall(r'\bt\(\s*"([\w.]+)"', path.read_text()))
    assert used and not used - messages["en"], used - messages["en"]


def test_the_page_is_not_in_the_api_spec(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert "/formats" in paths and "/" not in paths and not [p for p in paths if p.startswith("/static")]


def test_the_page_opens_without_a_key_when_reads_need_one(make_service) -> None:  # type: ignore[no-untyped-def]
    service = make_service(api_key=KEY, api_key_reads=True)
    with TestClient(create_app(service.settings, service=service)) as c:
        assert c.get("/").status_code == 200 and c.get("/static/app.js").status_code == 200
        assert c.get("/formats").status_code == 200  # the upload form's accept list
        assert c.get("/documents").status_code == 401
        assert c.get("/documents", headers={"Authorization": f"Bearer {KEY}"}).status_code == 200
