"""``vector-sync mcp``: the server over stdin/stdout, for an assistant on the operator's machine.

There is no login on a pipe: the operator names whose view it serves (``--user EMAIL``), or
it serves public items only. stdout carries the protocol alone; logs go to stderr.
"""

from __future__ import annotations

from typing import Any

from vector_sync.mcp.server import build_server
from vector_sync.mcp.tools import Index, Viewer
from vector_sync.models import SearchFilter

NO_USER_NOTE = "the server was started without --user: public items only"


def stdio_viewer(user: str | None) -> Viewer:
    """The viewer for ``--user``: None is public items only; a blank or non-email value is
    refused (ValueError), never read as "everyone"."""
    if user is None:
        return Viewer(None, NO_USER_NOTE)
    email = SearchFilter(user=user).user  # the access rule's own normalisation; blank raises
    if not email or "@" not in email or any(c.isspace() for c in email):
        raise ValueError(f"--user must be an email, got {user!r}")
    return Viewer(email)


def serve_stdio(index: Index, user: str | None) -> None:
    """Serve ``index`` over stdio as ``user`` until the client closes the pipe."""
    viewer = stdio_viewer(user)
    build_server(index, lambda ctx: viewer).run("stdio")


def runtime_index(runtime: Any, schedules: Any = None) -> Index:
    """An ``Index`` over the CLI's runtime (``vector_sync.airflow.backends.Runtime``): its
    store and embedder are built once, on the first call."""
    from types import SimpleNamespace

    from vector_sync.sources import registered_sources

    built: list[Any] = []

    def backends() -> Any:
        if not built:
            built.append(SimpleNamespace(state=runtime.state, store=runtime.store(), embedder=runtime.embedder()))
        return built[0]

    return Index(backends=backends, sources=registered_sources, schedules=schedules)
