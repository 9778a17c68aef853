"""``/docs`` (Swagger UI) and ``/redoc``, whose scripts and styles come from the fastapi-offline package, not a CDN,
so the API's documentation works on a machine without internet, like everything else qa serves."""

from __future__ import annotations

import functools
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse

from qa.errors import NotFound

router = APIRouter(include_in_schema=False)
PREFIX = "/docs-assets"
TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8", ".png": "image/png"}


@functools.cache
def _assets() -> dict[str, Path]:
    """Served name -> file, for the few files the package ships (never a path from the request)."""
    import fastapi_offline

    folder = Path(fastapi_offline.__file__).parent / "static"
    return {p.name: p for p in folder.iterdir() if p.suffix in TYPES}


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
def asset(name: str) -> FileResponse:
    path = _assets().get(name)
    if path is None:
        raise NotFound(f"no file {name!r} among the documentation's assets")
    return FileResponse(path, media_type=TYPES[path.suffix], headers={"Cache-Control": "public, max-age=86400"})
