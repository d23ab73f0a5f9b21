"""The server over streamable HTTP, as an ASGI app that knows who is asking.

``authenticate(scope)`` (the host's login check: Airflow's in ``vector_sync.airflow.web.mcp``)
returns the caller's ``Viewer`` or the response that refuses them; the viewer rides in the
request's ASGI scope to the tools (``request_viewer``), so every call is answered as the
login of its own request. A call that arrives without one is refused: fail closed.

Each request is served by a fresh stateless session manager (``stateless_http``, JSON
answers): hosts such as Airflow mount plugin apps without running their lifespan, and
nothing needs to live between requests, since every request carries its own login.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.transport_security import TransportSecuritySettings

from vector_sync.mcp.server import build_server
from vector_sync.mcp.tools import Index, Viewer

VIEWER_SCOPE_KEY = "vector_sync.mcp.viewer"
# The host's own checks stand: a login is required on every request and the Host header is
# the host's business (the SDK's localhost-only default would refuse any real host name).
HOST_CHECKS_BY_THE_HOST = TransportSecuritySettings(enable_dns_rebinding_protection=False)

Authenticate = Callable[[dict[str, Any]], Awaitable[Any]]


def request_viewer(ctx: Context) -> Viewer:
    """The viewer the login check put on this call's HTTP request; none is refused."""
    request = getattr(ctx.request_context, "request", None)
    viewer = request.scope.get(VIEWER_SCOPE_KEY) if request is not None else None
    if not isinstance(viewer, Viewer):
        raise ToolError("this request carries no signed-in identity: sign in and call again")
    return viewer


class McpHttpApp:
    """ASGI app serving MCP at its own path; ``authenticate`` runs before anything else."""

    def __init__(self, index: Index, authenticate: Authenticate) -> None:
        self.index = index
        self.authenticate = authenticate
        self._server: MCPServer | None = None

    @property
    def server(self) -> MCPServer:
        if self._server is None:
            self._server = build_server(self.index, request_viewer)
        return self._server

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        outcome = await self.authenticate(scope)
        if not isinstance(outcome, Viewer):  # the refusal, an ASGI response
            await outcome(scope, receive, send)
            return
        app = self.server.streamable_http_app(
            streamable_http_path="/", stateless_http=True, json_response=True, transport_security=HOST_CHECKS_BY_THE_HOST
        )
        inner = {**scope, "path": "/", "raw_path": b"/", "root_path": "", VIEWER_SCOPE_KEY: outcome}
        async with app.router.lifespan_context(app):
            await app(inner, receive, send)
