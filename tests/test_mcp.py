"""The MCP server (#21) through the `mcp` SDK's own client, over both transports, against a
demo index synced from the sandbox: stdio (`vector-sync mcp [--user EMAIL]`) and streamable
HTTP at /vector-sync/mcp in Airflow's API server, behind its login (SimpleAuthManager users,
JWTs from POST /auth/token, or the UI's cookie).

Whoever asks decides what is visible, as for every search: a private Slack message and a
restricted meeting reach the people they list and nobody else, not an outsider and not a
caller without an identity."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from sandbox import build_sandbox
from sandbox.workspace import Workspace, floor_to_hour
from tests import mcpkit
from tests.mcpkit import TOOLS, answer, error_text
from tests.processkit import free_port
from tests.sourcekit import sandbox_settings
from vector_sync.airflow.bootstrap import projects_from
from vector_sync.airflow.web.identity import IDENTITIES_VARIABLE
from vector_sync.sources import registered_sources

pytestmark = pytest.mark.airflow

OUTSIDER = "outsider@example.com"


@dataclass
class Env:
    base_url: str
    tokens: dict[str, str]
    restricted: dict[str, Any]  # source -> a restricted Document the index holds
    public: Any  # a public Jira Document the index holds
    documents: dict[str, Any]  # id -> Document, every one the sync indexed

    def member(self, source: str) -> str:
        return self.restricted[source].access_list[0]

    def http(self, user: str | None) -> Any:
        headers = {"Authorization": f"Bearer {self.tokens[user]}"} if user else {}
        return lambda: mcpkit.http_session(self.base_url, headers=headers)


@pytest.fixture(scope="module")
def env(airflow_db, tmp_path_factory):
    """Jira, Slack, Fireflies and Notion synced from the sandbox into a fresh index; Airflow's
    API server on a free port; a JWT for each user; "member" is the private Slack message's
    member, "outsider" someone no restricted item lists, "nobody" has no known email."""
    from airflow.models import Variable

    from vector_sync.airflow.backends import Runtime

    folder = tmp_path_factory.mktemp("mcp")
    workspace = Workspace(anchor=floor_to_hour(datetime.now(timezone.utc)))
    with pytest.MonkeyPatch.context() as mp, build_sandbox(workspace) as box:
        settings = sandbox_settings(mp, box)
        mp.setenv("VECTOR_SYNC_DATA_DIR", str(folder / "data"))
        passwords = mcpkit.simple_auth_env(mp, Path(folder))
        mp.delenv(f"AIRFLOW_VAR_{IDENTITIES_VARIABLE.upper()}", raising=False)
        mp.setenv("AIRFLOW_VAR_VECTOR_SYNC_NOTION", json.dumps({"options": {"rps": None}}))  # no request pacing in tests
        runtime = Runtime()
        runtime.state.projects.upsert(projects_from(settings))
        window = mcpkit.sync_demo_index(runtime, workspace)
        fetched = [d for name in ("jira", "slack", "fireflies", "notion") for d in runtime.source(name).fetch(window)]
        indexed = runtime.state.ledger.entries(d.id for d in fetched)
        documents = {d.id: d for d in fetched if d.id in indexed and not indexed[d.id].deleted}
        restricted = {
            name: next(d for d in documents.values() if d.source == name and d.access_type != "all" and d.access_list)
            for name in ("slack", "fireflies")
        }
        public = next(d for d in documents.values() if d.source == "jira" and d.access_type == "all")
        Variable.set(IDENTITIES_VARIABLE, f'{{"member": "{restricted["slack"].access_list[0]}", "outsider": "{OUTSIDER}"}}')
        try:
            with mcpkit.api_server(free_port()) as base_url:
                tokens = {user: mcpkit.login(base_url, user, password) for user, password in passwords.items()}
                yield Env(base_url, tokens, restricted, public, documents)
        finally:
            Variable.delete(IDENTITIES_VARIABLE)


def normalised(text: str) -> str:
    return " ".join(text.split())


def transports(env: Env) -> dict[str, Any]:
    """A session factory per transport, each as the member of the private Slack message."""
    member = env.member("slack")
    return {"http": env.http("member"), "stdio": lambda: mcpkit.stdio_session("--user", member)}


# ----------------------------------------------------------------------------- tools


@pytest.mark.parametrize("transport", ["http", "stdio"])
def test_tools_list_call_and_fetch(env, transport):
    """Both transports list the three tools with their schemas, and each call answers from
    the index: search hits carry what an assistant cites, fetch_document gives the source
    document's whole text, sync_status every source's health."""
    doc = env.public

    async def body(session):
        listed = {tool.name: tool for tool in (await session.list_tools()).tools}
        found = answer(await session.call_tool("search", {"query": doc.title, "sources": ["jira"], "top_k": 5}))
        fetched = answer(await session.call_tool("fetch_document", {"document_id": doc.id}))
        status = answer(await session.call_tool("sync_status", {}))
        return listed, found, fetched, status

    listed, found, fetched, status = mcpkit.run(transports(env)[transport], body)

    assert set(listed) == TOOLS
    for tool in listed.values():
        assert len(tool.description or "") > 80 and tool.annotations.read_only_hint
    search_schema = listed["search"].input_schema["properties"]
    assert search_schema["sources"]["anyOf"][0]["items"]["enum"] == list(registered_sources())
    assert search_schema["top_k"]["maximum"] == 50 and listed["search"].input_schema["required"] == ["query"]
    assert listed["fetch_document"].input_schema["required"] == ["document_id"]

    hit = found["hits"][0]
    assert hit["document_id"] == doc.id and hit["title"] == doc.title and hit["source"] == "jira"
    assert hit["link"] == doc.url and hit["projects"] == list(doc.projects) and hit["snippet"]
    assert hit["timestamp"].startswith(doc.updated_at.date().isoformat())
    assert found["identity"] == env.member("slack")

    assert fetched["document_id"] == doc.id and fetched["title"] == doc.title and fetched["link"] == doc.url
    assert normalised(fetched["text"]) == normalised(doc.text) and fetched["complete"]

    rows = {row["source"]: row for row in status["sources"]}
    assert set(rows) == set(registered_sources())
    assert rows["jira"]["health"] == "healthy" and rows["jira"]["documents"] > 0 and rows["jira"]["last_sync"]
    assert rows["tempo"]["last_sync"] is None  # never synced here


def test_fetch_document_reassembles_every_kind_of_document(env):
    """fetch_document returns each indexed document's own text, for every source synced:
    multi-chunk ones (overlaps merged, title lines dropped) and meeting transcripts included."""
    from vector_sync.tokens import sanitize

    wanted = [d for d in env.documents.values() if d.access_type == "all" or env.member("slack") in d.access_list]
    by_source: dict[str, list[Any]] = {}
    for doc in sorted(wanted, key=lambda d: -len(d.text)):
        by_source.setdefault(doc.source, []).append(doc)
    picked = [doc for docs in by_source.values() for doc in docs[:3]]  # the longest three of each source

    async def body(session):
        return [answer(await session.call_tool("fetch_document", {"document_id": doc.id})) for doc in picked]

    fetched = mcpkit.run(env.http("member"), body)
    assert {doc.source for doc in picked} == {"jira", "slack", "fireflies", "notion"}
    assert max(f["chunks"] for f in fetched) > 1, "the sample should hold a document of several chunks"
    for doc, got in zip(picked, fetched):
        expected = "\n".join(s.text for s in doc.segments) if doc.segments else doc.text
        assert normalised(got["text"]) == normalised(sanitize(expected)), doc.id
        assert got["complete"] and got["source"] == doc.source


# ----------------------------------------------------------------------------- access


def visible(session_factory: Any, doc: Any) -> tuple[bool, bool, str | None]:
    """Whether ``doc`` is among search hits (its own title, its source), whether
    fetch_document returns it, and the identity the answer names."""

    async def body(session):
        found = answer(await session.call_tool("search", {"query": doc.title, "sources": [doc.source], "top_k": 50}))
        fetched = await session.call_tool("fetch_document", {"document_id": doc.id})
        return found, fetched

    found, fetched = mcpkit.run(session_factory, body)
    if fetched.is_error:
        assert "that you may see" in error_text(fetched)
    return any(h["document_id"] == doc.id for h in found["hits"]), not fetched.is_error, found["identity"]


@pytest.mark.parametrize("source", ["slack", "fireflies"])
def test_restricted_items_only_reach_the_people_they_list_over_stdio(env, source):
    doc = env.restricted[source]
    member = env.member(source)
    assert OUTSIDER not in doc.access_list
    assert visible(lambda: mcpkit.stdio_session("--user", member.upper()), doc) == (True, True, member)
    assert visible(lambda: mcpkit.stdio_session("--user", OUTSIDER), doc) == (False, False, OUTSIDER)
    assert visible(lambda: mcpkit.stdio_session(), doc) == (False, False, None)  # no --user: public items only


def test_restricted_items_only_reach_the_people_they_list_over_http(env):
    doc = env.restricted["slack"]
    assert visible(env.http("member"), doc) == (True, True, env.member("slack"))
    assert visible(env.http("outsider"), doc) == (False, False, OUTSIDER)
    assert visible(env.http("nobody"), doc) == (False, False, None)  # no email known: public items only
    meeting = env.restricted["fireflies"]
    if env.member("slack") not in meeting.access_list:
        assert visible(env.http("member"), meeting)[:2] == (False, False)


def test_nobody_sees_a_restricted_item_in_any_answer(env):
    """Without an identity no answer holds a restricted item, whatever is searched."""
    queries = [d.title for d in env.restricted.values()] + ["pricing confidential annual plans", "private", "salary"]

    async def body(session):
        return [answer(await session.call_tool("search", {"query": q, "top_k": 50})) for q in queries]

    restricted = {d.id for d in env.documents.values() if d.access_type != "all"}
    for found in mcpkit.run(env.http("nobody"), body):
        assert found["identity"] is None and "nobody" in found["identity_note"]
        assert not {h["document_id"] for h in found["hits"]} & restricted


# ----------------------------------------------------------------------------- login


def test_http_needs_an_airflow_login(env):
    import requests

    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
    url = env.base_url + mcpkit.MCP_PATH
    assert requests.post(url, json=body, headers=headers, timeout=30).status_code == 401
    for bad in ("not-a-jwt", env.tokens["member"][:-4] + "AAAA"):
        response = requests.post(url, json=body, headers={**headers, "Authorization": f"Bearer {bad}"}, timeout=30)
        assert response.status_code in (401, 403), response.text
    assert requests.get(url, timeout=30).status_code == 401
    # The UI's cookie is a login too, exactly as for the operations page.
    found = mcpkit.run(
        lambda: mcpkit.http_session(env.base_url, cookies={"_token": env.tokens["member"]}),
        lambda s: s.call_tool("search", {"query": env.restricted["slack"].title, "sources": ["slack"]}),
    )
    assert answer(found)["identity"] == env.member("slack")


def test_stdio_refuses_a_blank_or_odd_user(env):
    import subprocess

    command = str(Path(__import__("sys").executable).with_name("vector-sync"))
    for user in ("", "   ", "not an email"):
        result = subprocess.run([command, "mcp", "--user", user], capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
        assert result.returncode == 2 and "error:" in result.stderr and result.stdout == "", (user, result.stderr[-500:])


# ----------------------------------------------------------------------------- bad arguments

BAD_CALLS = [
    ("search", {"query": ""}, "query"),
    ("search", {"query": "   "}, "query is empty"),
    ("search", {}, "query"),
    ("search", {"query": "x" * 2001}, "query"),
    ("search", {"query": "renewal", "sources": ["nosuch"]}, "sources.0: input should be 'jira'"),
    ("search", {"query": "renewal", "sources": "jira"}, "sources"),
    ("search", {"query": "renewal", "since": "last tuesday"}, "since 'last tuesday' is not a date"),
    ("search", {"query": "renewal", "until": "2026-13-45"}, "until '2026-13-45' is not a date"),
    ("search", {"query": "renewal", "until": "9999-12-31"}, "until '9999-12-31' is out of range"),
    ("search", {"query": "renewal", "since": "2026-11-20", "until": "2026-11-01"}, "must be before"),
    ("search", {"query": "renewal", "top_k": 1_000_000}, "top_k"),
    ("search", {"query": "renewal", "top_k": 0}, "top_k"),
    ("search", {"query": "renewal", "top_k": "ten"}, "top_k"),
    ("search", {"query": "renewal", "projects": ["x" * 100]}, "project"),
    ("search", {"query": "!!! ???", "top_k": 3}, None),  # no words: an answer or an error, never a crash
    ("fetch_document", {"document_id": ""}, "document_id"),
    ("fetch_document", {"document_id": "SUBS-1"}, "source:id"),
    ("fetch_document", {"document_id": "nosuch:1"}, "unknown source"),
    ("fetch_document", {"document_id": "jira:NOPE-404"}, "no document"),
    ("fetch_document", {"document_id": "jira:" + "x" * 600}, "document_id"),
    ("fetch_document", {}, "document_id"),
    ("no_such_tool", {}, "no_such_tool"),
]


@pytest.mark.parametrize("transport", ["http", "stdio"])
def test_every_bad_argument_is_an_error_result(env, transport):
    """Each bad call is answered by an error result naming the problem, and the session keeps
    working after all of them (no crash, no hang)."""

    async def body(session):
        results = []
        for tool, arguments, _ in BAD_CALLS:
            try:
                results.append(await session.call_tool(tool, arguments))
            except Exception as exc:  # an MCP protocol error (e.g. an unknown tool) is an answer too
                results.append(exc)
        after = answer(await session.call_tool("search", {"query": env.public.title, "top_k": 1}))
        return results, after

    results, after = mcpkit.run(transports(env)[transport], body)
    for (tool, arguments, expected), result in zip(BAD_CALLS, results):
        if isinstance(result, Exception):
            message = str(result)
        elif expected is None:
            assert result.is_error or "hits" in (result.structured_content or {})
            continue
        else:
            message = error_text(result)
        assert expected is None or expected.lower() in message.lower(), (tool, arguments, message)
        assert "pydantic.dev" not in message and len(message) < 400, message  # short, for a model to read
    assert after["hits"]
