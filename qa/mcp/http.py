"""The MCP server over streamable HTTP, as one route for qa's app to serve at ``/mcp``.

Stateless, with plain JSON responses: every tool is a read, so nothing needs
a session or a stream, and any worker can answer any request. The route is
the SDK's own, lifted out of its Starlette app, so qa's app keeps its JSON
404s and ``POST /mcp`` is served without a redirect. The SDK's session
manager must run while the route serves: the app's lifespan enters
``server.session_manager.run()`` (without it every request fails).

Two checks guard it. The API key, when reads need one: a Bearer token, 401
without it or with a wrong one (as MCP's authorization rules say; the REST
API answers a wrong key with 403). And the SDK's DNS-rebinding protection
with qa's allowed hosts: qa's app already refuses other Hosts with 400; this
keeps the route safe on its own and also checks a browser's Origin.
"""

from __future__ import annotations

import hmac

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
    """The ``/mcp`` route (every method) of ``server``; run its ``session_manager`` while serving it."""
    app = server.streamable_http_app(
        streamable_http_path=PATH,
        stateless_http=True,
        json_response=True,
        transport_security=transport_security(settings),
    )
    (sdk_route,) = [r for r in app.routes if isinstance(r, Route) and r.path == PATH]
    endpoint = sdk_route.app
    if settings.api_key is not None and settings.api_key_reads:
        endpoint = BearerKey(endpoint, settings.api_key)
    return Route(PATH, endpoint=endpoint)


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


class BearerKey:
    """ASGI wrapper: only requests with ``Authorization: Bearer <QA_API_KEY>`` reach ``app``."""

    def __init__(self, app: ASGIApp, key: SecretStr) -> None:
        self.app, self.key = app, key.get_secret_value().encode("utf-8")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scheme, _, token = Headers(scope=scope).get("authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                refusal = self._refusal("this endpoint needs an API key: send 'Authorization: Bearer <key>'", "Bearer")
                await refusal(scope, receive, send)
                return
            # Constant time, so the answer's timing does not reveal how much of the key was right.
            if not hmac.compare_digest(token.strip().encode("utf-8"), self.key):
                refusal = self._refusal("the API key is not valid", 'Bearer error="invalid_token"')
                await refusal(scope, receive, send)
                return
        await self.app(scope, receive, send)

    @staticmethod
    def _refusal(detail: str, challenge: str) -> JSONResponse:
        return JSONResponse({"detail": detail}, status_code=401, headers={"WWW-Authenticate": challenge})
