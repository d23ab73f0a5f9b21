"""The sandbox's webhooks: a change made through ``POST /_sandbox/changes`` reaches the
receiver signed in its vendor's format, is stored as the right event, and the targeted sync
of that event indexes the new text (or deletes the item)."""

from __future__ import annotations

import json

import pytest
import requests

from sandbox.webhooks import SandboxChanges, WebhookEmitter, connection_env, new_secrets
from tests.sourcekit import Backends, sandbox_settings
from tests.test_targeted_sync import RunBackends, indexed, window_of
from vector_sync.targeted import plan_changes, sync_documents


@pytest.fixture()
def wired(sandbox, monkeypatch, tmp_path):
    """The sandbox's changes sent to the receivers app (in process), which stores into the kit's state."""
    from fastapi.testclient import TestClient

    from vector_sync.airflow.web.webhooks import webhooks_app

    signing = new_secrets()
    for name, value in connection_env(signing).items():
        monkeypatch.setenv(name, value)
    kit = Backends(tmp_path, sandbox_settings(monkeypatch, sandbox), sandbox=sandbox)
    client = TestClient(webhooks_app(lambda: kit.state, notify=lambda source, extra: None))

    def post(url, data, headers, timeout):
        return client.post(url.removeprefix("http://receiver"), content=data, headers=headers)

    sandbox.changes = SandboxChanges(sandbox, WebhookEmitter("http://receiver", signing, post=post))
    return kit


def change(sandbox, **body) -> dict:
    response = requests.post(f"{sandbox.url}/_sandbox/changes", data=json.dumps(body), timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def drain(kit, source: str) -> dict:
    pending = kit.state.webhooks.claim(source, "events-test")
    upserts, deletions = plan_changes(pending)
    counts = sync_documents(kit.source(source), upserts, deletions, RunBackends(kit), "events-test")
    kit.state.webhooks.done(source, "events-test", pending[0].received_at)
    return counts


def test_a_jira_comment_in_the_sandbox_is_indexed_through_its_webhook(wired, sandbox, workspace):
    kit = wired
    kit.run("jira", window_of(workspace))
    doc_id = sorted(indexed(kit, "jira:"))[0]
    before = kit.state.ledger.entries([doc_id])[doc_id].content_hash
    assert change(sandbox, source="jira", op="comment", key=doc_id.split(":", 1)[1], text="Zebra-42 moved to Friday.") == {"status": 200}
    assert kit.state.webhooks.stats("jira").pending == 1
    counts = drain(kit, "jira")
    assert counts["fetched"] == 1 and counts["embedded"] >= 1
    assert kit.state.ledger.entries([doc_id])[doc_id].content_hash != before


def test_sandbox_deletions_send_deletion_events(wired, sandbox, workspace):
    kit = wired
    kit.run("jira", window_of(workspace))
    kit.run("slack", window_of(workspace))
    jira_doc = sorted(indexed(kit, "jira:"))[1]
    slack_doc = sorted(indexed(kit, "slack:"))[0]
    _, channel, ts = slack_doc.split(":")
    assert change(sandbox, source="jira", op="delete", key=jira_doc.split(":", 1)[1])["status"] == 200
    assert change(sandbox, source="slack", op="delete", channel=channel, ts=ts)["status"] == 200
    assert drain(kit, "jira")["removed_documents"] == 1
    assert drain(kit, "slack")["removed_documents"] == 1
    assert jira_doc not in indexed(kit, "jira:") and slack_doc not in indexed(kit, "slack:")


def test_a_fireflies_change_sends_a_signed_v2_event(wired, sandbox, workspace):
    kit = wired
    kit.run("fireflies", window_of(workspace))
    doc_id = sorted(indexed(kit, "fireflies:"))[0]
    assert (
        change(sandbox, source="fireflies", op="change", meeting_id=doc_id.split(":", 1)[1], title="Renamed by the sandbox")["status"]
        == 200
    )
    [pending] = kit.state.webhooks.claim("fireflies", "check")
    assert (pending.document_id, pending.deleted) == (doc_id, False)


def test_an_unknown_change_is_a_400(wired, sandbox):
    response = requests.post(f"{sandbox.url}/_sandbox/changes", data=json.dumps({"source": "jira", "op": "explode"}), timeout=10)
    assert response.status_code == 400


def test_a_notion_page_moved_to_the_trash_leaves_the_index_through_its_webhook(wired, sandbox, workspace):
    """Notion's search no longer lists a trashed page, so no window sync can see it go: the
    ``page.deleted`` event is what removes it before the weekly prune."""
    kit = wired
    kit.run("notion", window_of(workspace))
    doc_id = sorted(indexed(kit, "notion:"))[0]
    assert change(sandbox, source="notion", op="trash", page_id=doc_id.split(":", 1)[1]) == {"status": 200}
    assert kit.state.webhooks.stats("notion").pending == 1
    assert drain(kit, "notion")["removed_documents"] == 1
    assert doc_id not in indexed(kit, "notion:")
    kit.run("notion", window_of(workspace))  # the window sync after it: search does not bring it back
    assert doc_id not in indexed(kit, "notion:")


def found(kit, word: str) -> set[str]:
    """Documents whose chunks match ``word`` by keyword."""
    return {hit.id.rsplit("#", 1)[0] for hit in kit.store.query(None, 20, text=word, mode="keyword")}


def test_slack_posts_and_a_reply_edit_are_indexed_through_their_events(wired, sandbox, workspace):
    """A reply's edit names its thread (one document per thread), so the thread is re-synced
    with the new text; a new message, then a reply to it, make one new document."""
    kit = wired
    kit.run("slack", window_of(workspace))
    late = sandbox.simulator("slack").data.scenarios["late_reply"]
    channel, thread_doc = late["channel"], f"slack:{late['channel']}:{late['thread_ts']}"
    assert thread_doc in indexed(kit, "slack:") and not found(kit, "koala")
    edited = change(sandbox, source="slack", op="edit", channel=channel, ts=late["reply_ts"], text="Found it: koala-11 re-sends.")
    assert edited == {"status": 200, "ts": late["reply_ts"], "thread_ts": late["thread_ts"]}
    [pending] = kit.state.webhooks.claim("slack", "peek")  # a peek: the drain claims it again
    assert (pending.kind, pending.document_id, pending.deleted) == ("message_changed", thread_doc, False)
    assert drain(kit, "slack")["embedded"] >= 1
    assert found(kit, "koala") == {thread_doc}

    posted = change(sandbox, source="slack", op="post", channel=channel, text="Emu-12: the proration fix is live.")
    new_doc = f"slack:{channel}:{posted['ts']}"
    assert posted["status"] == 200 and posted["thread_ts"] == posted["ts"]
    replied = change(sandbox, source="slack", op="post", channel=channel, thread_ts=posted["ts"], text="Confirmed on staging, wallaby-3.")
    assert replied["thread_ts"] == posted["ts"] and replied["ts"] != posted["ts"]
    assert {c.document_id for c in kit.state.webhooks.claim("slack", "peek")} == {new_doc}
    assert drain(kit, "slack")["fetched"] == 1  # two events, one thread: fetched once
    assert found(kit, "emu") == found(kit, "wallaby") == {new_doc}


def test_a_notion_edit_and_a_new_page_are_indexed_through_their_events(wired, sandbox, workspace):
    kit = wired
    kit.run("notion", window_of(workspace))
    doc_id = sorted(indexed(kit, "notion:"))[0]
    page_id = doc_id.split(":", 1)[1]
    assert change(sandbox, source="notion", op="edit", page_id=page_id, text="Rewritten: the platypus-5 rollout plan.") == {"status": 200}
    [pending] = kit.state.webhooks.claim("notion", "peek")
    assert (pending.kind, pending.document_id, pending.deleted) == ("page.content_updated", doc_id, False)
    created = change(
        sandbox, source="notion", op="create", parent_id=page_id, title="Wombat review", text="Notes from the wombat-3 review."
    )
    assert created["status"] == 200
    counts = drain(kit, "notion")
    assert counts["fetched"] == 2 and counts["embedded"] >= 2
    assert found(kit, "platypus") == {doc_id}
    # The parent lists its new child page by title, so both hold "wombat".
    assert found(kit, "wombat") == {f"notion:{created['page_id']}", doc_id}
