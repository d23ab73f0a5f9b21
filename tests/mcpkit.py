"""The MCP server's surroundings for tests/test_mcp*.py and bench/mcp_latency.py: a demo index
synced from the sandbox, Airflow's API server (with the plugin) on a real port, and the SDK's
own client over both transports (``stdio_client`` on ``vector-sync mcp``, and
``streamable_http_client`` on ``/vector-sync/mcp`` with a JWT from ``/auth/token``)."""

from __future__ import annotations

import json
import os
import secrets
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]  # not tests.conftest: the bench imports this kit without pytest

MCP_PATH = "/vector-sync/mcp"
USERS = ("member", "outsider", "nobody")  # SimpleAuthManager users; the Variable maps the first two
TOOLS = {"search", "fetch_document", "sync_status"}


def simple_auth_env(mp: Any, folder: Path) -> dict[str, str]:
    """SimpleAuthManager with ``USERS`` (Viewer role) and their passwords pre-seeded."""
    passwords = {name: f"{name}-pw-{secrets.token_hex(4)}" for name in USERS}
    path = folder / "simple_auth_manager_passwords.json"
    path.write_text(json.dumps(passwords))
    mp.setenv("AIRFLOW__CORE__AUTH_MANAGER", "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager")
    mp.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS", ",".join(f"{name}:viewer" for name in USERS))
    mp.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE", str(path))
    mp.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "False")
    mp.setenv("AIRFLOW__API_AUTH__JWT_SECRET", secrets.token_urlsafe(64))
    mp.setenv("_AIRFLOW_PROCESS_CONTEXT", "server")  # Variables from the metadata DB, as the API server
    return passwords


def sync_demo_index(runtime: Any, workspace: Any, sources: tuple[str, ...] = ("jira", "slack", "fireflies", "notion")) -> Any:
    """Every item of ``sources`` from the sample workspace into ``runtime``'s index; the window."""
    from vector_sync.models import Window
    from vector_sync.run import sync_window

    now = datetime.now(timezone.utc)
    window = Window(workspace.start - timedelta(hours=1), now)
    for name in sources:
        sync_window(runtime.source(name), window, runtime, run_id=f"scheduled__{now.isoformat()}")
    return window


@contextmanager
def api_server(port: int) -> Iterator[str]:
    """Airflow's API server app (plugins loaded) under uvicorn in a thread; its base URL."""
    import uvicorn
    from airflow.api_fastapi.app import create_app

    server = uvicorn.Server(uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, name="api-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the API server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def login(base_url: str, user: str, password: str) -> str:
    """A JWT for ``user`` from Airflow's ``POST /auth/token``."""
    import requests

    response = requests.post(f"{base_url}/auth/token", json={"username": user, "password": password}, timeout=30)
    assert response.status_code == 201, response.text
    return response.json()["access_token"]


@asynccontextmanager
async def http_session(base_url: str, headers: dict[str, str] | None = None, cookies: dict[str, str] | None = None) -> Any:
    """An initialized ``ClientSession`` on ``/vector-sync/mcp``."""
    import httpx2
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    async with (
        httpx2.AsyncClient(headers=headers or {}, cookies=cookies or {}, timeout=httpx2.Timeout(60.0)) as client,
        streamable_http_client(base_url + MCP_PATH, http_client=client) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


@asynccontextmanager
async def stdio_session(*args: str) -> Any:
    """An initialized ``ClientSession`` on ``vector-sync mcp ARGS`` with this process's env."""
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    command = str(Path(sys.executable).with_name("vector-sync"))
    params = StdioServerParameters(command=command, args=["mcp", *args], env=dict(os.environ), cwd=str(ROOT))
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        yield session


def run(session_factory: Callable[[], Any], body: Callable[[Any], Awaitable[Any]]) -> Any:
    """``body(session)`` on a fresh session, from synchronous code."""
    import anyio

    async def main() -> Any:
        async with session_factory() as session:
            return await body(session)

    return anyio.run(main)


def answer(result: Any) -> Any:
    """A tool result's JSON (the structured content the SDK sends beside the text)."""
    assert not result.is_error, result.content[0].text if result.content else result
    return result.structured_content if result.structured_content is not None else json.loads(result.content[0].text)


def error_text(result: Any) -> str:
    assert result.is_error, f"expected an error result, got {result.structured_content}"
    return " ".join(getattr(block, "text", "") for block in result.content)
