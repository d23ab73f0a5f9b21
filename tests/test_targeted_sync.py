"""Targeted syncs (what the events DAG runs after webhooks) against the sandbox simulators:
a document fetched by id is the one the window fetch built (nothing re-embedded), a changed
item is re-embedded, a deleted one leaves the store and the ledger."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from tests.sourcekit import Backends, sandbox_settings
from vector_sync.models import Window
from vector_sync.state.webhooks import PendingChange
from vector_sync.targeted import plan_changes, sync_documents

WEBHOOK_SOURCES = ("slack", "jira", "notion", "fireflies")


class RunBackends:
    """``vector_sync.run.Backends`` over the test kit's embedded backends."""

    def __init__(self, kit: Backends) -> None:
        self.kit = kit
        self.state = kit.state

    def embedder(self) -> Any:
        return self.kit.embedder

    def store(self) -> Any:
        return self.kit.store

    def staging_root(self) -> Any:
        return self.kit.folder / "staging"


@pytest.fixture()
def kit(sandbox, monkeypatch, tmp_path):
    return Backends(tmp_path, sandbox_settings(monkeypatch, sandbox), sandbox=sandbox)


def window_of(workspace) -> Window:
    return Window(workspace.start - timedelta(hours=1), workspace.anchor)


def indexed(kit, prefix: str) -> set[str]:
    return {chunk_id.rsplit("#", 1)[0] for chunk_id in kit.store.ids(prefix)}


def sync(kit, name: str, upserts=(), deletions=()) -> dict[str, Any]:
    return sync_documents(
        kit.source(name), list(upserts), list(deletions), RunBackends(kit), f"events__{datetime.now(timezone.utc):%H%M%S%f}"
    )


@pytest.mark.parametrize("name", WEBHOOK_SOURCES)
def test_fetch_by_id_builds_the_window_fetchs_documents(kit, workspace, name):
    kit.run(name, window_of(workspace))
    before = sorted(indexed(kit, f"{name}:"))
    assert before, f"the window sync indexed no {name} documents"
    chosen = before[:3]
    hashes = {d: e.content_hash for d, e in kit.state.ledger.entries(chosen).items()}
    counts = sync(kit, name, upserts=chosen)
    assert counts["fetched"] == len(chosen), counts
    assert counts["embedded"] == 0 and counts["skipped_unchanged"] > 0, counts  # same text, same hash
    assert counts["removed_documents"] == 0
    assert sorted(indexed(kit, f"{name}:")) == before
    assert len(hashes) == len(chosen)
    assert {d: e.content_hash for d, e in kit.state.ledger.entries(chosen).items()} == hashes


def test_jira_comment_is_embedded_and_deleted_issue_leaves(kit, workspace, sandbox):
    kit.run("jira", window_of(workspace))
    before = sorted(indexed(kit, "jira:"))
    changed, deleted, vanished = before[0], before[1], before[2]
    jira = sandbox.simulator("jira")
    jira.add_comment(changed.split(":", 1)[1], datetime.now(timezone.utc), "Webhook check: the zebra-42 rollout moved to Friday.")
    jira.delete(deleted.split(":", 1)[1])
    jira.delete(vanished.split(":", 1)[1])
    # The edit and the deletion event; ``vanished`` is named by an edit event but is gone now.
    counts = sync(kit, "jira", upserts=[changed, vanished], deletions=[deleted])
    assert counts["fetched"] == 1 and counts["embedded"] >= 1 and counts["upserted"] >= 1, counts
    assert counts["removed_documents"] == 2, counts
    assert indexed(kit, "jira:") == set(before) - {deleted, vanished}
    live = set(kit.state.ledger.documents_of_source("jira"))
    assert deleted not in live and vanished not in live and changed in live


def test_slack_deleted_thread_and_fireflies_deleted_meeting_leave(kit, workspace, sandbox):
    for name in ("slack", "fireflies"):
        kit.run(name, window_of(workspace))
    slack_doc = sorted(indexed(kit, "slack:"))[0]
    _, channel, ts = slack_doc.split(":")
    sandbox.simulator("slack").delete_message(channel, ts)
    meeting = sorted(indexed(kit, "fireflies:"))[0]
    sandbox.simulator("fireflies").delete_transcript(meeting.split(":", 1)[1])
    assert sync(kit, "slack", upserts=[slack_doc])["removed_documents"] == 1
    assert sync(kit, "fireflies", upserts=[meeting])["removed_documents"] == 1
    assert slack_doc not in indexed(kit, "slack:") and meeting not in indexed(kit, "fireflies:")


def test_a_documents_last_change_decides():
    now = datetime.now(timezone.utc)
    changes = [
        PendingChange("e1", "page.content_updated", "notion:a", False, now),
        PendingChange("e2", "page.deleted", "notion:a", True, now),
        PendingChange("e3", "page.deleted", "notion:b", True, now),
        PendingChange("e4", "page.undeleted", "notion:b", False, now),
        PendingChange("e5", "page.content_updated", "notion:c", False, now),
        PendingChange("e6", "page.content_updated", "notion:c", False, now),
    ]
    assert plan_changes(changes) == (["notion:b", "notion:c"], ["notion:a"])
