"""The MCP server over streamable HTTP, as one route for qa's app to serve at ``/mcp``.

Stateless, with plain JSON responses: every tool is a read, so nothing needs
a session or a stream, and any worker can answer any request. The route is
the SDK's own, lifted out of its Starlette app, so qa's app keeps its JSON
404s and ``POST /mcp`` is served without a redirect. The SDK's session
manager must run while the route serves: the app's lifespan enters
``server.session_manager.run()`` (without it every request fails).

Checks guard it (:class:`Gate`): only POSTs; the API key when reads need
one, as a Bearer token, 401 without it or with a wrong one (as MCP's
authorization rules say; the REST API answers a wrong key with 403); and the
SDK's DNS-rebinding protection with qa's allowed hosts: qa's app already
refuses other Hosts with 400, this keeps the route safe on its own and also
checks a browser's Origin. The SDK admits any port of an allowed host
(``http://localhost:*``), so any other local web app could drive the tools
from its pages; the gate admits only qa's own origin (the Host the request
was sent to, ``QA_PUBLIC_URL``, ``QA_MCP_ALLOWED_ORIGINS``): 403 otherwise, as MCP asks.
"""

from __future__ import annotations

import hmac
from collections.abc import Set as AbstractSet
from urllib.parse import urlsplit

from mcp.server import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from pydantic import SecretStr
from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from qa.config import Settings

PATH = "/mcp"


def route(server: MCPServer, settings: Settings) -> Route:
    """The ``/mcp`` route of ``server``; run its ``session_manager`` while serving it."""
    app = server.streamable_http_app(
        streamable_http_path=PATH,
        stateless_http=True,
        json_response=True,
        transport_security=transport_security(settings),
    )
    (sdk_route,) = [r for r in app.routes if isinstance(r, Route) and r.path == PATH]
    key = settings.api_key if settings.api_key_reads else None
    return Route(PATH, endpoint=Gate(sdk_route.app, key, _origins(settings)))


def _origins(settings: Settings) -> set[str]:
    """The host:port of every origin besides the request's own Host that may call /mcp from a browser."""
    listed = [o.strip() for o in settings.mcp_allowed_origins.split(",") if o.strip()]
    return {urlsplit(o).netloc.lower() for o in [*listed, settings.public_url or ""] if o}


def _literal(name: str) -> str:
    return f"[{name}]" if ":" in name else name  # an IPv6 address, as a Host header carries it


def transport_security(settings: Settings) -> TransportSecuritySettings:
    """The SDK's Host and Origin checks, allowing what ``QA_ALLOWED_HOSTS`` allows (``*``: any, as elsewhere in qa)."""
    names = settings.host_names
    if not names:
        return TransportSecuritySettings(enable_dns_rebinding_protection=False)
    hosts = [h for name in sorted(names) for h in (_literal(name), f"{_literal(name)}:*")]
    origins = [f"{scheme}://{host}" for scheme in ("http", "https") for host in hosts]
    return TransportSecuritySettings(enable_dns_rebinding_protection=True, allowed_hosts=hosts, allowed_origins=origins)


class Gate:
    """ASGI wrapper: only POSTs reach the SDK, and only with ``Authorization: Bearer <key>`` when a key is given.

    Stateless, the server has nothing to stream: the SDK would answer a GET
    with an event stream that never ends, holding a connection for nothing,
    so a GET is 405 as MCP allows (as are DELETE, which ends sessions there
    are none of, and the rest).
    """

    def __init__(self, app: ASGIApp, key: SecretStr | None, origins: AbstractSet[str] = frozenset()) -> None:
        self.app = app
        self.key = key.get_secret_value().encode("utf-8") if key is not None else None
        self.origins = origins

    def _foreign_origin(self, headers: Headers) -> str | None:
        """The request's Origin when a browser sent it from a page that is not qa's own (same host and port)."""
        origin = headers.get("origin")
        if origin is None:
            return None
        netloc = urlsplit(origin).netloc.lower() if origin != "null" else ""
        return None if netloc and (netloc == headers.get("host", "").lower() or netloc in self.origins) else origin

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            refusal = self._refusal(scope)
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _refusal(self, scope: Scope) -> JSONResponse | None:
        if scope["method"] != "POST":
            detail = f"{scope['method']} is not served: MCP clients POST their messages to {PATH}"
            return JSONResponse({"detail": detail}, status_code=405, headers={"Allow": "POST"})
        headers = Headers(scope=scope)
        origin = self._foreign_origin(headers)
        if origin is not None:
            detail = f"an MCP request from another origin ({origin}) is refused; call /mcp from qa's own origin"
            return JSONResponse({"detail": detail}, status_code=403)
        if self.key is None:
            return None
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            detail = "this endpoint needs an API key: send 'Authorization: Bearer <key>'"
            return JSONResponse({"detail": detail}, status_code=401, headers={"WWW-Authenticate": "Bearer"})
        # Constant time, so the answer's timing does not reveal how much of the key was right.
        if not hmac.compare_digest(token.strip().encode("utf-8"), self.key):
            challenge = 'Bearer error="invalid_token"'
            return JSONResponse(
                {"detail": "the API key is not valid"}, status_code=401, headers={"WWW-Authenticate": challenge}
            )
        return None
