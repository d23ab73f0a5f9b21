"""The sandbox's webhooks: a change made in a simulator is sent, signed, to vector-sync.

``SandboxChanges`` makes a change through the simulators' own methods (a Jira comment, edit
or deletion; a Slack message deletion; a Fireflies meeting changed) and then posts the event
each vendor documents for it, in that vendor's payload shape and signed with its scheme
(``vector_sync.webhooks``: the receiver's own definition of each format), to
``<url>/<source>``. ``make up`` wires it to the plugin's receivers
(``http://127.0.0.1:8080/vector-sync/webhooks``) and exposes it as
``POST /_sandbox/changes`` on the sandbox, so a change made there is searchable seconds later.

Vendor payload shapes (see the documentation cited in ``vector_sync.webhooks``): Slack's
``event_callback`` with ``message`` events (subtype ``message_deleted`` carries ``deleted_ts``
and ``previous_message``); Jira's ``{timestamp, webhookEvent, issue, comment?}`` with
``X-Atlassian-Webhook-Identifier``; Notion's ``{id, timestamp, type, entity}``; Fireflies V2's
``{event, timestamp, meeting_id}``. A Notion page can be moved to the trash; the simulators
have no Slack edit or Notion content change yet: those events can still be sent with ``emit``.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Any

from vector_sync.webhooks import VENDORS

log = logging.getLogger(__name__)

TIMEOUT_S = 5.0  # what Slack allows is 3 s; a slow receiver is its problem, not the sandbox's


def new_secrets() -> dict[str, str]:
    """A fresh signing secret per vendor (``make up`` generates them on each start)."""
    return {source: secrets.token_urlsafe(24) for source in VENDORS}


def connection_env(signing: Mapping[str, str]) -> dict[str, str]:
    """The receivers' connections ``vector_sync_webhook_<source>`` as ``AIRFLOW_CONN_*``."""
    return {
        f"AIRFLOW_CONN_VECTOR_SYNC_WEBHOOK_{source.upper()}": json.dumps({"conn_type": "generic", "password": secret})
        for source, secret in signing.items()
    }


class WebhookEmitter:
    """Signs ``payload`` as ``source``'s vendor does and posts it to ``<url>/<source>``."""

    def __init__(self, url: str, signing: Mapping[str, str], post: Callable[..., Any] | None = None) -> None:
        self.url = url.rstrip("/")
        self.signing = dict(signing)
        self._post = post
        self.sent: list[dict[str, Any]] = []

    def emit(self, source: str, payload: Mapping[str, Any], headers: Mapping[str, str] | None = None) -> int:
        body = json.dumps(payload).encode()
        signed = {**VENDORS[source].sign(body, self.signing[source], time.time()), **(headers or {})}
        post = self._post
        if post is None:
            import requests

            post = requests.post
        try:
            response = post(f"{self.url}/{source}", data=body, headers=signed, timeout=TIMEOUT_S)
            status = response.status_code
        except Exception as exc:  # the receiver is down: the interval sync still finds the change
            log.warning("sandbox webhook to %s/%s failed: %s", self.url, source, exc)
            status = 0
        self.sent.append({"source": source, "status": status, "payload": dict(payload)})
        return status


def _ms() -> int:
    return int(time.time() * 1000)


def slack_event(event: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "token": "sandbox-verification-token",  # legacy field Slack still sends; never checked
        "team_id": "T0SANDBOX",
        "api_app_id": "A0SANDBOX",
        "type": "event_callback",
        "event_id": f"Ev{uuid.uuid4().hex[:10].upper()}",
        "event_time": int(time.time()),
        "event": dict(event),
    }


def jira_event(kind: str, issue: Any, **extra: Any) -> dict[str, Any]:
    return {"timestamp": _ms(), "webhookEvent": kind, "issue": {"id": str(issue.id), "key": issue.key, "fields": issue.fields}, **extra}


def notion_event(kind: str, page_id: str) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "timestamp": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
        "workspace_id": "00000000-0000-4000-8000-000000000001",
        "subscription_id": "00000000-0000-4000-8000-000000000002",
        "integration_id": "00000000-0000-4000-8000-000000000003",
        "type": kind,
        "entity": {"id": page_id, "type": "page"},
        "data": {},
        "attempt_number": 1,
    }


def fireflies_event(kind: str, meeting_id: str) -> dict[str, Any]:
    return {"event": kind, "timestamp": _ms(), "meeting_id": meeting_id}


class SandboxChanges:
    """Changes made in the simulators, each followed by its vendor's webhook."""

    def __init__(self, box: Any, emitter: WebhookEmitter) -> None:
        self.box = box
        self.emitter = emitter

    def apply(self, change: Mapping[str, Any]) -> dict[str, Any]:
        """``{"source": "jira", "op": "comment", "key": "SUBS-3", "text": "..."}`` and the like
        (ops: jira comment/edit/delete, slack delete, notion trash, fireflies change)."""
        op = f"{change.get('source')}_{change.get('op')}"
        handler = getattr(self, op, None)
        if handler is None or op.startswith("_"):
            raise ValueError(f"unknown sandbox change {op!r}")
        return handler(**{k: v for k, v in change.items() if k not in ("source", "op")})

    def handle(self, body: bytes) -> tuple[int, dict[str, Any]]:
        """``POST /_sandbox/changes``: (HTTP status, answer)."""
        try:
            return 200, self.apply(json.loads(body))
        except (ValueError, KeyError, TypeError) as exc:
            return 400, {"error": f"bad change: {exc}"}

    def jira_comment(self, key: str, text: str) -> dict[str, Any]:
        jira = self.box.simulator("jira")
        comment = jira.add_comment(key, datetime.now(timezone.utc), text)
        issue = jira.issue_by_key(key)
        return {"status": self.emitter.emit("jira", jira_event("comment_created", issue, comment=comment), self._delivery())}

    def jira_edit(self, key: str, summary: str) -> dict[str, Any]:
        jira = self.box.simulator("jira")
        issue = jira.touch(key, datetime.now(timezone.utc), summary=summary)
        return {"status": self.emitter.emit("jira", jira_event("jira:issue_updated", issue), self._delivery())}

    def jira_delete(self, key: str) -> dict[str, Any]:
        jira = self.box.simulator("jira")
        issue = jira.issue_by_key(key)
        jira.delete(key)
        return {"status": self.emitter.emit("jira", jira_event("jira:issue_deleted", issue), self._delivery())}

    def slack_delete(self, channel: str, ts: str, thread_ts: str | None = None) -> dict[str, Any]:
        self.box.simulator("slack").delete_message(channel, ts)
        previous = {"type": "message", "ts": ts, **({"thread_ts": thread_ts} if thread_ts else {})}
        event = {"type": "message", "subtype": "message_deleted", "channel": channel, "hidden": True, "deleted_ts": ts,
                 "event_ts": f"{time.time():.6f}", "ts": f"{time.time():.6f}", "previous_message": previous}  # fmt: skip
        return {"status": self.emitter.emit("slack", slack_event(event))}

    def notion_trash(self, page_id: str) -> dict[str, Any]:
        """Move a page to the trash: search stops listing it, and Notion sends ``page.deleted``
        (https://developers.notion.com/reference/webhooks/page-deleted)."""
        notion = self.box.simulator("notion")
        if page_id not in notion.data.pages:
            raise KeyError(f"no Notion page {page_id}")
        notion.trashed.add(page_id)
        return {"status": self.emitter.emit("notion", notion_event("page.deleted", page_id))}

    def fireflies_change(self, meeting_id: str, **fields: Any) -> dict[str, Any]:
        self.box.simulator("fireflies").change_transcript(meeting_id, **fields)
        return {"status": self.emitter.emit("fireflies", fireflies_event("meeting.summarized", meeting_id))}

    @staticmethod
    def _delivery() -> dict[str, str]:
        return {"X-Atlassian-Webhook-Identifier": str(uuid.uuid4())}


def wire_webhooks(box: Any, url: str) -> dict[str, str]:
    """``make up``: fresh secrets, ``box``'s ``POST /_sandbox/changes`` sending to ``url``; returns
    the ``AIRFLOW_CONN_*`` variables that give the receivers the same secrets."""
    signing = new_secrets()
    box.changes = SandboxChanges(box, WebhookEmitter(url, signing))
    return connection_env(signing)
