"""``/docs`` (Swagger UI) and ``/redoc``, whose scripts and styles come from the fastapi-offline package, not a CDN,
so the API's documentation works on a machine without internet, like everything else qa serves."""

from __future__ import annotations

import functools
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, Response

from qa.errors import NotFound

router = APIRouter(include_in_schema=False)
PREFIX = "/docs-assets"
TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8", ".png": "image/png"}
# ReDoc's "API docs by Redocly" badge is the one thing its bundle still fetches from a CDN.
_REDOC_LOGO = b"https://cdn.redoc.ly/redoc/logo-mini.svg"


@functools.cache
def _assets() -> dict[str, Path]:
    """Served name -> file, for the few files the package ships (never a path from the request)."""
    import fastapi_offline

    folder = Path(fastapi_offline.__file__).parent / "static"
    return {p.name: p for p in folder.iterdir() if p.suffix in TYPES}


@functools.cache
def _content(name: str) -> bytes:
    data = _assets()[name].read_bytes()
    return data.replace(_REDOC_LOGO, f"{PREFIX}/favicon.png".encode()) if name == "redoc.standalone.js" else data


@router.get("/docs")
def swagger(request: Request) -> HTMLResponse:
    root = request.scope.get("root_path", "")
    return get_swagger_ui_html(
        openapi_url=f"{root}{request.app.openapi_url}",
        title=f"{request.app.title} - API",
        swagger_js_url=f"{root}{PREFIX}/swagger-ui-bundle.js",
        swagger_css_url=f"{root}{PREFIX}/swagger-ui.css",
        swagger_favicon_url=f"{root}{PREFIX}/favicon.png",
    )


@router.get("/redoc")
def redoc(request: Request) -> HTMLResponse:
    root = request.scope.get("root_path", "")
    return get_redoc_html(
        openapi_url=f"{root}{request.app.openapi_url}",
        title=f"{request.app.title} - API",
        redoc_js_url=f"{root}{PREFIX}/redoc.standalone.js",
        redoc_favicon_url=f"{root}{PREFIX}/favicon.png",
        with_google_fonts=False,
    )


@router.get(PREFIX + "/{name}")
def asset(name: str) -> Response:
    if name not in _assets():
        raise NotFound(f"no file {name!r} among the documentation's assets")
    headers = {"Cache-Control": "public, max-age=86400"}
    return Response(_content(name), media_type=TYPES[_assets()[name].suffix], headers=headers)
