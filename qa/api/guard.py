"""Who may address qa from a browser: the Host header against DNS rebinding, and no writes from other sites' pages.

DNS rebinding: a page on a name that its owner later points at 127.0.0.1 can
make the visitor's browser call a local qa, with its own name in the Host
header; only the names in ``QA_ALLOWED_HOSTS`` are served. Cross-site writes:
without a key, any page the user visits could send a multipart document or a
text/plain rebuild (browsers send such "simple" requests without asking), so
writes refuse requests that a browser marks as coming from another site, and
form content types where no form is expected.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from fastapi import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from qa.errors import Forbidden, UnsupportedType

_FORM_TYPES = {"text/plain", "application/x-www-form-urlencoded"}


def _host_name(host: str) -> str:
    """The name of a Host header value, without port; IPv6 literals without brackets."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class AllowedHosts:
    """ASGI middleware: 400 for a request whose Host names no allowed host (``names`` empty: any)."""

    def __init__(self, app: ASGIApp, names: set[str]) -> None:
        self.app, self.names = app, names

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            refusal = self._refusal([v.decode("latin-1") for k, v in scope["headers"] if k == b"host"])
            if refusal:
                body = json.dumps({"detail": refusal}).encode()
                headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
                await send({"type": "http.response.start", "status": 400, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)

    def _refusal(self, hosts: list[str]) -> str:
        # Two Host headers: a proxy may route by one and qa would check the other (RFC 9112 asks for a 400).
        if len(hosts) > 1:
            return f"{len(hosts)} Host headers; a request names one host"
        host = hosts[0] if hosts else ""
        if self.names and _host_name(host) not in self.names:
            return f"host {host!r} is not served here; add it to QA_ALLOWED_HOSTS"
        return ""


def same_origin_write(request: Request) -> None:
    """Refuse a write that a browser sent on behalf of another site's page."""
    site = request.headers.get("sec-fetch-site", "")
    if site in ("cross-site", "same-site"):
        raise Forbidden(f"a write from another site's page is refused (Sec-Fetch-Site: {site})")
    origin = request.headers.get("origin")
    if origin is not None:
        netloc = urlsplit(origin).netloc.lower() if origin != "null" else ""
        if netloc != request.headers.get("host", "").lower():
            raise Forbidden(f"a write from another origin ({origin}) is refused; call qa from its own origin")
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype in _FORM_TYPES:
        raise UnsupportedType(f"writes take application/json or multipart/form-data, not {ctype}")
