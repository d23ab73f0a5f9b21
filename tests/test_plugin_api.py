"""The plugin's JSON API inside Airflow's own API server app (create_app), with the plugin
loaded from plugins/ and SimpleAuthManager users logging in through POST /auth/token.

The index holds the sandbox's private Slack messages and restricted meetings: search shows
them only to listed emails (the signed-in user's, via the Variable vector_sync_identities),
and only admins search as someone else, each time in Airflow's audit log."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from sandbox import build_sandbox
from sandbox.workspace import Workspace, floor_to_hour
from tests.sourcekit import RESTRICTED_SOURCES, restricted_documents, sandbox_settings
from vector_sync import pipeline
from vector_sync.airflow.bootstrap import projects_from
from vector_sync.airflow.web.app import SEARCH_AS_EVENT
from vector_sync.airflow.web.identity import IDENTITIES_VARIABLE
from vector_sync.models import Window
from vector_sync.sources import registered_sources

pytestmark = pytest.mark.airflow

PREFIX = "/vector-sync"
PASSWORDS = {"admin": "admin-pw-for-tests", "viewer": "viewer-pw-for-tests"}
SECRETS = ("sandbox-token", *PASSWORDS.values())  # connection passwords and user passwords
OUTSIDER = "outsider@example.com"


def simple_auth_env(mp: pytest.MonkeyPatch, folder: Path) -> None:
    """SimpleAuthManager with an admin and a viewer whose passwords are pre-seeded."""
    passwords = folder / "simple_auth_manager_passwords.json"
    passwords.write_text(json.dumps(PASSWORDS))
    mp.setenv("AIRFLOW__CORE__AUTH_MANAGER", "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager")
    mp.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS", "admin:admin,viewer:viewer")
    mp.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE", str(passwords))
    mp.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "False")
    mp.setenv("AIRFLOW__API_AUTH__JWT_SECRET", secrets.token_urlsafe(64))


@dataclass
class Env:
    client: Any
    state: Any
    workspace: Workspace
    tokens: dict[str, str]
    jira_window: Window
    slack_run_id: str
    restricted: dict[str, Any]  # source -> an indexed document with an access_list
    backends: Any  # the plugin app's BackendCache

    def get(self, path: str, user: str | None = "admin", **kwargs: Any) -> Any:
        return self.client.get(PREFIX + path, headers=self._auth(user), **kwargs)

    def send(self, method: str, path: str, user: str | None = "admin", **kwargs: Any) -> Any:
        return self.client.request(method, PREFIX + path, headers=self._auth(user), **kwargs)

    def _auth(self, user: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[user]}"} if user else {}


@pytest.fixture(scope="module")
def env(airflow_db, tmp_path_factory):
    """Jira and Fireflies synced from the sandbox (healthy), Slack synced then a failed run, the
    others never run; Airflow's API server app with the plugin; a JWT for each user."""
    from airflow.api_fastapi.app import create_app
    from fastapi.testclient import TestClient

    from vector_sync.airflow.backends import Runtime
    from vector_sync.run import sync_window

    folder = tmp_path_factory.mktemp("plugin-api")
    now = datetime.now(timezone.utc)
    workspace = Workspace(anchor=floor_to_hour(now))
    with pytest.MonkeyPatch.context() as mp, build_sandbox(workspace) as box:
        settings = sandbox_settings(mp, box)
        mp.setenv("VECTOR_SYNC_DATA_DIR", str(folder / "data"))
        simple_auth_env(mp, folder)
        # What `airflow api-server` sets (airflow.api_fastapi.main): Variables come from the DB.
        mp.setenv("_AIRFLOW_PROCESS_CONTEXT", "server")
        mp.delenv(f"AIRFLOW_VAR_{IDENTITIES_VARIABLE.upper()}", raising=False)

        runtime = Runtime()
        runtime.state.projects.upsert(projects_from(settings))
        jira_window = Window(workspace.start - timedelta(hours=1), now)
        sync_window(runtime.source("jira"), jira_window, runtime, run_id=f"scheduled__{now.isoformat()}")
        history = Window(workspace.start - timedelta(hours=1), now)
        sync_window(runtime.source("fireflies"), history, runtime, run_id=f"scheduled__{now.isoformat()}")
        slack_window = Window(now - timedelta(minutes=30), now - timedelta(minutes=15))
        sync_window(
            runtime.source("slack"),
            Window(history.start, slack_window.start),
            runtime,
            run_id=f"scheduled__{slack_window.start.isoformat()}",
        )
        slack_run_id = f"scheduled__{slack_window.end.isoformat()}"
        failed_at = datetime.now(timezone.utc)  # after the syncs: the newest Slack run
        runtime.state.runs.record_failure(
            "slack", slack_run_id, "fetch", slack_window.start, slack_window.end, "SlackApiError: ratelimited", 4, failed_at
        )
        pipeline.record(
            runtime.state, "slack", slack_run_id, slack_window, failed_at, {}, status="failed", error_message="SlackApiError: ratelimited"
        )
        restricted = restricted_documents(runtime.state, Window(history.start, slack_window.start))

        app = create_app()
        mount = next(route for route in app.routes if getattr(route, "path", None) == PREFIX)
        plugin_app = mount.app.app  # the plugin mounts a shim that builds the app on first use
        plugin_app.state.backends.reset()  # read this test's data folder
        client = TestClient(app)
        tokens = {}
        for user, password in PASSWORDS.items():
            response = client.post("/auth/token", json={"username": user, "password": password})
            assert response.status_code == 201, response.text
            tokens[user] = response.json()["access_token"]
        yield Env(client, runtime.state, workspace, tokens, jira_window, slack_run_id, restricted, plugin_app.state.backends)
        plugin_app.state.backends.reset()


# ----------------------------------------------------------------------------- auth


@pytest.mark.parametrize(
    "path", ["/", "/api/status", "/api/runs", "/api/search?q=renewal", "/api/projects", "/api/me", "/static/dashboard.js"]
)
def test_every_route_needs_a_login(env, path):
    assert env.get(path, user=None).status_code == 401
    assert env.get(path, user="viewer").status_code == 200
    assert env.client.get(PREFIX + path, headers={"Authorization": "Bearer not-a-jwt"}).status_code in (401, 403)


def test_writes_need_a_login_too(env):
    assert env.send("PATCH", "/api/projects/ARCH", user=None, json={"is_active": True}).status_code == 401
    assert env.send("POST", "/api/projects", user=None, json={"key": "ARCH", "is_active": True}).status_code == 401


def test_browser_without_session_is_sent_to_airflow_login(env):
    response = env.client.get(PREFIX + "/", headers={"Accept": "text/html"}, follow_redirects=False)
    assert response.status_code == 307
    assert response.headers["location"] == "/api/v2/auth/login?next=%2Fvector-sync%2F"
    # API clients keep their plain 401, whatever they accept.
    assert env.client.get(PREFIX + "/api/status", headers={"Accept": "text/html"}, follow_redirects=False).status_code == 401


def test_the_ui_cookie_works_like_the_bearer_token(env):
    response = env.client.get(PREFIX + "/api/me", cookies={"_token": env.tokens["viewer"]})
    assert response.status_code == 200 and response.json()["user"] == "viewer"


def test_plugin_is_registered_with_a_nav_link(env):
    response = env.client.get("/api/v2/plugins", headers=env._auth("admin"))
    assert response.status_code == 200, response.text
    plugin = next(p for p in response.json()["plugins"] if p["name"] == "vector_sync")
    assert [a["url_prefix"] for a in plugin["fastapi_apps"]] == [PREFIX]
    (view,) = plugin["external_views"]
    assert view["destination"] == "nav" and view["href"] == f"{PREFIX}/" and view["url_route"] == "vector-sync"


# ----------------------------------------------------------------------------- page


def test_page_and_assets_are_served_locally(env):
    page = env.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert f'src="{PREFIX}/static/dashboard.js"' in page.text and f'href="{PREFIX}/static/dashboard.css"' in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "http://" not in page.text and "https://" not in page.text  # nothing from the internet
    assert f'<meta name="vs-sources" content="{",".join(registered_sources())}">' in page.text
    script = env.get("/static/dashboard.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert "/api/v2/dags/" in script.text and "logical_date: null" in script.text
    assert env.get("/static/dashboard.css").headers["content-type"].startswith("text/css")
    assert env.get("/static/index.html").status_code == 404
    assert env.get("/static/..%2Fapp.py").status_code == 404


# ----------------------------------------------------------------------------- status


def cli_status(capsys) -> list[dict[str, Any]]:
    from vector_sync import cli

    capsys.readouterr()
    assert cli.main(["status", "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def without_age(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in row.items() if k != "age_minutes"} for row in rows]


def test_status_is_exactly_the_cli_status(env, capsys):
    before = cli_status(capsys)
    response = env.get("/api/status")
    after = cli_status(capsys)
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    api = response.json()
    # Everything but the age (minutes since last sync, which moves while the test runs) is equal.
    assert without_age(api) == without_age(before) == without_age(after)
    for a, b, c in zip(before, api, after):
        assert (a["age_minutes"] is None and b["age_minutes"] is None) or a["age_minutes"] <= b["age_minutes"] <= c["age_minutes"]

    health = {row["source"]: row["health"] for row in api}
    # Jira and Fireflies synced just now, Slack's last run failed, the others never ran.
    assert health == {**{name: "stale" for name in registered_sources()}, "jira": "healthy", "fireflies": "healthy", "slack": "failed"}
    jira = next(row for row in api if row["source"] == "jira")
    assert jira["vectors"] > 0 and jira["last_run"]["upserted"] > 0 and jira["last_run"]["fetched"] > 0
    slack = next(row for row in api if row["source"] == "slack")
    assert [f["run_id"] for f in slack["failed_windows"]] == [env.slack_run_id]
    assert slack["open_failures"][0]["task_id"] == "fetch"
    assert not any(secret in response.text for secret in SECRETS)


# ----------------------------------------------------------------------------- runs


def test_runs_with_metrics_and_links_to_airflow(env):
    response = env.get("/api/runs", params={"days": 7})
    assert response.status_code == 200
    runs = response.json()
    assert {r["source"] for r in runs} == {"jira", "slack", "fireflies"}
    jira = next(r for r in runs if r["source"] == "jira")
    assert jira["status"] == "success" and jira["synced"] == jira["fetched"] - jira["filtered_out"] > 0
    assert jira["window_start"] == env.jira_window.start.isoformat() and jira["duration_s"] is not None
    assert jira["dag_id"] == "vector_sync_jira"
    slack = next(r for r in runs if r["source"] == "slack")
    assert slack["status"] == "failed"
    assert slack["run_url"] == "/dags/vector_sync_slack/runs/" + env.slack_run_id.replace(":", "%3A").replace("+", "%2B")

    only = env.get("/api/runs", params={"source": "slack"}).json()
    assert {r["source"] for r in only} == {"slack"} and [r["status"] for r in only] == ["failed", "success"]
    assert env.get("/api/runs", params={"source": "nope"}).status_code == 404
    assert env.get("/api/runs", params={"days": 0}).status_code == 422
    assert env.get("/api/runs", params={"days": 1000}).status_code == 422


# ----------------------------------------------------------------------------- projects


def test_viewer_sees_projects_read_only_and_gets_403(env):
    before = env.state.projects.all()
    listing = env.get("/api/projects", user="viewer").json()
    assert listing["can_edit"] is False
    assert {p["key"]: p["is_active"] for p in listing["projects"]} == {p.key: p.is_active for p in before}
    assert env.get("/api/me", user="viewer").json()["can_edit_projects"] is False
    assert env.send("PATCH", "/api/projects/ARCH", user="viewer", json={"is_active": True}).status_code == 403
    assert env.send("POST", "/api/projects", user="viewer", json={"key": "ARCH", "is_active": True}).status_code == 403
    assert env.state.projects.all() == before


def test_admin_switches_a_project_and_the_table_changes(env):
    assert env.get("/api/projects").json()["can_edit"] is True
    assert dict((p.key, p.is_active) for p in env.state.projects.all())["ARCH"] is False
    try:
        response = env.send("PATCH", "/api/projects/arch", json={"is_active": True})
        assert response.status_code == 200, response.text
        assert response.json() == {"key": "ARCH", "name": "Archive Migration", "is_active": True}
        assert dict((p.key, p.is_active) for p in env.state.projects.all())["ARCH"] is True
        assert {p["key"]: p["is_active"] for p in env.get("/api/projects").json()["projects"]}["ARCH"] is True

        response = env.send("POST", "/api/projects", json={"key": "ARCH", "is_active": False})
        assert response.status_code == 200 and response.json()["is_active"] is False
        assert dict((p.key, p.is_active) for p in env.state.projects.all())["ARCH"] is False

        assert env.send("PATCH", "/api/projects/NOPE", json={"is_active": True}).status_code == 404
        assert env.send("PATCH", "/api/projects/ARCH", json={"is_active": "maybe"}).status_code == 422
    finally:
        env.state.projects.set_active("ARCH", False)
    audit = env.client.get("/api/v2/eventLogs", params={"event_pattern": "vector_sync_set_project_active"}, headers=env._auth("admin"))
    assert audit.status_code == 200 and audit.json()["total_entries"] >= 2
    assert {e["owner"] for e in audit.json()["event_logs"]} == {"admin"}


def test_me_says_who_may_trigger(env):
    admin, viewer = env.get("/api/me").json(), env.get("/api/me", user="viewer").json()
    assert admin["user"] == "admin" and admin["can_edit_projects"] is True
    assert set(admin["can_trigger"]) == set(registered_sources()) and all(admin["can_trigger"].values())
    assert not any(viewer["can_trigger"].values())


# ----------------------------------------------------------------------------- search


def synced_issues(env: Env, project: str) -> list[Any]:
    data = env.workspace.data("jira")
    return [i for i in data.updated_between(env.jira_window.start, env.jira_window.end) if i.project == project and i.fields.get("summary")]


def test_search_returns_linked_hits(env):
    issue = synced_issues(env, "SUBS")[0]
    # Jira only: the lexical demo embedder ranks Slack chatter near exact issue keys (the
    # hybrid-search issue's subject); this test is about links.
    response = env.get("/api/search", params={"q": f"{issue.key} {issue.fields['summary']}", "top_k": 5, "source": "jira"})
    assert response.status_code == 200, response.text
    hits = response.json()["hits"]
    assert 0 < len(hits) <= 5
    top = next(h for h in hits if h["id"].startswith(f"jira:{issue.key}#"))
    assert top["link"].endswith(f"/jira/browse/{issue.key}") and top["title"].startswith(issue.key)
    assert all(h["link"].startswith("http") and h["snippet"] for h in hits)
    assert not any(secret in response.text for secret in SECRETS)


def test_search_filters_apply(env):
    issue = synced_issues(env, "SUBS")[0]
    query = issue.fields["summary"]

    bc = env.get("/api/search", params={"q": query, "project": "bc", "top_k": 10}).json()["hits"]
    assert bc and all(h["metadata"]["projects"] == ["BC"] for h in bc)

    assert env.get("/api/search", params={"q": query, "source": "notion"}).json()["hits"] == []  # never synced
    both = env.get("/api/search", params=[("q", query), ("source", "notion,jira")]).json()["hits"]
    assert both and {h["source"] for h in both} == {"jira"}

    future = (env.jira_window.end + timedelta(days=2)).date().isoformat()
    assert env.get("/api/search", params={"q": query, "since": future}).json()["hits"] == []
    past = (env.workspace.start - timedelta(days=2)).date().isoformat()
    assert env.get("/api/search", params={"q": query, "until": past}).json()["hits"] == []
    day = datetime.fromtimestamp(issue.updated_ms / 1000, timezone.utc).date().isoformat()
    on_day = env.get("/api/search", params={"q": query, "since": day, "until": day, "top_k": 20}).json()["hits"]
    assert on_day and all(
        h["metadata"]["timestamp_epoch"] // 86400 * 86400 == datetime.fromisoformat(day + "T00:00:00+00:00").timestamp() for h in on_day
    )

    # Jira items are visible to everyone: a user filter keeps them.
    assert env.get("/api/search", params={"q": query, "user": "someone@example.com"}).json()["hits"]


def test_search_rejects_bad_input(env):
    assert env.get("/api/search").status_code == 422
    assert env.get("/api/search", params={"q": "x", "source": "nope"}).status_code == 400
    assert env.get("/api/search", params={"q": "x", "since": "yesterday"}).status_code == 400
    assert env.get("/api/search", params={"q": "   "}).status_code == 400
    # A date past the allowed range is a 400 naming it, not an OverflowError's 500 (#19).
    far = env.get("/api/search", params={"q": "x", "until": "9999-12-31"})
    assert far.status_code == 400 and "out of range" in far.json()["detail"]
    empty = env.get("/api/search", params={"q": "x", "since": "2026-11-20", "until": "2026-11-10"})
    assert empty.status_code == 400 and "not before" in empty.json()["detail"]
    assert env.get("/api/search", params={"q": "x", "top_k": 0}).status_code == 422


def test_backends_are_shared_then_rebuilt_after_their_ttl():
    from vector_sync.airflow.web.app import BackendCache

    class FakeRuntime:
        built = 0

        def __init__(self) -> None:
            FakeRuntime.built += 1
            self.disposed = False
            engine = type("Engine", (), {"dispose": lambda _: setattr(self, "disposed", True)})()
            self._state = type("State", (), {"engine": engine})()

    cache = BackendCache(FakeRuntime, ttl_s=3600)
    first = cache.get()
    assert cache.get() is first and FakeRuntime.built == 1
    cache.ttl_s = 0
    second = cache.get()
    assert second is not first and FakeRuntime.built == 2 and first.runtime.disposed and not second.runtime.disposed
    cache.reset()
    assert second.runtime.disposed


# ----------------------------------------------------------------------------- identity


@pytest.fixture()
def identities():
    """Sets the Variable vector_sync_identities (raw text) for one test, then removes it."""
    from airflow.models import Variable

    yield lambda raw: Variable.set(IDENTITIES_VARIABLE, raw)
    Variable.delete(IDENTITIES_VARIABLE)


def member_of(env: Env, source: str) -> str:
    return env.restricted[source].access_list[0]


def search_restricted(env: Env, source: str, as_: str, **params: Any) -> Any:
    """A search for the restricted document's title as ``as_``; ``params`` may add ``user``."""
    return env.get("/api/search", user=as_, params={"q": env.restricted[source].title, "source": source, "top_k": 50, **params})


def finds_restricted(response: Any, env: Env, source: str) -> bool:
    assert response.status_code == 200, response.text
    return env.restricted[source].id in {h["id"].rsplit("#", 1)[0] for h in response.json()["hits"]}


def only_public(response: Any) -> bool:
    assert response.status_code == 200, response.text
    return all(h["metadata"]["access_type"] == "all" for h in response.json()["hits"])


def search_as_audit(env: Env) -> list[dict[str, Any]]:
    """This test module's rows of the event in Airflow's `log` table (Browse > Audit Log)."""
    from airflow.models import Log
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(Log).filter(Log.event == SEARCH_AS_EVENT).order_by(Log.id)
        return [{"owner": r.owner, **json.loads(r.extra)} for r in rows]


def test_the_sample_has_restricted_items_with_members(env):
    assert env.restricted["slack"].access_type == "private" and env.restricted["fireflies"].access_type == "shared"
    for source in RESTRICTED_SOURCES:
        assert OUTSIDER not in env.restricted[source].access_list


@pytest.mark.parametrize("as_", ["viewer", "admin"])
@pytest.mark.parametrize("source", RESTRICTED_SOURCES)
def test_without_an_email_search_shows_public_items_only(env, as_, source):
    response = search_restricted(env, source, as_)
    assert not finds_restricted(response, env, source) and only_public(response)
    body = response.json()
    assert body["identity"] is None
    assert body["identity_note"] == f"no email known for user '{as_}': add it to the Variable {IDENTITIES_VARIABLE}"
    me = env.get("/api/me", user=as_).json()
    assert me["identity"] is None and me["identity_note"] == body["identity_note"]
    assert me["can_impersonate"] is (as_ == "admin")
    assert search_restricted(env, source, as_, user=member_of(env, source)).status_code == (200 if as_ == "admin" else 403)


@pytest.mark.parametrize("source", RESTRICTED_SOURCES)
def test_a_mapped_viewer_sees_what_their_email_may_see(env, identities, source):
    member = member_of(env, source)
    identities(json.dumps({"viewer": f"  {member.upper()} "}))
    me = env.get("/api/me", user="viewer").json()
    assert me["identity"] == member and me["identity_note"] is None and me["can_impersonate"] is False
    own = search_restricted(env, source, "viewer")
    assert finds_restricted(own, env, source) and own.json()["identity"] == member
    # Naming oneself (any case) is the same search; a blank user means nobody, never everyone.
    assert finds_restricted(search_restricted(env, source, "viewer", user=member.upper()), env, source)
    for blank in ("", "   "):
        response = search_restricted(env, source, "viewer", user=blank)
        assert not finds_restricted(response, env, source) and only_public(response)
        assert response.json()["identity"] is None and "blank" in response.json()["identity_note"]
    # The admin is not mapped: still public items only.
    assert not finds_restricted(search_restricted(env, source, "admin"), env, source)


def test_a_viewer_may_not_search_as_someone_else(env, identities):
    before = search_as_audit(env)
    member = member_of(env, "slack")
    refused = search_restricted(env, "slack", "viewer", user=member)
    assert refused.status_code == 403
    assert (
        refused.json()["detail"] == "only admins may search as another user; you search as nobody (public items only): leave the user out"
    )
    identities(json.dumps({"viewer": OUTSIDER}))
    refused = search_restricted(env, "slack", "viewer", user=member)
    assert refused.status_code == 403 and OUTSIDER in refused.json()["detail"]
    assert search_as_audit(env) == before


@pytest.mark.parametrize("source", RESTRICTED_SOURCES)
def test_an_admin_searches_as_a_colleague_and_the_audit_log_says_so(env, identities, source):
    member, query = member_of(env, source), env.restricted[source].title
    before = search_as_audit(env)
    response = search_restricted(env, source, "admin", user=f" {member.upper()}")
    assert finds_restricted(response, env, source)
    assert response.json()["identity"] == member and "audit log" in response.json()["identity_note"]
    assert search_as_audit(env) == [*before, {"owner": "admin", "as_user": member, "q": query}]
    # Airflow's own audit log API (what Browse > Audit Log shows) lists it too.
    listed = env.client.get("/api/v2/eventLogs", params={"event_pattern": SEARCH_AS_EVENT, "limit": 100}, headers=env._auth("admin")).json()
    assert any(e["owner"] == "admin" and json.loads(e["extra"]) == {"as_user": member, "q": query} for e in listed["event_logs"])

    # The admin's own identity is no impersonation: not audited.
    identities(json.dumps({"admin": "ops@example.com"}))
    assert search_restricted(env, source, "admin", user="OPS@example.com").json()["identity"] == "ops@example.com"
    assert env.get("/api/search", params={"q": "x", "user": "not an email"}).status_code == 400
    assert len(search_as_audit(env)) == len(before) + 1


@pytest.mark.parametrize("raw", ["not json", '["viewer"]', '"amy@example.com"', "42"])
def test_an_identities_variable_that_is_no_object_fails_closed(env, identities, raw):
    identities(raw)
    me = env.get("/api/me", user="viewer")
    assert me.status_code == 200
    assert me.json()["identity"] is None and "is not a JSON object" in me.json()["identity_note"]
    response = search_restricted(env, "slack", "viewer")
    assert not finds_restricted(response, env, "slack") and only_public(response)
    assert "is not a JSON object" in response.json()["identity_note"]


@pytest.mark.parametrize("mapped", ['{"viewer": "not-an-email"}', '{"viewer": ["amy@example.com"]}', '{"viewer": ""}'])
def test_a_mapping_to_no_email_fails_closed(env, identities, mapped):
    identities(mapped)
    me = env.get("/api/me", user="viewer").json()
    assert me["identity"] is None and "not an email" in me["identity_note"]


def test_emails_come_from_the_user_record_or_the_name(env, identities):
    from airflow.api_fastapi.auth.managers.models.base_user import BaseUser
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    from vector_sync.airflow.web.identity import identity_of

    class EmailUser(BaseUser):  # what FAB's user record offers: an email
        def __init__(self, name: str, email: str | None) -> None:
            self.name, self.email = name, email

        def get_id(self) -> str:
            return self.name

        def get_name(self) -> str:
            return self.name

    identities(json.dumps({"amy": "amy@example.com", "Eve@Example.com": "bob@example.com"}))
    assert identity_of(SimpleAuthManagerUser(username="amy", role="viewer")).email == "amy@example.com"
    assert identity_of(SimpleAuthManagerUser(username=" Zoe@Example.COM", role="viewer")).email == "zoe@example.com"
    assert identity_of(SimpleAuthManagerUser(username="Eve@Example.com", role="viewer")).email == "bob@example.com"  # the Variable first
    assert identity_of(EmailUser("fab-user", "Kim@Example.com")).email == "kim@example.com"
    # A record with an email field decides alone: a name that looks like an email grants nothing.
    nobody = identity_of(EmailUser("amy@example.com", None))
    assert nobody.email is None and "has no email" in nobody.note
    assert identity_of(EmailUser("amy", "")).email is None


def test_a_name_that_looks_like_an_email_counts_only_where_the_operator_sets_names(env, identities, monkeypatch):
    """SimpleAuthManager's names come from the operator's config; under another manager a user
    may choose a name like a colleague's email, which must grant nothing."""
    from airflow.api_fastapi.auth.managers.models.base_user import BaseUser

    from vector_sync.airflow.web import identity

    class NamedUser(BaseUser):  # a record with a name and no email field
        def get_id(self) -> str:
            return "amy@example.com"

        def get_name(self) -> str:
            return "amy@example.com"

    identities(json.dumps({}))
    assert identity.identity_of(NamedUser()).email == "amy@example.com"  # SimpleAuthManager serves this app
    monkeypatch.setattr(identity, "_names_set_by_operator", lambda: False)
    other = identity.identity_of(NamedUser())
    assert other.email is None and "vector_sync_identities" in other.note


# ----------------------------------------------------------------------------- docs and links


@pytest.mark.parametrize("path", ["/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect"])
def test_no_api_docs_routes(env, path):
    assert env.get(path, user=None).status_code in (401, 404)
    assert env.get(path, user="admin").status_code == 404  # not served at all
    assert "cdn" not in env.get("/", user="admin").text.lower()


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(document.cookie)",
        " JavaScript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox(1)",
        "/relative/junk",
        "//evil.example.com/x",
    ],
)
def test_a_stored_url_that_is_not_http_is_no_link(env, url):
    from vector_sync.models import Hit, SearchFilter, VectorRecord
    from vector_sync.search_request import hit_link
    from vector_sync.search_request import search_json as _search_json

    b = env.backends.get()
    issue = synced_issues(env, "SUBS")[0]
    (model,) = b.store.query(b.embedder.embed([issue.key])[0], 1, SearchFilter(sources=("jira",)))
    title = "EVIL-1 Renewal dashboard crimson walrus"
    text = f"{title}: click the link for the crimson walrus report"
    record = VectorRecord(
        "jira:EVIL-1#0",
        "jira:EVIL-1",
        b.embedder.embed([text])[0],
        text,
        {**model.metadata, "url": url, "title": title, "document_id": "jira:EVIL-1", "issue_key": "EVIL-1"},
    )
    b.store.upsert([record])
    try:
        response = env.get("/api/search", params={"q": text, "source": "jira", "top_k": 3})
        assert response.status_code == 200, response.text
        hits = response.json()["hits"]
        evil = next(h for h in hits if h["id"] == "jira:EVIL-1#0")
        assert evil["link"] == "" and evil["title"] == title
        assert all(h["link"].startswith("http") for h in hits if h is not evil)
    finally:
        b.store.delete(["jira:EVIL-1#0"])
    # The CLI's text and JSON output share the check; meeting links keep their jump to the moment.
    hit = Hit("fireflies:m1#0", 1.0, "fireflies", "t", "x", url, {"start_time": 12})
    assert hit_link(hit) == "" and _search_json([hit])["hits"][0]["link"] == ""
    assert (
        hit_link(Hit("fireflies:m1#0", 1.0, "fireflies", "t", "x", "https://app.fireflies.ai/view/m1", {"start_time": 12.7}))
        == "https://app.fireflies.ai/view/m1?t=12"
    )


def test_the_page_offers_as_user_to_admins_only(env):
    admin, viewer = env.get("/", user="admin").text, env.get("/", user="viewer").text
    assert 'id="search-user"' in admin and 'name="user"' in admin
    assert 'id="search-user"' not in viewer and 'name="user"' not in viewer and "As user" not in viewer
    assert 'id="search-identity"' in viewer  # where the page says whose view the hits are
    script = env.get("/static/dashboard.js").text
    assert "safeHref(hit.link)" in script and "href: hit.link" not in script
