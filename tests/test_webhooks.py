"""The webhook receivers over HTTP: each vendor's signature (valid, wrong secret, stale,
replayed, oversized, malformed), the handshakes, and what lands in the state DB. The secrets
come from Airflow connections set as ``AIRFLOW_CONN_*``; the receivers are reached through
the plugin app without any Airflow login."""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from typing import Any

import pytest

from vector_sync.state import StateStore
from vector_sync.webhooks import MAX_BODY_BYTES, VENDORS

SECRETS = {source: f"{source}-signing-secret-for-tests" for source in VENDORS}
NOW_MS = lambda: int(time.time() * 1000)  # noqa: E731


def sample_event(source: str, n: int = 1) -> dict[str, Any]:
    """One event per vendor in its documented shape (see vector_sync.webhooks)."""
    if source == "slack":
        return {
            "type": "event_callback",
            "team_id": "T0001",
            "event_id": f"Ev{n:06d}",
            "event_time": int(time.time()),
            "event": {"type": "message", "channel": "C0GENERAL", "user": "U01", "text": "hello", "ts": f"1763640000.{n:06d}"},
        }
    if source == "jira":
        return {"timestamp": NOW_MS(), "webhookEvent": "jira:issue_updated", "issue": {"id": str(10000 + n), "key": f"OPS-{n}"}}
    if source == "notion":
        return {
            "id": f"evt-{n}",
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
            "type": "page.content_updated",
            "entity": {"id": f"page-{n}", "type": "page"},
            "data": {},
        }
    return {"event": "meeting.transcribed", "timestamp": NOW_MS() + n, "meeting_id": f"MEET{n}"}


@pytest.fixture()
def client(airflow_db, tmp_path, monkeypatch):
    """The receivers app. ``airflow_db`` first: a source without an ``AIRFLOW_CONN_*`` is looked up
    in the metadata DB, which must be the migrated one before Airflow first opens it (else the
    modules after this one see an empty DB)."""
    from fastapi.testclient import TestClient

    from vector_sync.airflow.web.webhooks import webhooks_app

    for source, secret in SECRETS.items():
        monkeypatch.setenv(f"AIRFLOW_CONN_VECTOR_SYNC_WEBHOOK_{source.upper()}", json.dumps({"conn_type": "generic", "password": secret}))
    state = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    state.migrate()
    notified: list[str] = []
    app = webhooks_app(lambda: state, notify=lambda source, extra: notified.append(source))
    test_client = TestClient(app)
    test_client.state, test_client.notified = state, notified
    return test_client


def post(client, source: str, payload: Any, secret: str | None = None, now: float | None = None, raw: bytes | None = None, **headers: str):
    body = raw if raw is not None else json.dumps(payload).encode()
    signed = VENDORS[source].sign(body, secret or SECRETS[source], now or time.time())
    return client.post(f"/{source}", content=body, headers={**signed, **headers})


def events(state: StateStore, source: str) -> list[Any]:
    import sqlalchemy as sa

    from vector_sync.state.webhooks import webhook_events_table as t

    with state.engine.connect() as conn:
        return conn.execute(sa.select(t.c.event_id, t.c.document_id, t.c.deleted).where(t.c.source == source)).all()


@pytest.mark.parametrize("source", list(VENDORS))
def test_valid_event_is_stored_once_and_notified(client, source):
    payload = sample_event(source)
    response = post(client, source, payload)
    assert response.status_code == 200, response.text
    assert response.json() == {"ok": True, "stored": 1}
    assert len(events(client.state, source)) == 1
    assert client.notified == [source]
    # The same event again (a replay, or a retry after a lost answer) stores nothing.
    again = post(client, source, payload)
    assert again.status_code == 409
    assert len(events(client.state, source)) == 1
    stats = client.state.webhooks.stats(source)
    assert (stats.received, stats.pending, stats.rejected) == (1, 1, 1)


@pytest.mark.parametrize("source", list(VENDORS))
def test_wrong_secret_missing_signature_oversized_malformed_store_nothing(client, source):
    assert post(client, source, sample_event(source), secret="not-the-secret").status_code == 401
    unsigned = client.post(f"/{source}", content=json.dumps(sample_event(source)).encode())
    assert unsigned.status_code == 401
    big = json.dumps({**sample_event(source), "padding": "x" * MAX_BODY_BYTES}).encode()
    assert post(client, source, None, raw=big).status_code == 413
    assert post(client, source, None, raw=b"{not json").status_code == 400
    assert post(client, source, None, raw=b"[1, 2]").status_code == 400
    assert events(client.state, source) == []
    assert client.notified == []
    assert client.state.webhooks.stats(source).rejected == 5


def test_slack_stale_timestamp_is_refused(client):
    stale = time.time() - 6 * 60
    response = post(client, "slack", sample_event("slack"), now=stale)
    assert response.status_code == 401
    assert "five minutes" in response.json()["error"]
    assert events(client.state, "slack") == []


@pytest.mark.parametrize("source", ["jira", "notion", "fireflies"])
def test_old_event_body_is_refused(client, source):
    payload = sample_event(source)
    if source == "notion":
        payload["timestamp"] = "2026-01-01T00:00:00.000Z"
    else:
        payload["timestamp"] = NOW_MS() - 2 * 3600 * 1000
    assert post(client, source, payload).status_code == 400
    assert events(client.state, source) == []


def test_slack_url_verification_answers_the_challenge(client):
    response = post(
        client,
        "slack",
        {"type": "url_verification", "token": "legacy", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"},
    )
    assert response.status_code == 200
    assert response.json() == {"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}
    assert events(client.state, "slack") == []


def test_notion_handshake_before_a_secret_then_signed_events(client, monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_VECTOR_SYNC_WEBHOOK_NOTION")
    token = "secret_handshake_token_for_tests"
    first = client.post("/notion", content=json.dumps({"verification_token": token}).encode())
    assert first.status_code == 200
    assert client.state.webhooks.handshake("notion") == token
    # Until the token is stored in the connection, events are refused (fail closed).
    assert client.post("/notion", content=json.dumps(sample_event("notion")).encode()).status_code == 403
    assert events(client.state, "notion") == []


def test_deletions_and_threads_name_the_right_documents(client):
    deleted_root = sample_event("slack", 2)
    deleted_root["event"] = {"type": "message", "subtype": "message_deleted", "channel": "C0GENERAL", "deleted_ts": "1763640000.000002",
                             "previous_message": {"ts": "1763640000.000002"}}  # fmt: skip
    reply_edit = sample_event("slack", 3)
    reply_edit["event"] = {"type": "message", "subtype": "message_changed", "channel": "C0GENERAL",
                           "message": {"ts": "1763640009.000001", "thread_ts": "1763640000.000001", "text": "edited"}}  # fmt: skip
    jira_deleted = {**sample_event("jira", 5), "webhookEvent": "jira:issue_deleted"}
    worklog = {"timestamp": NOW_MS(), "webhookEvent": "worklog_updated", "worklog": {"id": "77", "issueId": "10005"}}
    trashed = {**sample_event("notion", 6), "type": "page.deleted"}
    for source, payload in [("slack", deleted_root), ("slack", reply_edit), ("jira", jira_deleted), ("notion", trashed)]:
        assert post(client, source, payload).status_code == 200
    assert post(client, "jira", worklog, **{"X-Atlassian-Webhook-Identifier": "delivery-77"}).status_code == 200
    assert sorted(events(client.state, "slack")) == [
        ("Ev000002", "slack:C0GENERAL:1763640000.000002", True),
        ("Ev000003", "slack:C0GENERAL:1763640000.000001", False),
    ]
    assert {(d, gone) for _, d, gone in events(client.state, "jira")} == {("jira:OPS-5", True), ("jira:id:10005", False)}
    assert [(d, gone) for _, d, gone in events(client.state, "notion")] == [("notion:page-6", True)]


def test_unknown_source_and_unconfigured_source(client, monkeypatch):
    assert client.post("/tempo", content=b"{}").status_code == 404
    monkeypatch.delenv("AIRFLOW_CONN_VECTOR_SYNC_WEBHOOK_JIRA")
    assert post(client, "jira", sample_event("jira")).status_code == 403
    assert events(client.state, "jira") == []


def test_claim_drains_every_pending_event_in_one_run(client):
    for n in range(1, 51):
        assert post(client, "slack", sample_event("slack", n)).status_code == 200
    repo = client.state.webhooks
    claimed = repo.claim("slack", "run-1")
    assert len(claimed) == 50
    assert repo.claim("slack", "run-1") == claimed  # a retried task sees the same claim
    assert repo.done("slack", "run-1", claimed[0].received_at) == 50
    assert repo.claim("slack", "run-2") == []
    assert repo.stats("slack").pending == 0


def test_receivers_are_mounted_in_the_plugin_app_outside_the_login(tmp_path, monkeypatch):
    """Through the plugin app: the receiver answers a vendor without an Airflow token, while
    the app's own API still wants one."""
    from types import SimpleNamespace

    from fastapi.testclient import TestClient

    from vector_sync.airflow.web.app import BackendCache, create_app

    monkeypatch.setenv("AIRFLOW_CONN_VECTOR_SYNC_WEBHOOK_SLACK", json.dumps({"conn_type": "generic", "password": SECRETS["slack"]}))
    state = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    state.migrate()
    app = create_app(BackendCache(factory=lambda: SimpleNamespace(state=state)))
    client = TestClient(app, base_url="http://testserver")
    body = json.dumps({"type": "url_verification", "challenge": "abc"}).encode()
    answer = client.post("/webhooks/slack", content=body, headers=VENDORS["slack"].sign(body, SECRETS["slack"], time.time()))
    assert answer.status_code == 200 and answer.json() == {"challenge": "abc"}
    assert client.post("/webhooks/slack", content=body).status_code == 401
    assert client.get("/api/status").status_code in (401, 403)


def test_status_shows_received_rejected_pending_and_the_last_events_age(client, tmp_path):
    from vector_sync.status import source_status
    from vector_sync.stores.lancedb import LanceDBStore

    for n in (1, 2, 3):
        assert post(client, "jira", sample_event("jira", n)).status_code == 200
    assert post(client, "jira", sample_event("jira", 9), secret="wrong").status_code == 401
    client.state.webhooks.claim("jira", "run-1")
    client.state.webhooks.done("jira", "run-1", datetime.now(timezone.utc))
    assert post(client, "jira", sample_event("jira", 4)).status_code == 200
    store = LanceDBStore(str(tmp_path / "lancedb"))
    status = source_status("jira", client.state, store).to_json()
    hooks = status["webhooks"]
    assert (hooks["received"], hooks["rejected"], hooks["pending"]) == (4, 1, 1)
    assert 0 <= hooks["last_event_age_s"] < 60 and hooks["last_rejected_reason"] == "bad or missing x-hub-signature"
    assert json.loads(json.dumps(status))["webhooks"] == hooks  # --json parses
    assert source_status("tempo", client.state, store).to_json()["webhooks"] is None


@pytest.mark.parametrize("source, header", [("slack", "X-Slack-Retry-Num"), ("jira", "X-Atlassian-Webhook-Retry")])
def test_the_vendors_own_retry_of_a_stored_event_is_acknowledged_not_refused(client, source, header):
    """Slack and Atlassian redeliver when our answer was slow or lost, marking the retry; a 409
    would count as a failed delivery (Slack disables an app's events after enough of them)."""
    payload = sample_event(source)
    assert post(client, source, payload).status_code == 200
    retry = post(client, source, payload, **{header: "1"})
    assert retry.status_code == 200 and retry.json() == {"ok": True, "stored": 0, "duplicate": True}
    assert len(events(client.state, source)) == 1
    stats = client.state.webhooks.stats(source)
    assert (stats.received, stats.pending, stats.rejected) == (1, 1, 0)


def test_the_cli_prints_notions_verification_token_for_the_operator(airflow_db, monkeypatch, tmp_path, capsys):
    """The token Notion's first, unsigned request carried is what the operator pastes into the
    connection (and into Notion's Verify dialog): `vector-sync webhooks notion-token` prints it.
    ``airflow_db`` first: the CLI opens Airflow's metadata DB (see ``client``)."""
    from fastapi.testclient import TestClient

    from vector_sync import cli
    from vector_sync.airflow.web.webhooks import webhooks_app
    from vector_sync.cli.context import runtime

    monkeypatch.setenv("VECTOR_SYNC_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("VECTOR_SYNC_SETTINGS_FILE", str(tmp_path / "no-settings.yaml"))
    monkeypatch.delenv("AIRFLOW_CONN_VECTOR_SYNC_WEBHOOK_NOTION", raising=False)
    assert cli.main(["webhooks", "notion-token"]) == 1
    assert capsys.readouterr().out == ""
    assert cli.main(["webhooks", "notion-token", "--json"]) == 1
    assert json.loads(capsys.readouterr().out) == {"source": "notion", "verification_token": None}

    state = runtime(embeds=False).state  # the receiver's state DB is the CLI's
    receiver = TestClient(webhooks_app(lambda: state, notify=lambda source, extra: None))
    token = "secret_handshake_token_for_the_cli"
    assert receiver.post("/notion", content=json.dumps({"verification_token": token}).encode()).status_code == 200
    capsys.readouterr()  # the receiver's own log lines (Airflow logs to stdout): not the command's
    assert cli.main(["webhooks", "notion-token"]) == 0
    assert capsys.readouterr().out == f"{token}\n"
    assert cli.main(["webhooks", "notion-token", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["verification_token"] == token
