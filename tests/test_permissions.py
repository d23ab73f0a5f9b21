"""The permission pass against the sandbox: access changes upstream reach the indexed items
(old ones included) through the real client libraries, with no embedding call."""

from __future__ import annotations

import itertools
import math
from datetime import timedelta
from typing import Any

import numpy as np
import pytest

from tests.sourcekit import FAST, Backends, sandbox_settings
from vector_sync import pipeline
from vector_sync.models import SearchFilter, Window
from vector_sync.permissions import supports_permissions, sync_permissions
from vector_sync.sources import registered_sources, source_class
from vector_sync.specs import source_settings
from vector_sync.staging import StagedRun
from vector_sync.state import Access

PRIVATE, PUBLIC = "C0SUBSLEAD", "C0SUBSDEV"
BOT = "U0VSYNCBOT"
_RUNS = itertools.count()


class CountingEmbedder:
    """The kit's embedder, counting ``embed_matrix`` calls (every embedding goes through it)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def embed_matrix(self, texts):
        self.calls += 1
        return self.inner.embed_matrix(texts)


@pytest.fixture()
def kit(sandbox, monkeypatch, tmp_path, workspace):
    kit = Backends(tmp_path, sandbox_settings(monkeypatch, sandbox))
    kit.embedder = CountingEmbedder(kit.embedder)
    return kit


def sync(kit, name: str, window: Window, **options: Any) -> dict[str, Any]:
    """One in-process sync of ``window`` with extra source options (e.g. a short lookback)."""
    from vector_sync.airflow.backends import build_source

    overrides = {**FAST.get(name, {}), "options": {**FAST.get(name, {}).get("options", {}), **options}}
    source = build_source(name, source_settings(name, overrides), kit.state)
    settings = source.settings
    staged = StagedRun(kit.folder / "staging", name, f"run-{next(_RUNS)}")
    chunking = pipeline.ChunkSettings(settings.chunk_tokens, settings.chunk_overlap_tokens)
    return pipeline.run_window(source, window, staged, kit.state, kit.embedder, kit.store, chunking, "test")


def visible(kit, source: str, **flt: Any) -> list[Any]:
    """Every chunk of ``source`` the filter lets through (an exhaustive query)."""
    vector = np.ones(kit.embedder.dimensions, dtype=np.float32).tolist()
    return kit.store.query(vector, top_k=100_000, flt=SearchFilter(sources=(source,), **flt))


def channel_of(hit) -> str:
    return hit.metadata["document_id"].split(":")[1]


def email(workspace, user_id: str) -> str:
    return next(p.email for p in workspace.people if p.slack_id == user_id)


def test_slack_membership_and_privacy_changes_reach_old_items_without_embedding(kit, sandbox, workspace):
    full = Window(workspace.start - timedelta(hours=1), workspace.anchor)
    sync(kit, "slack", full)
    slack = sandbox.simulator("slack")
    members = [u for u in slack._members_of(PRIVATE) if u != BOT]
    removed = members[1]
    removed_email = email(workspace, removed)
    old_private = {h.id for h in visible(kit, "slack", user=removed_email) if channel_of(h) == PRIVATE}
    assert old_private, "the removed member saw the private channel's items before"
    audience = [workspace.people[2].slack_id, workspace.people[9].slack_id, BOT]
    assert not {h.id for h in visible(kit, "slack", user=email(workspace, audience[1])) if channel_of(h) == PRIVATE}

    slack.remove_member(PRIVATE, removed)
    slack.make_private(PUBLIC)
    slack.set_members(PUBLIC, audience)
    # The next scheduled sync: a window after the sample with no lookback never re-reads the
    # old messages, so it cannot fix their access.
    later = sync(kit, "slack", Window(workspace.anchor, workspace.anchor + timedelta(hours=1)), lookback_days=0)
    assert later["fetched"] == 0
    assert {h.id for h in visible(kit, "slack", user=removed_email) if channel_of(h) == PRIVATE} == old_private  # the leak

    calls_before = kit.embedder.calls
    sandbox.log.reset()
    result = sync_permissions(kit.source("slack"), kit.state, kit.store)
    assert kit.embedder.calls == calls_before  # no embedding call
    assert sandbox.log.count("openai") == 0
    assert result["changed_scopes"] == 2 and result["restricted_scopes"] == 0
    # About one request per private channel: the listing, members of the two private ones, people.
    assert sandbox.log.count("slack", "conversations.list") == 1
    assert sandbox.log.count("slack", "conversations.members") == 2
    assert sandbox.log.count("slack", "conversations.history") == sandbox.log.count("slack", "conversations.replies") == 0
    assert sandbox.log.count("slack", "users.") <= len(set(members) | set(audience))

    # The removed member sees none of the private channel's items, old ones included.
    assert not [h for h in visible(kit, "slack", user=removed_email) if channel_of(h) == PRIVATE]
    remaining = email(workspace, members[0])
    assert {h.id for h in visible(kit, "slack", user=remaining) if channel_of(h) == PRIVATE} == old_private
    # The channel made private: exactly its new audience (the bot grants nothing).
    expected = sorted(email(workspace, u) for u in audience if u != BOT)
    everything = [h for h in visible(kit, "slack", all_access=True) if channel_of(h) == PUBLIC]
    assert everything and all(h.metadata["access_type"] == "private" and h.metadata["access_list"] == expected for h in everything)
    assert not [h for h in visible(kit, "slack") if channel_of(h) == PUBLIC]  # no user: public only
    assert not [h for h in visible(kit, "slack", user=email(workspace, members[0])) if channel_of(h) == PUBLIC]
    for person in expected:
        assert {h.id for h in visible(kit, "slack", user=person) if channel_of(h) == PUBLIC} == {h.id for h in everything}
    ledger = kit.state.ledger.access_of_source("slack")
    assert {access for doc_id, (access, _) in ledger.items() if doc_id.startswith(f"slack:{PUBLIC}:")} == {
        Access("private", tuple(expected))
    }

    # A second pass finds nothing to do and writes nothing.
    version = kit.store._open().version
    again = sync_permissions(kit.source("slack"), kit.state, kit.store)
    assert again["changed_scopes"] == 0 and again["updated_documents"] == 0
    assert kit.store._open().version == version
    # A later re-fetch of those documents (same content, new access) embeds nothing either.
    refetch = sync(kit, "slack", full)
    assert refetch["fetched"] > 0 and refetch["embedded"] == 0 and kit.embedder.calls == calls_before
    assert not [h for h in visible(kit, "slack", user=removed_email) if channel_of(h) == PRIVATE]


def test_a_sync_that_refetches_an_item_updates_its_access_without_embedding(kit, sandbox, workspace):
    full = Window(workspace.start - timedelta(hours=1), workspace.anchor)
    sync(kit, "slack", full)
    slack = sandbox.simulator("slack")
    removed = [u for u in slack._members_of(PRIVATE) if u != BOT][0]
    slack.remove_member(PRIVATE, removed)
    calls = kit.embedder.calls
    counts = sync(kit, "slack", full)
    assert counts["embedded"] == 0 and kit.embedder.calls == calls
    assert counts["access_updated"] > 0 and counts["access_updated_documents"] == counts["access_updated"]
    assert not [h for h in visible(kit, "slack", user=email(workspace, removed)) if channel_of(h) == PRIVATE]
    assert sync_permissions(kit.source("slack"), kit.state, kit.store)["changed_scopes"] == 0  # already in line


def test_a_channel_the_bot_no_longer_sees_is_restricted(kit, sandbox, workspace):
    sync(kit, "slack", Window(workspace.start - timedelta(hours=1), workspace.anchor))
    slack = sandbox.simulator("slack")
    members = [u for u in slack._members_of(PRIVATE) if u != BOT]
    slack.set_members(PRIVATE, members)  # the bot was removed: the channel disappears from its listing
    dry = sync_permissions(kit.source("slack"), kit.state, None, dry_run=True)
    assert dry["changed_scopes"] == dry["restricted_scopes"] == 1
    assert [h for h in visible(kit, "slack", user=email(workspace, members[0])) if channel_of(h) == PRIVATE]  # dry run
    result = sync_permissions(kit.source("slack"), kit.state, kit.store)
    assert result["restricted_scopes"] == 1
    assert not [h for h in visible(kit, "slack", user=email(workspace, members[0])) if channel_of(h) == PRIVATE]
    assert [h for h in visible(kit, "slack", all_access=True) if channel_of(h) == PRIVATE]  # kept, for a prune to judge


def test_fireflies_privacy_and_participants(kit, sandbox, workspace):
    sync(kit, "fireflies", Window(workspace.start - timedelta(hours=13), workspace.anchor))
    ledger = kit.state.ledger.access_of_source("fireflies")
    public = sorted(d for d, (a, _) in ledger.items() if a.type == "all")
    shared = sorted(d for d, (a, _) in ledger.items() if a.type == "shared")
    assert public and shared
    fireflies = sandbox.simulator("fireflies")
    opened, narrowed, deleted = shared[0], public[0], public[1]
    fireflies.change_transcript(opened.split(":", 1)[1], privacy="teammates")
    fireflies.change_transcript(narrowed.split(":", 1)[1], privacy="owner")
    fireflies.delete_transcript(deleted.split(":", 1)[1])
    calls = kit.embedder.calls
    sandbox.log.reset()
    result = sync_permissions(kit.source("fireflies"), kit.state, kit.store)
    assert kit.embedder.calls == calls
    assert result["changed_scopes"] == 3 and result["restricted_scopes"] == 1
    assert sandbox.log.count("fireflies") == math.floor(result["listed_scopes"] / 50) + 1  # 50 meetings a request
    after = kit.state.ledger.access_of_source("fireflies")
    assert after[opened][0] == Access("all", ())
    assert after[narrowed][0].type == "shared" and len(after[narrowed][0].emails) == 1
    assert after[deleted][0] == Access("shared", ())
    organizer = after[narrowed][0].emails[0]
    hits = {h.metadata["document_id"]: h for h in visible(kit, "fireflies", all_access=True)}
    assert hits[narrowed].metadata["access_list"] == [organizer] and hits[opened].metadata["access_type"] == "all"
    assert opened in {h.metadata["document_id"] for h in visible(kit, "fireflies")}
    assert narrowed not in {h.metadata["document_id"] for h in visible(kit, "fireflies")}
    assert sync_permissions(kit.source("fireflies"), kit.state, kit.store)["changed_scopes"] == 0


def test_permission_dags_cover_exactly_the_sources_that_support_it():
    from vector_sync.airflow.maintenance import permissions_sources

    assert permissions_sources() == [n for n in registered_sources() if supports_permissions(source_class(n))] == ["slack", "fireflies"]
    assert all(source_settings(n).option("permissions_schedule") == "40 * * * *" for n in permissions_sources())


def test_permission_dag_shape():
    from airflow.sdk import CronTriggerTimetable

    from vector_sync.airflow.maintenance import build_permissions_dag

    dag = build_permissions_dag("slack")
    assert dag.dag_id == "vector_sync_permissions_slack" and dag.task_ids == ["permissions"]
    assert isinstance(dag.timetable, CronTriggerTimetable) and dag.max_active_runs == 1 and dag.catchup is False
    assert set(dag.params) == {"dry_run"} and dag.get_task("permissions").pool == "slack_api"


def test_cli_permissions_dry_run(airflow_db, kit, sandbox, workspace, monkeypatch, capsys):
    from vector_sync import cli

    sync(kit, "slack", Window(workspace.start - timedelta(hours=1), workspace.anchor))
    sandbox.simulator("slack").make_private(PUBLIC)

    class Runtime:
        state, store = kit.state, (lambda self: kit.store)

        def source(self, name):
            from vector_sync.airflow.backends import build_source
            from vector_sync.airflow.settings import settings_for

            return build_source(name, settings_for(name), kit.state)

    from vector_sync.cli import context

    monkeypatch.setattr(context, "runtime", lambda **_: Runtime())
    assert cli.main(["permissions", "slack", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "would update 1 " in out and "0 embeddings" in out
    assert [h for h in visible(kit, "slack") if channel_of(h) == PUBLIC]  # nothing changed


def test_a_source_without_a_permission_pass_is_refused_before_connecting(airflow_db, capsys):
    from vector_sync import cli

    assert cli.main(["permissions", "jira"]) == 2
    assert "has no permission pass" in capsys.readouterr().err
