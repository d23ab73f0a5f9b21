"""Vendor webhooks: each vendor's signature check, its handshake, and what an event names.

One ``Vendor`` per source that has webhooks (Tempo has none documented: it keeps its
schedule). Everything here works on the raw body and the headers, so the receiver
(``vector_sync.airflow.web.webhooks``), the sandbox's emitters and the tests share one
definition of each vendor's format; nothing here imports Airflow or fetches anything.

The signature is checked over the raw bytes before the JSON is parsed (re-serialised JSON
would not match), with ``hmac.compare_digest``. An event becomes ``ItemChange`` records: the
document it touches (the index's id, ``slack:C1:1700000000.000100``) and whether the item is
gone, so the events DAG fetches exactly those items or deletes them.

Vendor documentation, checked 2026-12-06:
- Slack: https://api.slack.com/authentication/verifying-requests-from-slack (``X-Slack-Signature``
  = ``v0=`` + hex HMAC-SHA256 of ``v0:{X-Slack-Request-Timestamp}:{body}``; refuse timestamps
  more than five minutes from now), https://api.slack.com/events/url_verification (answer the
  ``challenge``), https://api.slack.com/apis/events-api#callback-field (``event_callback`` with a
  unique ``event_id``), message subtypes ``message_changed`` / ``message_deleted``
  (https://api.slack.com/events/message/message_changed, .../message_deleted).
- Jira Cloud: https://developer.atlassian.com/cloud/jira/platform/webhooks/#secure-admin-webhooks
  (admin webhooks with a secret: ``X-Hub-Signature: sha256=<hex HMAC-SHA256 of the body>``,
  the WebSub method=signature format; ``X-Atlassian-Webhook-Identifier`` is the same across a
  delivery's retries); payloads carry ``webhookEvent`` (``jira:issue_created|updated|deleted``,
  ``comment_created|updated|deleted`` with ``issue``, ``worklog_created|updated|deleted`` with
  ``worklog.issueId``) and ``timestamp`` (epoch ms).
- Notion: https://developers.notion.com/reference/webhooks (the first POST of a subscription is
  ``{"verification_token": ...}`` and unsigned; afterwards ``X-Notion-Signature: sha256=<hex
  HMAC-SHA256 of the body keyed by that token>``; events ``{id, timestamp, type, entity: {id,
  type}, ...}``), https://developers.notion.com/reference/webhooks/page-deleted (moving a page
  to the trash sends ``page.deleted``; ``page.undeleted`` brings it back).
- Fireflies: https://docs.fireflies.ai/graphql-api/webhooks-v2 (``{event, timestamp (epoch ms),
  meeting_id, client_reference_id}``, ``meeting.transcribed`` / ``meeting.summarized``;
  ``X-Hub-Signature: sha256=<hex HMAC-SHA256 of the body>`` with the webhook's signing secret).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

# Slack's documented replay window; the others sign no timestamp header, so their body's own
# timestamp is held to a wider window (their retries span longer), and the event id catches
# any replay inside it.
SLACK_MAX_SKEW_S = 5 * 60
BODY_MAX_AGE_S = 60 * 60
# The largest body any of the four sends for one event is a Jira issue with its fields (tens
# of KB); anything far bigger is refused before it is read whole.
MAX_BODY_BYTES = 512 * 1024


class Rejected(Exception):
    """A request to refuse with ``status`` (4xx); ``reason`` is safe to log (no secret)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class ItemChange:
    """One event's effect on one indexed document."""

    event_id: str
    kind: str  # the vendor's event type, for logs and status
    document_id: str  # the index's document id (``jira:PROJ-1``)
    deleted: bool  # the document is gone upstream: delete it, fetch nothing


def hmac_hex(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def _same(expected: str, given: str | None) -> bool:
    return given is not None and hmac.compare_digest(expected.encode(), given.strip().encode())


def parse_json(body: bytes) -> dict[str, Any]:
    """The body as a JSON object, or ``Rejected(400)``."""
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        raise Rejected(400, "body is not JSON") from None
    if not isinstance(payload, dict):
        raise Rejected(400, "body is not a JSON object")
    return payload


def _require(value: Any, what: str) -> str:
    if not isinstance(value, (str, int)) or isinstance(value, bool) or str(value) == "":
        raise Rejected(400, f"payload has no {what}")
    return str(value)


class Vendor(ABC):
    """One vendor's webhook format."""

    source: ClassVar[str]

    @abstractmethod
    def verify(self, headers: Mapping[str, str], body: bytes, secret: str, now: float) -> None:
        """Raise ``Rejected`` unless ``body`` was signed with ``secret`` recently enough."""

    @abstractmethod
    def sign(self, body: bytes, secret: str, now: float) -> dict[str, str]:
        """The headers the vendor would send with ``body`` (the sandbox's emitters, tests)."""

    @abstractmethod
    def changes(self, headers: Mapping[str, str], payload: Mapping[str, Any], now: float) -> list[ItemChange]:
        """What a verified event changes; an empty list for event types the index ignores."""

    def handshake(self, payload: Mapping[str, Any]) -> dict[str, Any] | None:
        """The answer to a verification request (Slack's challenge), None for an event."""
        return None

    def unsigned_handshake_token(self, payload: Mapping[str, Any]) -> str | None:
        """A handshake the vendor sends before any secret exists (Notion's token), else None."""
        return None

    @staticmethod
    def _body_age(timestamp_s: float, now: float) -> None:
        if abs(now - timestamp_s) > BODY_MAX_AGE_S:
            raise Rejected(400, "event timestamp is too old (replay?)")

    @staticmethod
    def _hub_signature(headers: Mapping[str, str], body: bytes, secret: str, header: str) -> None:
        if not _same(f"sha256={hmac_hex(secret, body)}", headers.get(header)):
            raise Rejected(401, f"bad or missing {header}")


def _headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {key.lower(): value for key, value in headers.items()}


class SlackVendor(Vendor):
    source = "slack"

    def verify(self, headers: Mapping[str, str], body: bytes, secret: str, now: float) -> None:
        headers = _headers(headers)
        timestamp = headers.get("x-slack-request-timestamp", "")
        try:
            sent = int(timestamp)
        except ValueError:
            raise Rejected(401, "bad or missing X-Slack-Request-Timestamp") from None
        if abs(now - sent) > SLACK_MAX_SKEW_S:
            raise Rejected(401, "X-Slack-Request-Timestamp is more than five minutes away (replay?)")
        expected = "v0=" + hmac_hex(secret, b"v0:" + timestamp.encode() + b":" + body)
        if not _same(expected, headers.get("x-slack-signature")):
            raise Rejected(401, "bad or missing X-Slack-Signature")

    def sign(self, body: bytes, secret: str, now: float) -> dict[str, str]:
        timestamp = str(int(now))
        signature = "v0=" + hmac_hex(secret, b"v0:" + timestamp.encode() + b":" + body)
        return {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": signature, "Content-Type": "application/json"}

    def handshake(self, payload: Mapping[str, Any]) -> dict[str, Any] | None:
        if payload.get("type") == "url_verification":
            return {"challenge": _require(payload.get("challenge"), "challenge")}
        return None

    def changes(self, headers: Mapping[str, str], payload: Mapping[str, Any], now: float) -> list[ItemChange]:
        if payload.get("type") != "event_callback":
            return []
        event_id = _require(payload.get("event_id"), "event_id")
        event = payload.get("event")
        if not isinstance(event, dict) or event.get("type") != "message":
            return []
        channel = _require(event.get("channel"), "event.channel")
        subtype = event.get("subtype")
        # A thread is one document, ``slack:<channel>:<thread root ts>``: a reply's change
        # re-syncs its thread; only the root's deletion deletes the document.
        if subtype == "message_deleted":
            previous = event.get("previous_message") or {}
            ts = _require(event.get("deleted_ts") or previous.get("ts"), "event.deleted_ts")
            root = str(previous.get("thread_ts") or ts)
            return [ItemChange(event_id, "message_deleted", f"slack:{channel}:{root}", deleted=root == ts)]
        message = event.get("message") if subtype == "message_changed" else event
        if not isinstance(message, dict):
            raise Rejected(400, "payload has no event.message")
        ts = _require(message.get("ts"), "message ts")
        root = str(message.get("thread_ts") or ts)
        return [ItemChange(event_id, subtype or "message", f"slack:{channel}:{root}", deleted=False)]


class JiraVendor(Vendor):
    source = "jira"

    def verify(self, headers: Mapping[str, str], body: bytes, secret: str, now: float) -> None:
        self._hub_signature(_headers(headers), body, secret, "x-hub-signature")

    def sign(self, body: bytes, secret: str, now: float) -> dict[str, str]:
        delivery = hashlib.sha256(body).hexdigest()[:32]
        return {
            "X-Hub-Signature": f"sha256={hmac_hex(secret, body)}",
            "X-Atlassian-Webhook-Identifier": delivery,
            "Content-Type": "application/json",
        }

    def changes(self, headers: Mapping[str, str], payload: Mapping[str, Any], now: float) -> list[ItemChange]:
        kind = _require(payload.get("webhookEvent"), "webhookEvent")
        timestamp = payload.get("timestamp")
        if isinstance(timestamp, (int, float)) and not isinstance(timestamp, bool):
            self._body_age(timestamp / 1000, now)
        # The delivery's identifier is stable across Jira's retries; without it, the body is.
        event_id = (
            _headers(headers).get("x-atlassian-webhook-identifier")
            or hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
        )
        if kind.startswith("worklog_"):
            worklog = payload.get("worklog") or {}
            # Worklog events name the issue by id only; ``jira:id:<n>`` is resolved by the fetch.
            return [ItemChange(event_id, kind, f"jira:id:{_require(worklog.get('issueId'), 'worklog.issueId')}", deleted=False)]
        issue = payload.get("issue")
        if not isinstance(issue, dict):
            return []
        key = _require(issue.get("key"), "issue.key")
        return [ItemChange(event_id, kind, f"jira:{key}", deleted=kind == "jira:issue_deleted")]


class NotionVendor(Vendor):
    source = "notion"
    # page.deleted is also what moving a page to the trash sends.
    UPSERTS = frozenset(
        {"page.created", "page.content_updated", "page.properties_updated", "page.moved", "page.undeleted", "page.unlocked"}
    )

    def verify(self, headers: Mapping[str, str], body: bytes, secret: str, now: float) -> None:
        self._hub_signature(_headers(headers), body, secret, "x-notion-signature")

    def sign(self, body: bytes, secret: str, now: float) -> dict[str, str]:
        return {"X-Notion-Signature": f"sha256={hmac_hex(secret, body)}", "Content-Type": "application/json"}

    def unsigned_handshake_token(self, payload: Mapping[str, Any]) -> str | None:
        token = payload.get("verification_token")
        return token if isinstance(token, str) and token and len(payload) == 1 else None

    def changes(self, headers: Mapping[str, str], payload: Mapping[str, Any], now: float) -> list[ItemChange]:
        event_id = _require(payload.get("id"), "id")
        kind = _require(payload.get("type"), "type")
        timestamp = payload.get("timestamp")
        if isinstance(timestamp, str):
            try:
                moment = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
            except ValueError:
                raise Rejected(400, "timestamp is not ISO 8601") from None
            self._body_age(moment.timestamp(), now)
        entity = payload.get("entity") or {}
        if not isinstance(entity, dict) or entity.get("type") != "page":
            return []
        page_id = _require(entity.get("id"), "entity.id")
        if kind == "page.deleted":
            return [ItemChange(event_id, kind, f"notion:{page_id}", deleted=True)]
        if kind in self.UPSERTS:
            return [ItemChange(event_id, kind, f"notion:{page_id}", deleted=False)]
        return []


class FirefliesVendor(Vendor):
    source = "fireflies"
    EVENTS = frozenset({"meeting.transcribed", "meeting.summarized", "Transcription completed"})

    def verify(self, headers: Mapping[str, str], body: bytes, secret: str, now: float) -> None:
        self._hub_signature(_headers(headers), body, secret, "x-hub-signature")

    def sign(self, body: bytes, secret: str, now: float) -> dict[str, str]:
        return {"X-Hub-Signature": f"sha256={hmac_hex(secret, body)}", "Content-Type": "application/json"}

    def changes(self, headers: Mapping[str, str], payload: Mapping[str, Any], now: float) -> list[ItemChange]:
        # V2 shape; V1's ``{meetingId, eventType}`` is read too (older subscriptions).
        kind = _require(payload.get("event") or payload.get("eventType"), "event")
        meeting = _require(payload.get("meeting_id") or payload.get("meetingId"), "meeting_id")
        timestamp = payload.get("timestamp")
        if isinstance(timestamp, (int, float)) and not isinstance(timestamp, bool):
            self._body_age(timestamp / 1000, now)
        if kind not in self.EVENTS:
            return []
        # Fireflies sends no event id: the event, meeting and send time name one delivery.
        return [ItemChange(f"{kind}:{meeting}:{timestamp}", kind, f"fireflies:{meeting}", deleted=False)]


VENDORS: dict[str, Vendor] = {v.source: v for v in (SlackVendor(), JiraVendor(), NotionVendor(), FirefliesVendor())}


def events_asset_name(source: str) -> str:
    """The Airflow asset a source's webhooks update and its events DAG is scheduled on."""
    return f"vector_sync_{source}_events"


def vendor(source: str) -> Vendor:
    if source not in VENDORS:
        raise Rejected(404, f"no webhooks for source '{source}'")
    return VENDORS[source]
