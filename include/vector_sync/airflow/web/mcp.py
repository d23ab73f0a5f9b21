"""``/vector-sync/mcp``: the MCP server (``vector_sync.mcp``) behind Airflow's login.

Airflow mounts plugin apps without authentication, and this route is a plain ASGI app, so
it resolves the user itself, with the very function the operations page's ``GetUserDep``
runs (``airflow.api_fastapi.core_api.security.get_user``: an ``Authorization: Bearer`` JWT
from ``/auth/token``, else the UI's ``_token`` cookie); no valid login, no MCP (401/403). The
signed-in user's email (``identity.identity_of``, as the page's search) decides what the
tools show; no known email, public items only. No one may search as someone else here.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import anyio.to_thread
from fastapi import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from vector_sync.airflow.web.identity import identity_of
from vector_sync.mcp.http import McpHttpApp
from vector_sync.mcp.tools import Index, Viewer

MCP_PATH = "/mcp"


async def authenticate(scope: dict[str, Any]) -> Viewer | JSONResponse:
    """The signed-in user's viewer, or the 401/403 Airflow's own routes would answer."""
    from airflow.api_fastapi.core_api.security import bearer_scheme, get_user

    request = Request(scope)
    try:
        user = await get_user(request, None, await bearer_scheme(request))
    except HTTPException as exc:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=headers)
    identity = await anyio.to_thread.run_sync(identity_of, user)  # reads a Variable: off the event loop
    return Viewer(identity.email, identity.note)


def mcp_route(cache: Any) -> Route:
    """The route for the plugin app; ``cache`` is its ``BackendCache`` (shared with the page)."""
    from vector_sync.airflow.schedule import metadata_schedules
    from vector_sync.sources import registered_sources

    index = Index(
        backends=cache.get,
        sources=registered_sources,
        schedules=lambda names: metadata_schedules(names, datetime.now(timezone.utc)),
    )
    return Route(MCP_PATH, McpHttpApp(index, authenticate), methods=["GET", "POST", "DELETE"])
