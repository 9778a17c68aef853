"""``GET /`` and ``/static/*``: the page of :mod:`qa.web`, with headers that keep whatever it shows inert.

The Content-Security-Policy lets the page run only its own files and talk
only to its own origin: even text that slipped onto the page as HTML could
run no script and load nothing from elsewhere. The files are few and fixed,
so only names found in the folder are served, never a path.
"""

from __future__ import annotations

import functools

from fastapi import APIRouter
from fastapi.responses import FileResponse

from qa.errors import NotFound
from qa.web import STATIC

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",  # revalidate (ETag), so a newer qa's page is never mixed with an older one's
}
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}

router = APIRouter(include_in_schema=False)


@functools.cache
def _files() -> dict[str, str]:
    """Served name -> content type, for every file of a known type in the folder."""
    return {p.name: TYPES[p.suffix] for p in STATIC.iterdir() if p.is_file() and p.suffix in TYPES}


def _file(name: str) -> FileResponse:
    media_type = _files().get(name)
    if media_type is None:
        raise NotFound(f"no file {name!r} on this page")
    return FileResponse(STATIC / name, media_type=media_type, headers=HEADERS)


@router.api_route("/", methods=["GET", "HEAD"])
def page() -> FileResponse:
    return _file("index.html")


@router.api_route("/static/{name}", methods=["GET", "HEAD"])
def static(name: str) -> FileResponse:
    return _file(name)
