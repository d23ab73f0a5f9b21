"""The sandbox's webhooks: a change made in a simulator is sent, signed, to vector-sync.

``SandboxChanges`` makes a change through the simulators' own methods (a Jira comment, edit
or deletion; a Slack message or reply posted, edited or deleted; a Notion page edited, created
or moved to the trash; a Fireflies meeting changed) and then posts the event
each vendor documents for it, in that vendor's payload shape and signed with its scheme
(``vector_sync.webhooks``: the receiver's own definition of each format), to
``<url>/<source>``. ``make up`` wires it to the plugin's receivers
(``http://127.0.0.1:8080/vector-sync/webhooks``) and exposes it as
``POST /_sandbox/changes`` on the sandbox, so a change made there is searchable seconds later.

Vendor payload shapes (see the documentation cited in ``vector_sync.webhooks``): Slack's
``event_callback`` with ``message`` events (https://api.slack.com/events/message: a new message
or reply, a reply with ``thread_ts`` and ``parent_user_id``; subtype ``message_changed`` carries
the edited ``message`` and ``previous_message``, ``message_deleted`` carries ``deleted_ts`` and
``previous_message``); Jira's ``{timestamp, webhookEvent, issue, comment?}`` with
``X-Atlassian-Webhook-Identifier``; Notion's ``{id, timestamp, workspace_id, subscription_id,
integration_id, type, authors, entity: {id, type: "page"}, data}``
(https://developers.notion.com/reference/webhooks-events-delivery: ``page.content_updated``
names the ``updated_blocks``, ``page.created`` and ``page.deleted`` the ``parent``);
Fireflies V2's ``{event, timestamp, meeting_id}``.
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

from sandbox.slack import BOT_USER_ID
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


def slack_message_event(channel: Mapping[str, Any], fields: Mapping[str, Any]) -> dict[str, Any]:
    """A ``message`` event in ``channel`` as the Events API delivers it (``fields`` has its ``ts``)."""
    return {
        "type": "message",
        "channel": channel["id"],
        "channel_type": "group" if channel.get("is_private") else "channel",
        **fields,
        "event_ts": fields["ts"],
    }


def notion_event(kind: str, page: Mapping[str, Any], **data: Any) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "timestamp": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
        "workspace_id": "00000000-0000-4000-8000-000000000001",
        "workspace_name": "Sandbox",
        "subscription_id": "00000000-0000-4000-8000-000000000002",
        "integration_id": "00000000-0000-4000-8000-000000000003",
        "type": kind,
        "authors": [{"id": (page.get("last_edited_by") or {}).get("id", ""), "type": "person"}],
        "attempt_number": 1,
        "entity": {"id": page["id"], "type": "page"},
        "data": {"parent": notion_parent(page.get("parent") or {}), **data},
    }


def notion_parent(parent: Mapping[str, Any]) -> dict[str, str]:
    """A page's ``parent`` as webhook events name it: ``{id, type}`` (``space`` for the workspace)."""
    kind = str(parent.get("type", "workspace"))
    if kind == "workspace":
        return {"id": "00000000-0000-4000-8000-000000000001", "type": "space"}
    return {"id": str(parent.get(kind, "")), "type": kind.removesuffix("_id")}


def fireflies_event(kind: str, meeting_id: str) -> dict[str, Any]:
    return {"event": kind, "timestamp": _ms(), "meeting_id": meeting_id}


class SandboxChanges:
    """Changes made in the simulators, each followed by its vendor's webhook."""

    def __init__(self, box: Any, emitter: WebhookEmitter) -> None:
        self.box = box
        self.emitter = emitter

    def apply(self, change: Mapping[str, Any]) -> dict[str, Any]:
        """``{"source": "jira", "op": "comment", "key": "SUBS-3", "text": "..."}`` and the like
        (ops: jira comment/edit/delete, slack post/edit/delete, notion edit/create/trash,
        fireflies change)."""
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

    def slack_post(self, channel: str, text: str, thread_ts: str | None = None, user: str | None = None) -> dict[str, Any]:
        """A new message (or a reply in the thread of ``thread_ts``) by ``user`` (default: the
        channel's first member): Slack sends a plain ``message`` event."""
        slack = self.box.simulator("slack")
        room = self._slack_channel(channel)
        author = user or next((m for m in slack.data.members[room["id"]] if m != BOT_USER_ID), None)
        if author is None:
            raise KeyError(f"Slack channel {channel} has nobody to post (give a user)")
        message = slack.post_message(room["id"], author, text, thread_ts=thread_ts)
        status = self.emitter.emit("slack", slack_event(slack_message_event(room, message)))
        return {"status": status, "ts": message["ts"], "thread_ts": message.get("thread_ts", message["ts"])}

    def slack_edit(self, channel: str, ts: str, text: str) -> dict[str, Any]:
        """Its author edits a message or reply: Slack sends ``message_changed`` with the message
        after and before (https://api.slack.com/events/message/message_changed)."""
        room = self._slack_channel(channel)
        before, after = self.box.simulator("slack").edit_message(room["id"], ts, text)
        changed = {"subtype": "message_changed", "hidden": True, "message": after, "previous_message": before, "ts": after["edited"]["ts"]}
        event = slack_message_event(room, changed)
        status = self.emitter.emit("slack", slack_event(event))
        return {"status": status, "ts": ts, "thread_ts": after.get("thread_ts", ts)}

    def _slack_channel(self, channel: str) -> dict[str, Any]:
        found = self.box.simulator("slack").data.channel(channel)
        if found is None:
            raise KeyError(f"no Slack channel {channel}")
        return found

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
        return {"status": self.emitter.emit("notion", notion_event("page.deleted", notion.data.pages[page_id]))}

    def notion_edit(self, page_id: str, text: str) -> dict[str, Any]:
        """Rewrite the page's first paragraph: Notion sends ``page.content_updated``
        (https://developers.notion.com/reference/webhooks-events-delivery#pagecontent_updated)."""
        notion = self.box.simulator("notion")
        block = notion.edit_page(page_id, text)
        event = notion_event("page.content_updated", notion.data.pages[page_id], updated_blocks=[{"id": block["id"], "type": "block"}])
        return {"status": self.emitter.emit("notion", event)}

    def notion_create(self, parent_id: str, title: str, text: str) -> dict[str, Any]:
        """A new page under ``parent_id``: Notion sends ``page.created``."""
        page = self.box.simulator("notion").create_page(parent_id, title, text)
        return {"status": self.emitter.emit("notion", notion_event("page.created", page)), "page_id": page["id"]}

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
