"""Slack channel messages and threads as documents.

A thread (its parent and every reply) is one document, ``slack:{channel}:{thread_ts}``; a
message without replies is one document, ``slack:{channel}:{ts}``. Both read as the
conversation: ``Name (time): text`` per message, names instead of ids.

Late replies and edits: ``conversations.history`` filters on a message's own ``ts``, so
``oldest=window.start`` finds new messages but neither a new reply to an older thread nor an
edit of an older message (the Events API's ``message_changed`` is not available to a poller).
Each run therefore reads history from ``window.start - lookback`` and keeps the parents whose
*last activity*, ``max(ts, latest_reply, edited.ts)``, falls in the window; only those are
expanded with ``conversations.replies`` and yielded. Each thread is emitted by the window
that holds its last activity, so overlapping or re-run windows add nothing new.

The lookback trade-off (option ``lookback_days``, default 14): a longer lookback catches
replies and edits to older threads, at the cost of re-reading that much history (one
``conversations.history`` page per ``page_size`` parents, per channel, per run: with 15-minute
runs a busy channel is re-listed ~96 times a day). Downstream change detection keeps the cost
in API calls, never embeddings. Activity on a thread whose parent is older than the lookback
is missed, and so is an edit of a *reply* (history shows only the parent's ``latest_reply``)
unless the thread has other activity in the window.

Pruning (``live_ids``): listing every channel's whole history each week is what the lookback
avoids, so the listing covers ``prune_history_days`` (default 90) before the listing time:
``live_span``. Documents whose last activity is older are never judged by a prune. History is
read from the span start minus ``lookback_days``, because a thread's id is its parent's ts
while its last activity may come up to the lookback later; a thread that is older still (from
a wide catch-up window) is missing from the listing but found by ``confirm_gone``, which looks
each candidate up (one ``conversations.history`` call each). The channels are fetch's
(public and member private, not archived); none is joined. A public channel the bot is not
in cannot be read without joining: with ``auto_join`` its documents are kept (the next fetch
joins it), without it fetch skips the channel too and they go, as do those of archived,
deleted or left channels.

Pacing (option ``method_rpm``) and the client: ``vector_sync.sources.slack_client``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from vector_sync.config import SourceSettings
from vector_sync.models import Document, FetchStats, Window
from vector_sync.sources.auth import AUTH_CODES
from vector_sync.sources.base import AccessScope, Source
from vector_sync.sources.projects import ProjectTagger
from vector_sync.sources.slack_client import (  # noqa: F401 (the source's client, importable from here)
    MethodPacer,
    SlackReader,
    check_credentials,
    error_code,
    make_client,
    pace,
    retry_handlers,
    slack_errors,
)
from vector_sync.sources.slack_messages import (
    EPOCH,
    NOISE_SUBTYPES,
    decimal,
    domain,
    has_replies,
    indexed,
    is_bot,
    last_activity,
    parse_id,
    to_document,
    to_ts,
    ts_time,
)

log = logging.getLogger(__name__)

# Private channels are listed only when the bot is a member; DMs are never indexed.
_CHANNEL_TYPES = "public_channel,private_channel"
# Errors that refuse one channel (left, deleted, never joined), not the whole run.
_UNREADABLE = ("not_in_channel", "channel_not_found")
# Default channel -> project rule when no project keys are configured: "SUBS-DEV" -> SUBS.
_PREFIX_RULE = r"^([A-Z]+)-"


class SlackSource(Source):
    """Threads and messages whose last activity lies in the window, from every readable channel."""

    name = "slack"
    keep_unmapped = True  # general/random carry no project key and stay searchable

    def __init__(self, client: WebClient, settings: SourceSettings, stats: FetchStats | None = None) -> None:
        super().__init__(client, settings, stats)
        option = settings.option
        self.page_size, self.channel_page_size = int(option("page_size")), int(option("channel_page_size"))
        self.lookback = timedelta(days=float(option("lookback_days")))
        self.auto_join, self.include_bots = bool(option("auto_join")), bool(option("include_bots"))
        self.project_keys = tuple(option("project_keys") or ())
        self._domain = domain(option("workspace_domain") or "")
        self.pacer = pace(client, option("method_rpm") or {})
        self.api = SlackReader(client, self.pacer, self.page_size)
        self._channel_names: dict[str, str] = {}

    # Pruning: channel id -> the channel when readable, None when fetch would read it but the
    # bot cannot without joining (its documents are kept); absent: outside fetch's selection.
    _prune_selection: dict[str, dict | None] | None = None

    def items_in(self, document: Document) -> int:
        """One segment per message: a thread counts its parent and every reply."""
        return max(1, len(document.segments))

    def fetch(self, window: Window) -> Iterator[Document]:
        """Yield every thread or message whose last activity lies in ``[start, end)``."""
        return self.fetch_part(window, {})

    def parts(self, window: Window) -> list[dict[str, Any]]:
        """Channels in at most ``max_partitions`` groups (default 4): mapped fetch tasks then
        share a window's channels. Each group re-lists channels, one cheap call."""
        groups = max(1, int(self.settings.option("max_partitions")))
        with slack_errors(self.settings.conn_id):
            ids = sorted(c["id"] for c in self._listed_channels() if self._selected(c))
        if groups == 1 or len(ids) <= 1:
            return [{}]
        return [{"channels": ids[i::groups]} for i in range(min(groups, len(ids)))]

    def fetch_part(self, window: Window, scope: dict[str, Any]) -> Iterator[Document]:
        """The documents of the part's channels (all channels for ``{}``)."""
        wanted = set(scope.get("channels") or ())
        with slack_errors(self.settings.conn_id):
            if not self._domain:
                self._domain = domain(check_credentials(self.client, self.settings.conn_id).get("url") or "")
            for channel in self._listed_channels():
                if (not wanted or channel["id"] in wanted) and (channel.get("is_member") or self._join(channel)):
                    yield from self._channel_documents(channel, window)
        if self.pacer.limiters:
            log.info("Slack %s: pacing waited %.1f s in all", window, self.pacer.waited_s)

    # -- pruning

    def live_ids(self) -> Iterator[str]:
        """``slack:{channel}:{ts}`` of each thread or message posted since the span start minus
        the lookback, in the channels fetch reads: history pages only, no replies or users."""
        span = self.live_span()
        oldest, latest = (span[0] - self.lookback, span[1]) if span else (EPOCH, self.listing_time())
        with slack_errors(self.settings.conn_id):
            for channel in [c for c in self._prune_channels().values() if c is not None]:
                try:
                    for message in self._history(channel, oldest, latest):
                        if indexed(message, self.include_bots):
                            yield f"slack:{channel['id']}:{message['ts']}"
                except SlackApiError as exc:
                    if error_code(exc) not in _UNREADABLE:
                        raise
                    # Listed as readable, refused now (removed meanwhile): keep its documents, unjudged.
                    self._prune_channels()[channel["id"]] = None
                    log.warning("Slack channel #%s not listed for pruning: %s", channel["name"], error_code(exc))

    def confirm_gone(self, ids: list[str]) -> list[str]:
        """The ids whose channel fetch no longer reads, or whose message history lacks.

        Each candidate in a readable channel costs one ``conversations.history`` call at exactly
        its ts; ids the API cannot settle (unreadable channel, not a Slack id) are kept.
        """
        gone = []
        with slack_errors(self.settings.conn_id):
            selection = self._prune_channels()
            for doc_id in ids:
                parsed = parse_id(doc_id)
                if parsed is None:
                    continue
                channel_id, ts = parsed
                if channel_id not in selection:
                    gone.append(doc_id)
                elif selection[channel_id] is not None and not self._message_exists(channel_id, ts):
                    gone.append(doc_id)
        return gone

    def _prune_channels(self) -> dict[str, dict | None]:
        """Fetch's channel selection, listed once per source (see ``_prune_selection``)."""
        if self._prune_selection is None:
            self._prune_selection = {c["id"]: c if c.get("is_member") else None for c in self._listed_channels() if self._selected(c)}
        return self._prune_selection

    def _message_exists(self, channel_id: str, ts: str) -> bool:
        """Whether history still has the message ``ts`` (True when the channel refuses: unknown)."""
        try:
            response = self.api.call("conversations.history", channel=channel_id, oldest=ts, latest=ts, inclusive=True, limit=1)
        except SlackApiError as exc:
            if error_code(exc) in _UNREADABLE:
                return True
            raise
        wanted = decimal(ts)
        return any(isinstance(m, dict) and decimal(m.get("ts")) == wanted for m in response.get("messages") or [])

    # -- permissions

    def access_scopes(self, since: datetime | None = None) -> Iterator[AccessScope]:
        """Every listed channel's access now: public ones ``all`` (``is_private`` from
        ``conversations.list`` catches a conversion), private ones their members' emails.

        Requests: the channel listing, one ``conversations.members`` per private channel (plus
        its pages), and people once: ``users.list`` when many are unknown, else ``users.info``
        each. Channels the bot no longer sees (left, archived, deleted) are not yielded: the
        pass restricts their documents. ``since`` is not needed: channels have no dates.
        """
        with slack_errors(self.settings.conn_id):
            channels = self._listed_channels()
            members: dict[str, list[str]] = {}
            for channel in channels:
                if channel.get("is_private") and channel.get("is_member"):
                    try:
                        members[channel["id"]] = self.api.members(channel["id"])
                    except SlackApiError as exc:
                        if error_code(exc) not in _UNREADABLE:
                            raise
                        log.warning(
                            "Slack channel %s: members unreadable (%s), its documents are restricted", channel["id"], error_code(exc)
                        )
            self.api.learn_users(user for ids in members.values() for user in ids)
            for channel in channels:
                where = {"source": "slack", "channel_id": channel["id"]}
                if not channel.get("is_private"):
                    yield AccessScope(channel["id"], "all", (), where)
                elif channel["id"] in members:
                    yield AccessScope(channel["id"], *self.api.private_access(members[channel["id"]]), where)

    def access_scope_of(self, doc_id: str) -> str | None:
        """The channel of ``slack:{channel}:{ts}``."""
        parsed = parse_id(doc_id)
        return parsed[0] if parsed else None

    # -- channels

    def _listed_channels(self) -> list[dict]:
        """Every channel ``conversations.list`` shows (public, and private ones the bot is in),
        archived ones left out; their names are learned for ``#channel`` mentions."""
        listing = self.api.call("conversations.list", types=_CHANNEL_TYPES, exclude_archived=True, limit=self.channel_page_size)
        channels = [
            c
            for c in self.api.items(listing, "channels")
            if isinstance(c, dict) and c.get("id") and c.get("name") and not c.get("is_archived")
        ]
        self._channel_names.update((c["id"], c["name"]) for c in channels)
        return channels

    def _selected(self, channel: dict) -> bool:
        """Whether fetch reads the channel: the bot is in it, or may join it (public, ``auto_join``)."""
        return bool(channel.get("is_member") or (self.auto_join and not channel.get("is_private")))

    def _join(self, channel: dict) -> bool:
        """Join a public channel the bot is not in (``auto_join``); False when it stays out."""
        if channel.get("is_private") or not self.auto_join:
            self.stats.skip("channel not joined", item=f"#{channel['name']} ({channel['id']})")
            log.info("Skipping Slack channel #%s: the bot is not a member (auto_join=%s)", channel["name"], self.auto_join)
            return False
        try:
            self.api.call("conversations.join", channel=channel["id"])
        except SlackApiError as exc:
            if error_code(exc) in AUTH_CODES or error_code(exc) == "missing_scope":
                raise
            self.stats.skip("channel not joined", item=f"#{channel['name']} ({channel['id']})")
            log.warning("Skipping Slack channel #%s: join failed (%s)", channel["name"], error_code(exc))
            return False
        log.info("Joined Slack channel #%s", channel["name"])
        return True

    def _channel_documents(self, channel: dict, window: Window) -> Iterator[Document]:
        access: tuple[str, tuple[str, ...]] | None = None
        projects = channel_projects(channel["name"], self.project_keys)
        try:
            history = self._history(channel, window.start - self.lookback, window.end)
        except SlackApiError as exc:
            # The listing said member, the API disagrees (removed since): join once and retry.
            if error_code(exc) == "not_in_channel" and self._join(channel):
                history = self._history(channel, window.start - self.lookback, window.end)
            elif error_code(exc) in _UNREADABLE:
                self.stats.skip("channel unreadable", item=f"#{channel['name']} ({channel['id']})")
                log.warning("Skipping Slack channel #%s: %s", channel["name"], error_code(exc))
                return
            else:
                raise
        for message in history:
            last = last_activity(message)
            if last is None:
                self.stats.skip("malformed message", item=f"message in #{channel['name']} ({channel['id']}) with no usable ts")
                log.warning("Skipping malformed Slack message in #%s: no usable ts", channel["name"])
                continue
            if not window.contains(ts_time(last)):
                continue  # a parent re-read for the lookback whose thread did not move in this window
            if not self._wanted(message) or message.get("thread_ts", message["ts"]) != message["ts"]:
                continue  # noise, a filtered bot, or a reply broadcast to the channel (part of its thread)
            thread = self._thread(channel, message) if has_replies(message) else [message]
            if not thread:
                continue
            if access is None:
                access = self._access(channel)
            names = self.api.names(thread)
            yield to_document(channel, thread, ts_time(last), access, projects, self._domain, names.get, self._channel_names.get)

    def _history(self, channel: dict, oldest: datetime, latest: datetime) -> Iterator[dict]:
        """Messages of ``oldest <= ts <= latest`` (the half-open window is applied to last
        activity); the first page is asked at once, so a refused channel raises here."""
        first = self.api.call(
            "conversations.history", channel=channel["id"], oldest=to_ts(oldest), latest=to_ts(latest), inclusive=True, limit=self.page_size
        )
        return self.api.items(first, "messages")

    def _thread(self, channel: dict, parent: dict) -> list[dict]:
        """The parent and every reply, oldest first (the parent may repeat on each page)."""
        try:
            response = self.api.call("conversations.replies", channel=channel["id"], ts=parent["ts"], limit=self.page_size)
            messages: dict[str, dict] = {}
            for message in self.api.items(response, "messages"):
                if last_activity(message) is None:
                    self.stats.skip("malformed message", item=f"reply in thread {parent['ts']} of #{channel['name']} ({channel['id']})")
                    log.warning("Skipping malformed reply in Slack thread %s of #%s", parent["ts"], channel["name"])
                else:
                    messages[message["ts"]] = message
        except SlackApiError as exc:
            if error_code(exc) != "thread_not_found":
                raise
            self.stats.skip("thread vanished", item=f"thread {parent['ts']} of #{channel['name']} ({channel['id']})")
            log.info("Slack thread %s in #%s was deleted while syncing", parent["ts"], channel["name"])
            return []
        messages.setdefault(parent["ts"], parent)
        ordered = sorted(messages.values(), key=lambda m: Decimal(m["ts"]))
        return [ordered[0]] + [m for m in ordered[1:] if self._wanted(m)]

    def _wanted(self, message: dict) -> bool:
        if message.get("subtype") in NOISE_SUBTYPES:
            self.stats.skip("channel event")
            return False
        return self.include_bots or not is_bot(message)

    # -- access

    def _access(self, channel: dict) -> tuple[str, tuple[str, ...]]:
        """``("all", ())`` for public channels; private ones list their members' emails."""
        if not channel.get("is_private"):
            return "all", ()
        return self.api.private_access(self.api.members(channel["id"]))


def channel_projects(name: str, project_keys: Iterable[str] = ()) -> tuple[str, ...]:
    """Project keys a channel belongs to.

    With ``project_keys``, every key that is a whole word of the name (words split on ``-``,
    ``_``, ``.``), case-insensitively: #subs-dev, #team-subs -> SUBS. Without, the leading word
    before a hyphen, upper-cased: #bc-billing -> BC; #general -> no project.
    """
    return ProjectTagger(project_keys, fallback=_PREFIX_RULE)(name.upper())
