"""Helpers shared by the per-source and end-to-end tests: sandbox connections and runs.

Two ways to a source: ``sandbox_source`` builds its client from the sandbox's URL and token
with the source's own factory (no Airflow: the conformance suite); ``Backends`` without a
sandbox goes through the Airflow hooks, with connections from airflow_settings.yaml pointed
at the test's sandbox and exported as AIRFLOW_CONN_* (the same path a user's settings take).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from tests.conftest import ROOT
from vector_sync import pipeline
from vector_sync.airflow.bootstrap import connection_json, projects_from, read_settings
from vector_sync.embedders.hashing import HashingEmbedder
from vector_sync.models import Window, parse_time
from vector_sync.specs import source_settings
from vector_sync.staging import StagedRun, run_key
from vector_sync.state import StateStore
from vector_sync.stores.lancedb import LanceDBStore


def sandbox_settings(monkeypatch, sandbox) -> dict[str, list[dict[str, Any]]]:
    """The repo's settings file pointed at ``sandbox``; its connections exported to the env."""
    monkeypatch.setenv("VECTOR_SYNC_SANDBOX_URL", sandbox.url)
    settings = read_settings(ROOT / "airflow_settings.yaml")
    for entry in settings["connections"]:
        monkeypatch.setenv(f"AIRFLOW_CONN_{entry['conn_id'].upper()}", connection_json(entry))
    return settings


ACTIVE = {"SUBS", "BC"}  # the sample's active projects (ARCH is inactive)


def ground_truth(name: str, workspace: Any, sandbox: Any, window: Window) -> dict[str, tuple[str, ...]]:
    """``{document id: projects}`` of what source ``name`` should yield for ``window``, read
    from the sample workspace (never from the source under test). Items a source cannot name
    (a worklog whose issue Jira does not know) are left out."""
    data = workspace.data(name)
    if name == "jira":
        return {f"jira:{i.key}": (i.project,) for i in data.updated_between(window.start, window.end)}
    if name == "tempo":
        now = sandbox.simulator("tempo").current_time()
        return {f"tempo:{w.id}": (w.project,) for w in data.updated_between(window.start, window.end, now) if w.project}
    if name == "fireflies":
        now = sandbox.simulator("fireflies").current_time()
        return {
            f"fireflies:{t['id']}": data.projects[t["id"]]
            for t in data.transcripts
            if window.contains(data.meeting_time(t)) and data.visible_at[t["id"]] <= now
        }
    if name == "slack":
        lookback = timedelta(days=float(source_settings("slack").option("lookback_days")))
        return {doc_id: _channel_project(workspace, doc_id.split(":")[1], data) for doc_id in slack_expected_ids(data, window, lookback)}
    if name == "notion":
        return {
            f"notion:{p['id']}": _notion_projects(workspace, data, p)
            for p in data.pages.values()
            if window.contains(parse_time(p["last_edited_time"])) and not p["in_trash"]
        }
    raise ValueError(f"no ground truth for source '{name}'")


def kept(projects: tuple[str, ...], active: set[str] = ACTIVE) -> bool:
    """What the sync indexes: documents of an active project, or of none (every source that
    can have unmapped documents keeps them; Jira and Tempo items always have a project)."""
    return not projects or bool(set(projects) & active)


def slack_expected_ids(data: Any, window: Window, lookback: timedelta = timedelta(days=14), include_bots: bool = True) -> set[str]:
    """An independent reading of the Slack sample: threads and messages whose last activity is
    in the window, in the channels the bot reads (public ones, private ones it is in)."""
    from sandbox.slack import BOT_USER_ID, ts_time

    noise = {"channel_join", "channel_leave", "channel_topic"}  # the event subtypes the sample contains
    ids = set()
    for channel in data.channels:
        if channel["is_archived"] or (channel["is_private"] and BOT_USER_ID not in data.members[channel["id"]]):
            continue
        for message in data.history[channel["id"]]:
            posted = ts_time(message["ts"])
            if not window.start - lookback <= posted <= window.end or message.get("subtype") in noise:
                continue
            if not include_bots and message.get("subtype") == "bot_message":
                continue
            stamps = [message["ts"], message.get("latest_reply"), (message.get("edited") or {}).get("ts")]
            if window.contains(max(ts_time(s) for s in stamps if s)):
                ids.add(f"slack:{channel['id']}:{message['ts']}")
    return ids


def _channel_project(workspace: Any, channel_id: str, data: Any) -> tuple[str, ...]:
    """The sample names a project's channels after its key: #subs-dev, #arch-migration."""
    name = data.channel(channel_id)["name"]
    return tuple(p.key for p in workspace.projects if name.startswith(f"{p.key.lower()}-"))


def _notion_projects(workspace: Any, data: Any, page: dict) -> tuple[str, ...]:
    """The sample's projects of a page: the hub page (role ``hub:KEY``) it sits under or is,
    and the key its title starts with ("ARCH incident: ...", "SUBS design: ...")."""
    hubs = {page_id: role.split(":", 1)[1] for role, page_id in data.named.items() if role.startswith("hub:")}
    first_word = data.title(page["id"]).split(" ", 1)[0]
    found = {p.key for p in workspace.projects if p.key == first_word}
    parent, node = page.get("parent"), page["id"]
    for _ in range(32):  # up the parents, through databases and blocks
        if node in hubs:
            found.add(hubs[node])
            break
        kind = (parent or {}).get("type")
        node = (parent or {}).get(kind) if kind else None
        holder = data.pages.get(node) or data.blocks.get(node) or data.data_sources.get(node) or data.databases.get(node)
        if holder is None:
            break
        parent = holder.get("database_parent") or holder.get("parent")
    return tuple(sorted(found))


def dag_for(name: str) -> Any:
    """The source's DAG as the DAG processor parses it from dags/."""
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(ROOT / "dags")).dags[f"vector_sync_{name}"]


def stored_documents(store: Any, source: str) -> dict[str, set[int]]:
    """The store's ``{document id: chunk indexes}`` for ``source``."""
    docs: dict[str, set[int]] = {}
    for chunk_id in store.ids(f"{source}:"):
        doc_id, index = chunk_id.rsplit("#", 1)
        docs.setdefault(doc_id, set()).add(int(index))
    return docs


# Request pacing is tested on its own (tests/sources); elsewhere it would only slow tests down.
FAST = {"notion": {"options": {"rps": None}}}
SANDBOX_EMAIL = "dana.reyes@example.com"  # the Jira sandbox takes any email with its token


def sandbox_client(name: str, sandbox: Any) -> Any:
    """Source ``name``'s client for ``sandbox``, built by the source's own factory from the
    simulator's URL and token (Tempo's with a Jira client too)."""
    from vector_sync.sources import fireflies, jira, notion, slack, tempo

    token = sandbox.simulator(name).token
    if name == "jira":
        return jira.make_client(sandbox.base_url("jira"), SANDBOX_EMAIL, token)
    if name == "slack":
        return slack.make_client(sandbox.simulator("slack").api_url, token)
    if name == "notion":
        return notion.make_client(sandbox.base_url("notion"), token)
    if name == "fireflies":
        return fireflies.make_client(f"{sandbox.base_url('fireflies')}/graphql", token)
    if name == "tempo":
        return tempo.make_client(sandbox.base_url("tempo"), token, sandbox_client("jira", sandbox))
    raise ValueError(f"no sandbox client for source '{name}'")


def sandbox_source(name: str, sandbox: Any, state: Any, overrides: dict[str, Any] | None = None) -> Any:
    """Source ``name`` on ``sandbox`` built as a DAG builds it (``make_source``: the known
    projects and what it keeps in ``state``), Airflow-free."""
    from vector_sync.sources import make_source

    settings = source_settings(name, overrides if overrides is not None else FAST.get(name))
    return make_source(name, sandbox_client(name, sandbox), settings, state)


def default_embedder() -> Any:
    """The embedder a DAG run uses when none is configured (the embedded default), for
    references that must equal what a DAG run wrote."""
    from vector_sync.runtime import RuntimeConfig, build_embedder

    return build_embedder(RuntimeConfig(state_url="", staging_url=""))


class Backends:
    """The embedded backends in a temporary folder; sources on ``sandbox`` (Airflow-free), or
    through the Airflow hooks and the exported connections when none is given."""

    def __init__(
        self, folder: Path, settings: dict[str, list[dict[str, Any]]] | None = None, sandbox: Any = None, embedder: Any = None
    ) -> None:
        self.folder = folder
        self.sandbox = sandbox
        self.state = StateStore(f"sqlite:///{folder / 'state.db'}")
        self.state.migrate()
        self.state.projects.upsert(
            projects_from(settings)
            if settings
            else [("SUBS", "Subscriptions", True), ("BC", "Billing Console", True), ("ARCH", "Archive Migration", False)]
        )
        self.embedder = embedder or HashingEmbedder()  # hashing: fast; a DAG's reference passes the default
        self.store = LanceDBStore(str(folder / "lancedb"))

    def source(self, name: str) -> Any:
        if self.sandbox is not None:
            return sandbox_source(name, self.sandbox, self.state)
        from vector_sync.airflow.backends import build_source

        return build_source(name, source_settings(name, FAST.get(name)), self.state)

    def run(self, name: str, window: Window, run_id: str = "test") -> dict[str, Any]:
        source = self.source(name)
        staged = StagedRun(self.folder / "staging", name, run_key(f"{run_id}-{datetime.now(timezone.utc).timestamp()}", window))
        settings = source_settings(name)
        chunking = pipeline.ChunkSettings(settings.chunk_tokens, settings.chunk_overlap_tokens)
        return pipeline.run_window(source, window, staged, self.state, self.embedder, self.store, chunking, run_id)


def dump(value: Any) -> str:
    return json.dumps(value, indent=1, default=str)[:3000]


RESTRICTED_SOURCES = ("slack", "fireflies")  # private channels, restricted meetings


def restricted_documents(state: Any, window: Any, names: tuple[str, ...] = RESTRICTED_SOURCES) -> dict[str, Any]:
    """Per source, one document of ``window`` that only its ``access_list`` may see and that
    the sync indexed (its project is active): a private Slack message, a restricted meeting."""
    from vector_sync.airflow.backends import build_source
    from vector_sync.airflow.settings import settings_for

    active = state.projects.active()
    found = {}
    for name in names:
        docs = build_source(name, settings_for(name), state).fetch(window)
        found[name] = next(d for d in docs if d.access_type != "all" and d.access_list and (not d.projects or set(d.projects) & active))
    return found
