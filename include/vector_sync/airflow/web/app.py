"""The operations page and its JSON API, mounted in Airflow's API server at ``/vector-sync``.

Every route, the page and its script included, sits behind Airflow's own authentication
(the UI's ``_token`` cookie or an ``Authorization: Bearer`` JWT): Airflow mounts plugin apps
without any, so the app-level ``requires_authenticated()`` dependency adds it. Reads go
through the same library calls as the CLI, so ``GET /api/status`` is byte for byte what
``vector-sync status --json`` prints. "Sync now" is not an endpoint here: the page posts to
Airflow's own ``/api/v2/dags/{dag_id}/dagRuns`` as the logged-in user, so Airflow decides
who may trigger what.

Search runs as the signed-in user's email (``vector_sync.airflow.web.identity``): without one, public
items only. Only admins may search as someone else, and each such search is in Airflow's audit
log. The app serves no OpenAPI docs (they would load from a CDN and list the API to anyone).
"""

from __future__ import annotations

import html
import json
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime, timedelta, timezone
from functools import cached_property
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

from airflow.api_fastapi.app import get_auth_manager
from airflow.api_fastapi.core_api.security import GetUserDep, requires_authenticated
from airflow.api_fastapi.logging.decorators import action_logging
from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from vector_sync.airflow.web import URL_PREFIX
from vector_sync.airflow.web.identity import Identity, as_email, identity_of
from vector_sync.airflow.web.mcp import mcp_route
from vector_sync.airflow.web.webhooks import webhooks_app

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"
# Only these files are served: nothing else under the package is reachable by URL.
STATIC_FILES = {
    "dashboard.js": "text/javascript",
    "dashboard.css": "text/css",
    "icon.svg": "image/svg+xml",
}
# Auth managers other than SimpleAuthManager (FAB, Keycloak...) make a vector-sync admin
# (project toggling, search as another user) with "PUT" on this custom view;
# SimpleAuthManager with its Admin role.
PROJECTS_VIEW = "Vector Sync Projects"
# An admin's search as someone else lands in Airflow's audit log under this event.
SEARCH_AS_EVENT = "vector_sync_search_as_user"
# index.html marks what only admins get; for others it is cut out before sending.
ADMIN_ONLY = re.compile(r"<!--admin-only-->.*?<!--/admin-only-->", re.S)
# The backends (state DB engine, vector store, embedder) are rebuilt this often, so a changed
# Variable `vector_sync_config` or connection applies without restarting the API server.
RUNTIME_TTL_S = 300.0
MAX_RUN_DAYS = 90
# 90 days of 15-minute runs of five sources, with room to spare.
MAX_RUNS = 50_000
MAX_TOP_K = 100
# The page has no inline script or style, so the policy can forbid both.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'self'; base-uri 'none'; form-action 'self'"
)


# ----------------------------------------------------------------------------- backends


class Backends:
    """What the routes read: state, vector store and embedder, built on first use."""

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime

    @property
    def state(self) -> Any:
        return self.runtime.state

    @cached_property
    def store(self) -> Any:
        return self.runtime.store()

    @cached_property
    def embedder(self) -> Any:
        return self.runtime.embedder()

    def close(self) -> None:
        """Release the state DB's pooled connections (requests still running keep theirs)."""
        state = getattr(self.runtime, "_state", None)
        engine = getattr(state, "engine", None)
        if engine is not None:
            engine.dispose()


def _default_runtime() -> Any:
    from vector_sync.airflow.backends import Runtime

    return Runtime()


class BackendCache:
    """One ``Backends`` shared by all requests, rebuilt after ``ttl_s`` or on ``reset()``."""

    def __init__(self, factory: Callable[[], Any] = _default_runtime, ttl_s: float = RUNTIME_TTL_S) -> None:
        self.factory = factory
        self.ttl_s = ttl_s
        self._lock = threading.Lock()
        self._value: Backends | None = None
        self._built_at = 0.0

    def get(self) -> Backends:
        with self._lock:
            if self._value is None or time.monotonic() - self._built_at > self.ttl_s:
                old, self._value = self._value, Backends(self.factory())
                self._built_at = time.monotonic()
                if old is not None:
                    old.close()
            return self._value

    def reset(self) -> None:
        with self._lock:
            if self._value is not None:
                self._value.close()
            self._value = None


# ----------------------------------------------------------------------------- permissions


def is_admin(user: Any) -> bool:
    """Whether ``user`` is a vector-sync admin: may switch projects on and off and search as
    another user (support)."""
    manager = get_auth_manager()
    from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import SimpleAuthManager

    if isinstance(manager, SimpleAuthManager):
        # Its custom-view check lets every Viewer in; the role is the admin signal it has.
        return str(getattr(user, "role", "") or "").upper() == "ADMIN"
    return bool(manager.is_authorized_custom_view(method="PUT", resource_name=PROJECTS_VIEW, user=user))


def can_trigger(user: Any, dag_id: str) -> bool:
    """Whether Airflow would let ``user`` create a run of ``dag_id`` (for the button only:
    Airflow checks again when the page posts the run)."""
    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity, DagDetails

    return bool(
        get_auth_manager().is_authorized_dag(method="POST", access_entity=DagAccessEntity.RUN, details=DagDetails(id=dag_id), user=user)
    )


def require_project_admin(user: GetUserDep) -> None:
    if not is_admin(user):
        raise HTTPException(status_code=403, detail="only admins may switch projects on or off")


def search_identity(user: Any, requested: str | None) -> tuple[Identity, bool]:
    """Whose view a search shows, and whether it is an admin's impersonation (to audit).

    No ``user=``: the caller's own identity. A blank one: nobody, so public items only (never
    everyone). The caller's own email: as without. Any other email: admins only, else 403.
    """
    own = identity_of(user)
    if requested is None:
        return own, False
    if not requested.strip():
        return Identity(None, "the user given is blank"), False
    wanted = requested.strip().lower()
    if wanted == own.email:
        return own, False
    if not is_admin(user):
        raise HTTPException(
            status_code=403,
            detail=f"only admins may search as another user; you search as {own.email or 'nobody (public items only)'}: leave the user out",
        )
    if not as_email(wanted):
        raise HTTPException(status_code=400, detail="user must be an email")
    return Identity(wanted, "an admin's view, recorded in Airflow's audit log"), True


def record_search_as(user: Any, as_user: str, q: str) -> None:
    """Put an admin's search as ``as_user`` in Airflow's audit log (Browse > Audit Log): who,
    as whom, the query. Written before the search runs, so a failing search is recorded too."""
    from airflow.models import Log
    from airflow.utils.session import create_session

    with create_session(scoped=False) as session:
        name = user.get_name()
        session.add(Log(event=SEARCH_AS_EVENT, owner=name, owner_display_name=name, extra=json.dumps({"as_user": as_user, "q": q})))


# ----------------------------------------------------------------------------- helpers


def dag_id_for(source: str) -> str:
    return f"vector_sync_{source}"


def airflow_root(request: Request) -> str:
    """Airflow's base path as the browser sees it ("" unless served under a sub-path)."""
    mount = str(request.scope.get("root_path", "")).rstrip("/")
    return mount[: -len(URL_PREFIX)] if mount.endswith(URL_PREFIX) else ""


def run_url(request: Request, source: str, run_id: str | None) -> str | None:
    """The run's page in the Airflow UI; None for runs that were no Airflow run (CLI syncs)."""
    if not run_id or run_id.startswith("cli__"):
        return None
    return f"{airflow_root(request)}/dags/{dag_id_for(source)}/runs/{quote(run_id, safe='')}"


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _split(values: list[str]) -> list[str]:
    """Repeated and comma-separated query values, in order, without blanks."""
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def _json(data: Any) -> Response:
    """JSON exactly as the CLI writes it (``json.dumps(..., indent=2, default=str)``)."""
    return Response(json.dumps(data, indent=2, default=str), media_type="application/json", headers={"Cache-Control": "no-store"})


class ProjectUpdate(BaseModel):
    is_active: bool


class ProjectToggle(ProjectUpdate):
    key: str


# ----------------------------------------------------------------------------- app


def create_app(backends: BackendCache | None = None) -> FastAPI:
    """The app the plugin mounts at ``URL_PREFIX``; ``backends`` is replaceable for tests."""
    cache = backends or BackendCache()
    app = FastAPI(
        title="vector-sync",
        description="Sync health, run history, search and projects of the vector index.",
        dependencies=[Depends(requires_authenticated())],
        # Routes without a login otherwise, and the docs pages would load from a CDN.
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.backends = cache
    app.mount("/webhooks", webhooks_app(lambda: cache.get().state))  # outside the login: vendors sign instead

    @app.exception_handler(StarletteHTTPException)
    async def login_redirect(request: Request, exc: StarletteHTTPException) -> Response:
        # A browser opening the page without a session goes to Airflow's login and back;
        # API clients keep the plain 401.
        wants_page = request.method == "GET" and "/api/" not in request.url.path and "text/html" in request.headers.get("accept", "")
        if exc.status_code == 401 and wants_page:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"{airflow_root(request)}/api/v2/auth/login?next={quote(target, safe='')}", status_code=307)
        return await http_exception_handler(request, exc)

    # --------------------------------------------------------------------- page

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page(request: Request, user: GetUserDep) -> HTMLResponse:
        from vector_sync.sources import registered_sources

        text = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
        values = {
            "APP_ROOT": html.escape(str(request.scope.get("root_path", URL_PREFIX)).rstrip("/"), quote=True),
            "AIRFLOW_ROOT": html.escape(airflow_root(request), quote=True),
            "SOURCES": html.escape(",".join(registered_sources()), quote=True),
            "USER": html.escape(user.get_name(), quote=True),
        }
        if not is_admin(user):
            text = ADMIN_ONLY.sub("", text)
        for key, value in values.items():
            text = text.replace("{{" + key + "}}", value)
        return HTMLResponse(text, headers={"Content-Security-Policy": CONTENT_SECURITY_POLICY, "Cache-Control": "no-store"})

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str) -> FileResponse:
        if name not in STATIC_FILES:
            raise HTTPException(status_code=404, detail="not found")
        return FileResponse(STATIC_DIR / name, media_type=STATIC_FILES[name], headers={"Cache-Control": "no-cache"})

    # --------------------------------------------------------------------- API

    @app.get("/api/me")
    def me(user: GetUserDep) -> dict[str, Any]:
        """Who is asking and what the page may offer them."""
        from vector_sync.sources import registered_sources

        admin = is_admin(user)
        return {
            "user": user.get_name(),
            **identity_of(user).to_json(),
            "can_impersonate": admin,
            "can_edit_projects": admin,
            "can_trigger": {name: can_trigger(user, dag_id_for(name)) for name in registered_sources()},
        }

    @app.get("/api/status")
    def status() -> Response:
        """Per-source health: exactly the list ``vector-sync status --json`` prints."""
        from vector_sync.airflow.schedule import metadata_schedules
        from vector_sync.sources import registered_sources
        from vector_sync.status import all_status

        b = cache.get()
        names = registered_sources()
        schedules = metadata_schedules(names, datetime.now(timezone.utc))
        fingerprint = b.embedder.fingerprint  # the active embedder: a switch shows as needs-rebuild
        return _json([row.to_json() for row in all_status(names, b.state, b.store, schedules, fingerprint)])

    @app.get("/api/runs")
    def runs(
        request: Request,
        source: str | None = None,
        days: float = Query(7.0, gt=0, le=MAX_RUN_DAYS),
    ) -> Response:
        """Runs of one source (or all) started in the last ``days``, newest first."""
        from vector_sync.sources import registered_sources

        if source is not None and source not in registered_sources():
            raise HTTPException(status_code=404, detail=f"unknown source '{source}'; registered: {', '.join(registered_sources())}")
        since = datetime.now(timezone.utc) - timedelta(days=days)
        rows = []
        for run in cache.get().state.runs.recent(source, since=since, limit=MAX_RUNS):
            row = {k: _iso(v) for k, v in asdict(run).items()}
            row["synced"] = max(0, run.fetched - run.filtered_out)
            row["dag_id"] = dag_id_for(run.source)
            row["run_url"] = run_url(request, run.source, run.run_id)
            rows.append(row)
        return _json(rows)

    @app.get("/api/search")
    def search(
        signed_in: GetUserDep,
        q: str = Query(..., min_length=1, max_length=2000, description="the question or keywords"),
        source: list[str] = Query([], description="only these sources (repeat or comma-separate)"),
        project: list[str] = Query([], description="only these project keys (repeat or comma-separate)"),
        user: str | None = Query(None, description="search as this email (admins; others only their own)"),
        since: str | None = Query(None, description="date or ISO time, inclusive"),
        until: str | None = Query(None, description="date or ISO time, exclusive (a date means its end)"),
        top_k: int = Query(10, ge=1, le=MAX_TOP_K),
        mode: Literal["hybrid", "keyword", "dense"] = Query("hybrid", description="keywords and vectors fused, or one of them"),
    ) -> Response:
        """The CLI's ``search --json`` result as the caller's identity (or, for admins, ``user``'s),
        with ``identity``/``identity_note``; each hit also carries a one-line ``snippet``."""
        from vector_sync.search import search as run_search
        from vector_sync.search import snippet
        from vector_sync.search_request import search_filter, search_json

        view, impersonating = search_identity(signed_in, user)
        try:
            flt = search_filter(_split(source), _split(project), view.email, since, until, option="")
            if impersonating:
                record_search_as(signed_in, view.email, q)
            b = cache.get()
            hits = run_search(q, b.embedder, b.store, flt, top_k=top_k, mode=mode)
        except ValueError as exc:
            raise HTTPException(status_code=400, detail=str(exc)) from None
        out = {**view.to_json(), **search_json(hits)}
        for hit, row in zip(hits, out["hits"]):
            row["snippet"] = snippet(hit.text, q, title=hit.title)
        return _json(out)

    @app.get("/api/projects")
    def projects(user: GetUserDep) -> dict[str, Any]:
        return {
            "can_edit": is_admin(user),
            "projects": [p._asdict() for p in cache.get().state.projects.all()],
        }

    def _set_active(key: str, active: bool, user: Any) -> dict[str, Any]:
        state = cache.get().state
        key = key.strip().upper()
        if not state.projects.set_active(key, active):
            raise HTTPException(status_code=404, detail=f"unknown project {key}")
        log.info("project %s %s by %s", key, "activated" if active else "deactivated", user.get_name())
        return next(p._asdict() for p in state.projects.all() if p.key == key)

    # The permission check runs first, so a refused attempt writes nothing; an accepted one
    # lands in Airflow's audit log (Browse > Audit Log) with the user and the body.
    admin_only = [Depends(require_project_admin), Depends(action_logging(event="vector_sync_set_project_active"))]

    @app.post("/api/projects", dependencies=admin_only)
    def toggle_project(body: ProjectToggle, user: GetUserDep) -> dict[str, Any]:
        """Switch a project on or off: ``{"key": "ARCH", "is_active": true}`` (admins)."""
        return _set_active(body.key, body.is_active, user)

    @app.patch("/api/projects/{key}", dependencies=admin_only)
    def patch_project(key: str, body: ProjectUpdate, user: GetUserDep) -> dict[str, Any]:
        """Switch a project on or off: ``{"is_active": false}`` (admins)."""
        return _set_active(key, body.is_active, user)

    app.router.routes.append(mcp_route(cache))  # /mcp: the MCP server, its own login check (web/mcp.py)
    return app
