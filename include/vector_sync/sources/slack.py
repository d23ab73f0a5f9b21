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

Pacing (option ``method_rpm``, default none): Slack limits each Web API method separately, per
workspace and app, in tiers of requests per minute: Tier 2 20+, Tier 3 50+ ("sporadic bursts
are welcome"), Tier 4 100+. For an internal app, the methods read here are
``conversations.history``, ``conversations.replies`` and ``conversations.join``: Tier 3;
``conversations.list``: Tier 2; ``conversations.members`` and ``users.info``: Tier 4.
Commercially distributed apps outside the Marketplace get 1 request/minute on history and
replies (since 2025). ``method_rpm`` maps a method to the requests per minute to hold, e.g.
``{"conversations.history": 50, "conversations.replies": 50}``: one limiter per method (shared
by every thread using the client) spaces that method's requests evenly, so a long sync runs at
the limit instead of bursting into 429s and sleeping ``Retry-After``. It is applied to every
HTTP request the client sends (first pages, the SDK's cursor pages, and retries); the SDK's
429 retry handler stays as the safety net when other clients share the app's quota.
"""

from __future__ import annotations

import logging
import re
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence
from urllib.parse import urlsplit

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import RetryHandler
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)

from vector_sync.config import SourceSettings
from vector_sync.errors import CredentialsError, FatalError
from vector_sync.models import Document, FetchStats, MetadataValue, Segment, Window
from vector_sync.paging import PagingLoopError
from vector_sync.ratelimit import RateLimiter
from vector_sync.slack_text import mrkdwn_to_text
from vector_sync.sources.base import AccessScope, Source

log = logging.getLogger(__name__)

# Page sizes, lookback and prune history: options with their defaults in vector_sync.specs.
_DEFAULT_MAX_RETRIES = 5
_DEFAULT_TIMEOUT_S = 30
# Private channels are listed only when the bot is a member; DMs are never indexed.
_CHANNEL_TYPES = "public_channel,private_channel"
# Subtypes that record channel events rather than conversation.
_NOISE_SUBTYPES = frozenset({
    "channel_join", "channel_leave", "channel_topic", "channel_purpose", "channel_name",
    "channel_archive", "channel_unarchive", "group_join", "group_leave", "group_topic",
    "group_purpose", "group_name", "group_archive", "group_unarchive", "pinned_item",
    "unpinned_item", "bot_add", "bot_remove", "channel_convert_to_private", "channel_posting_permissions",
})
# Errors (HTTP 200, ok: false) that mean the token itself is rejected: retrying cannot help.
_AUTH_ERRORS = frozenset({"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired"})
# Default channel -> project rule when no project keys are configured: "subs-dev" -> SUBS.
_PREFIX_RULE = re.compile(r"^([a-z]+)-")
_MENTION = re.compile(r"<@([UW][A-Z0-9]+)")
_TITLE_CHARS = 80
# The permission pass pages users.list once (200 a request) instead of users.info per person
# when more members than this are unknown: a workspace's people in a few requests.
_USERS_LIST_MIN_UNKNOWN = 20
_USERS_PAGE_SIZE = 200
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def retry_handlers(max_retries: int = _DEFAULT_MAX_RETRIES) -> list[RetryHandler]:
    """The SDK's own retries: 429 (sleeps Retry-After), 500/503, and dropped connections.

    Passing handlers replaces the WebClient's default list, so the connection handler is
    listed again here.
    """
    return [
        ConnectionErrorRetryHandler(max_retry_count=max_retries),
        RateLimitErrorRetryHandler(max_retry_count=max_retries),
        ServerErrorRetryHandler(max_retry_count=max_retries),
    ]


def make_client(
    base_url: str | None,
    token: str,
    *,
    max_retries: int = _DEFAULT_MAX_RETRIES,
    timeout_s: int = _DEFAULT_TIMEOUT_S,
) -> WebClient:
    """A ``WebClient`` for ``base_url`` (e.g. ``https://slack.com/api/``; None: Slack's)."""
    kwargs: dict[str, Any] = {}
    if base_url:
        kwargs["base_url"] = base_url.rstrip("/") + "/"  # the SDK appends the method name
    return WebClient(token=token, timeout=timeout_s, retry_handlers=retry_handlers(max_retries), **kwargs)


class MethodPacer:
    """One ``RateLimiter`` per Web API method, at ``method_rpm[method]`` requests per minute.

    Each limiter spaces its method's requests evenly (burst 1): a server that allows bursts
    is never relied on, and its spare burst absorbs jitter between sending and arrival.
    """

    def __init__(self, method_rpm: Mapping[str, float] | None = None) -> None:
        self.limiters: dict[str, RateLimiter] = {}
        self.configure(method_rpm or {})

    def configure(self, method_rpm: Mapping[str, float]) -> None:
        """Set the rates; a method whose rate is unchanged keeps its limiter (and its schedule)."""
        if not isinstance(method_rpm, Mapping):
            raise ValueError(f"Slack option method_rpm must map a method to requests/minute, not {method_rpm!r}")
        limiters = {}
        for method, rpm in method_rpm.items():
            rate = float(rpm or 0)
            if rate <= 0:
                continue  # null or 0: that method is not paced
            current = self.limiters.get(method)
            same = current is not None and current.rate_per_s == rate / 60.0
            limiters[method] = current if same else RateLimiter(rate / 60.0)
        self.limiters = limiters

    def acquire(self, url: str) -> None:
        """Wait for the slot of the method ``url`` calls (``…/api/conversations.history?…``)."""
        limiter = self.limiters.get(_api_method(url))
        if limiter is not None:
            limiter.acquire()

    @property
    def waited_s(self) -> float:
        return sum(limiter.waited_s for limiter in self.limiters.values())


def pace(client: WebClient, method_rpm: Mapping[str, float] | None) -> MethodPacer:
    """Hold ``client`` to ``method_rpm`` (method -> requests/minute) before every HTTP request.

    The hook is the SDK's per-attempt send, ``_perform_urllib_http_request_internal``: it is
    reached by ``api_call`` (every ``client.<method>()``), by cursor iteration over a response
    (``_request_for_pagination``) and by each retry of the retry handlers, so every request
    that reaches Slack takes a slot. A client is wrapped once; pacing it again (a cached hook
    client reused by another source) only changes the rates.
    """
    pacer = getattr(client, "_vector_sync_pacer", None)
    if isinstance(pacer, MethodPacer):
        pacer.configure(method_rpm or {})
        return pacer
    pacer = MethodPacer(method_rpm)
    send = getattr(client, "_perform_urllib_http_request_internal", None)
    if send is None:  # not a urllib WebClient of slack_sdk 3.x: pace the public entry point only
        log.warning("Slack client %s has no per-request hook: pacing covers api_call only, not cursor pages",
                    type(client).__name__)
        api_call = client.api_call

        def paced_api_call(api_method: str, *args: Any, **kwargs: Any) -> Any:
            pacer.acquire(api_method)
            return api_call(api_method, *args, **kwargs)

        client.api_call = paced_api_call  # type: ignore[method-assign]
    else:

        def paced_send(url: str, req: Any) -> Any:
            pacer.acquire(url)
            return send(url, req)

        client._perform_urllib_http_request_internal = paced_send  # type: ignore[method-assign]
    client._vector_sync_pacer = pacer  # type: ignore[attr-defined]
    return pacer


def _api_method(url: str) -> str:
    """``conversations.history`` from ``https://slack.com/api/conversations.history?limit=…``."""
    return urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]


@contextmanager
def slack_errors(conn_id: str) -> Iterator[None]:
    """Turn a rejected token into ``CredentialsError`` and a missing scope into ``FatalError``."""
    try:
        yield
    except SlackApiError as exc:
        error = _error(exc)
        if error in _AUTH_ERRORS:
            raise CredentialsError(conn_id, "Slack", error) from None
        if error == "missing_scope":
            needed = exc.response.get("needed") or "?"
            raise FatalError(f"The Slack token of connection '{conn_id}' lacks the scope '{needed}'") from None
        raise


def check_credentials(client: WebClient, conn_id: str) -> dict:
    """Call ``auth.test`` once; returns its answer (``url``, ``team_id``, ``user_id``)."""
    with slack_errors(conn_id):
        return dict(client.auth_test().data)


class SlackSource(Source):
    """Threads and messages whose last activity lies in the window, from every readable channel."""

    name = "slack"
    keep_unmapped = True  # general/random carry no project key and stay searchable

    def __init__(self, client: WebClient, settings: SourceSettings, stats: FetchStats | None = None) -> None:
        super().__init__(client, settings, stats)
        self.page_size = int(settings.option("page_size"))
        self.channel_page_size = int(settings.option("channel_page_size"))
        self.lookback = timedelta(days=float(settings.option("lookback_days")))
        self.auto_join = bool(settings.option("auto_join"))
        self.include_bots = bool(settings.option("include_bots"))
        self.project_keys = tuple(settings.option("project_keys") or ())
        self._domain = _domain(settings.option("workspace_domain") or "")
        self.pacer = pace(client, settings.option("method_rpm") or {})
        self._users: dict[str, dict] = {}
        self._users_listed = False
        self._channel_names: dict[str, str] = {}

    # Pruning: channel id -> the channel when readable, None when fetch would read it but the
    # bot cannot without joining (its documents are kept); absent: outside fetch's selection.
    _prune_selection: dict[str, dict | None] | None = None

    def items_in(self, document: Document) -> int:
        """One segment per message: a thread counts its parent and every reply."""
        return max(1, len(document.segments))

    def fetch(self, window: Window) -> Iterator[Document]:
        """Yield every thread or message whose last activity lies in ``[start, end)``."""
        return self.fetch_partition(window, {})

    def partitions(self, window: Window) -> list[dict[str, Any]]:
        """Channels in at most ``max_partitions`` groups (default 4): mapped fetch tasks then
        share a window's channels. Each group re-lists channels, one cheap call."""
        groups = max(1, int(self.settings.option("max_partitions")))
        with slack_errors(self.settings.conn_id):
            listing = self.client.conversations_list(types=_CHANNEL_TYPES, exclude_archived=True, limit=self.channel_page_size)
            ids = sorted(
                c["id"]
                for c in self._items(listing, "channels")
                if isinstance(c, dict) and c.get("id") and not c.get("is_archived")
                and (c.get("is_member") or (self.auto_join and not c.get("is_private")))
            )
        if groups == 1 or len(ids) <= 1:
            return [{}]
        return [{"channels": ids[i::groups]} for i in range(min(groups, len(ids)))]

    def fetch_partition(self, window: Window, partition: dict[str, Any]) -> Iterator[Document]:
        """The documents of the partition's channels (all channels for ``{}``)."""
        wanted = set(partition.get("channels") or ())
        with slack_errors(self.settings.conn_id):
            if not self._domain:
                self._domain = _domain(check_credentials(self.client, self.settings.conn_id).get("url") or "")
            for channel in self._channels():
                if not wanted or channel["id"] in wanted:
                    yield from self._channel_documents(channel, window)
        if self.pacer.limiters:
            log.info("Slack %s: pacing waited %.1f s in all", window, self.pacer.waited_s)

    # -- pruning

    def live_span(self) -> tuple[datetime, datetime] | None:
        """``[listing time - prune_history_days, listing time)``; None when the option is null
        (the whole history is listed)."""
        days = self.settings.option("prune_history_days")
        if days is None:
            return None
        now = self.listing_time()
        return now - timedelta(days=float(days)), now

    def live_ids(self) -> Iterator[str]:
        """``slack:{channel}:{ts}`` of each thread or message posted since the span start minus
        the lookback, in the channels fetch reads: history pages only, no replies or users."""
        span = self.live_span()
        oldest, latest = (span[0] - self.lookback, span[1]) if span else (_EPOCH, self.listing_time())
        with slack_errors(self.settings.conn_id):
            for channel in [c for c in self._prune_channels().values() if c is not None]:
                yield from self._listed_ids(channel, oldest, latest)

    def confirm_gone(self, ids: list[str]) -> list[str]:
        """The ids whose channel fetch no longer reads, or whose message history lacks.

        Each candidate in a readable channel costs one ``conversations.history`` call at exactly
        its ts; ids the API cannot settle (unreadable channel, not a Slack id) are kept.
        """
        gone = []
        with slack_errors(self.settings.conn_id):
            selection = self._prune_channels()
            for doc_id in ids:
                parsed = _parse_id(doc_id)
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
            listing = self.client.conversations_list(types=_CHANNEL_TYPES, exclude_archived=True, limit=self.channel_page_size)
            selection: dict[str, dict | None] = {}
            for channel in self._items(listing, "channels"):
                if not isinstance(channel, dict) or not channel.get("id") or not channel.get("name"):
                    continue
                if channel.get("is_archived"):
                    continue  # excluded by fetch too
                self._channel_names[channel["id"]] = channel["name"]
                if channel.get("is_member"):
                    selection[channel["id"]] = channel
                elif not channel.get("is_private") and self.auto_join:
                    selection[channel["id"]] = None  # fetch joins it; listing it would too
            self._prune_selection = selection
        return self._prune_selection

    def _listed_ids(self, channel: dict, oldest: datetime, latest: datetime) -> Iterator[str]:
        try:
            response = self.client.conversations_history(
                channel=channel["id"], oldest=_ts(oldest), latest=_ts(latest), inclusive=True, limit=self.page_size
            )
            for message in self._items(response, "messages"):
                if _indexed(message, self.include_bots):
                    yield f"slack:{channel['id']}:{message['ts']}"
        except SlackApiError as exc:
            if _error(exc) not in ("not_in_channel", "channel_not_found"):
                raise
            # Listed as readable, refused now (removed meanwhile): keep its documents, unjudged.
            self._prune_channels()[channel["id"]] = None
            log.warning("Slack channel #%s not listed for pruning: %s", channel["name"], _error(exc))

    def _message_exists(self, channel_id: str, ts: str) -> bool:
        """Whether history still has the message ``ts`` (True when the channel refuses: unknown)."""
        try:
            response = self.client.conversations_history(channel=channel_id, oldest=ts, latest=ts, inclusive=True, limit=1)
        except SlackApiError as exc:
            if _error(exc) in ("not_in_channel", "channel_not_found"):
                return True
            raise
        wanted = _decimal(ts)
        return any(isinstance(m, dict) and _decimal(m.get("ts")) == wanted for m in response.get("messages") or [])

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
            listing = self.client.conversations_list(types=_CHANNEL_TYPES, exclude_archived=True, limit=self.channel_page_size)
            channels = [c for c in self._items(listing, "channels")
                        if isinstance(c, dict) and c.get("id") and not c.get("is_archived")]
            members: dict[str, list[str]] = {}
            for channel in channels:
                if channel.get("is_private") and channel.get("is_member"):
                    try:
                        members[channel["id"]] = self._members(channel)
                    except SlackApiError as exc:
                        if _error(exc) not in ("channel_not_found", "not_in_channel"):
                            raise
                        log.warning("Slack channel %s: members unreadable (%s), its documents are restricted", channel["id"], _error(exc))
            self._learn_users(user for ids in members.values() for user in ids)
            for channel in channels:
                where = {"source": "slack", "channel_id": channel["id"]}
                if not channel.get("is_private"):
                    yield AccessScope(channel["id"], "all", (), where)
                elif channel["id"] in members:
                    yield AccessScope(channel["id"], *self._private_access(members[channel["id"]]), where)

    def access_scope_of(self, doc_id: str) -> str | None:
        """The channel of ``slack:{channel}:{ts}``."""
        parsed = _parse_id(doc_id)
        return parsed[0] if parsed else None

    # -- channels

    def _channels(self) -> Iterator[dict]:
        listing = self.client.conversations_list(types=_CHANNEL_TYPES, exclude_archived=True, limit=self.channel_page_size)
        channels = [c for c in self._items(listing, "channels") if isinstance(c, dict) and c.get("id") and c.get("name")]
        self._channel_names.update((c["id"], c["name"]) for c in channels)
        for channel in channels:
            if channel.get("is_archived"):
                continue
            if channel.get("is_member") or self._join(channel):
                yield channel

    def _join(self, channel: dict) -> bool:
        """Join a public channel the bot is not in (``auto_join``); False when it stays out."""
        if channel.get("is_private") or not self.auto_join:
            self.stats.skip("channel not joined")
            log.info("Skipping Slack channel #%s: the bot is not a member (auto_join=%s)", channel["name"], self.auto_join)
            return False
        try:
            self.client.conversations_join(channel=channel["id"])
        except SlackApiError as exc:
            if _error(exc) in _AUTH_ERRORS or _error(exc) == "missing_scope":
                raise
            self.stats.skip("channel not joined")
            log.warning("Skipping Slack channel #%s: join failed (%s)", channel["name"], _error(exc))
            return False
        log.info("Joined Slack channel #%s", channel["name"])
        return True

    def _channel_documents(self, channel: dict, window: Window) -> Iterator[Document]:
        access: tuple[str, tuple[str, ...]] | None = None
        projects = channel_projects(channel["name"], self.project_keys)
        for message in self._history(channel, window.start - self.lookback, window.end):
            last = _last_activity(message)
            if last is None:
                self.stats.skip("malformed message")
                log.warning("Skipping malformed Slack message in #%s: no usable ts", channel["name"])
                continue
            if not window.contains(_time(last)):
                continue  # a parent re-read for the lookback whose thread did not move in this window
            if not self._wanted(message) or message.get("thread_ts", message["ts"]) != message["ts"]:
                continue  # noise, a filtered bot, or a reply broadcast to the channel (part of its thread)
            thread = self._thread(channel, message) if _has_replies(message) else [message]
            if not thread:
                continue
            if access is None:
                access = self._access(channel)
            names = self._names(thread)
            yield _to_document(channel, thread, _time(last), access, projects, self._domain,
                               names.get, self._channel_names.get)

    def _history(self, channel: dict, oldest: datetime, latest: datetime) -> Iterator[dict]:
        # inclusive: oldest <= ts <= latest; the half-open window is applied to last activity.
        kwargs = dict(channel=channel["id"], oldest=_ts(oldest), latest=_ts(latest), inclusive=True, limit=self.page_size)
        try:
            first = self.client.conversations_history(**kwargs)
        except SlackApiError as exc:
            # The listing said member, the API disagrees (removed since): join once and retry.
            if _error(exc) == "not_in_channel" and self._join(channel):
                first = self.client.conversations_history(**kwargs)
            elif _error(exc) in ("not_in_channel", "channel_not_found"):
                self.stats.skip("channel unreadable")
                log.warning("Skipping Slack channel #%s: %s", channel["name"], _error(exc))
                return
            else:
                raise
        yield from self._items(first, "messages")

    def _thread(self, channel: dict, parent: dict) -> list[dict]:
        """The parent and every reply, oldest first (the parent may repeat on each page)."""
        try:
            response = self.client.conversations_replies(channel=channel["id"], ts=parent["ts"], limit=self.page_size)
            messages: dict[str, dict] = {}
            for message in self._items(response, "messages"):
                if _last_activity(message) is None:
                    self.stats.skip("malformed message")
                    log.warning("Skipping malformed reply in Slack thread %s of #%s", parent["ts"], channel["name"])
                else:
                    messages[message["ts"]] = message
        except SlackApiError as exc:
            if _error(exc) != "thread_not_found":
                raise
            self.stats.skip("thread vanished")
            log.info("Slack thread %s in #%s was deleted while syncing", parent["ts"], channel["name"])
            return []
        messages.setdefault(parent["ts"], parent)
        ordered = sorted(messages.values(), key=lambda m: Decimal(m["ts"]))
        return [ordered[0]] + [m for m in ordered[1:] if self._wanted(m)]

    def _wanted(self, message: dict) -> bool:
        if message.get("subtype") in _NOISE_SUBTYPES:
            self.stats.skip("channel event")
            return False
        return self.include_bots or not _is_bot(message)

    # -- people and access

    def _access(self, channel: dict) -> tuple[str, tuple[str, ...]]:
        """``("all", ())`` for public channels; private ones list their members' emails."""
        if not channel.get("is_private"):
            return "all", ()
        return self._private_access(self._members(channel))

    def _members(self, channel: dict) -> list[str]:
        """Member user ids of a channel (``conversations.members``, paged)."""
        members = self.client.conversations_members(channel=channel["id"], limit=self.page_size)
        return [str(user_id) for user_id in self._items(members, "members")]

    def _private_access(self, member_ids: Iterable[str]) -> tuple[str, tuple[str, ...]]:
        """``("private", emails)``: the members' emails, lower-case and sorted; bots, deleted
        users and people without an email grant nothing."""
        emails = set()
        for user_id in member_ids:
            user = self._user(user_id)
            email = (user.get("profile") or {}).get("email")
            if email and not user.get("is_bot") and not user.get("deleted"):
                emails.add(email.strip().lower())
        return "private", tuple(sorted(emails))

    def _learn_users(self, user_ids: Iterable[str]) -> None:
        """Cache every user through ``users.list`` (once) when many of ``user_ids`` are unknown."""
        unknown = {u for u in user_ids if u not in self._users}
        if self._users_listed or len(unknown) <= _USERS_LIST_MIN_UNKNOWN:
            return
        listing = self.client.users_list(limit=_USERS_PAGE_SIZE)
        for user in self._items(listing, "members"):
            if isinstance(user, dict) and user.get("id"):
                self._users[str(user["id"])] = dict(user)
        self._users_listed = True

    def _user(self, user_id: str) -> dict:
        if user_id not in self._users:
            try:
                self._users[user_id] = dict(self.client.users_info(user=user_id).get("user") or {})
            except SlackApiError as exc:
                if _error(exc) != "user_not_found":
                    raise
                self._users[user_id] = {}
        return self._users[user_id]

    def _names(self, messages: Sequence[dict]) -> dict[str, str]:
        """Display names of the authors and mentioned users of ``messages`` (cached per run)."""
        ids = {m["user"] for m in messages if isinstance(m.get("user"), str)}
        ids.update(uid for m in messages for uid in _MENTION.findall(str(m.get("text") or "")))
        return {uid: _user_name(self._user(uid)) or uid for uid in ids}

    # -- paging

    @staticmethod
    def _items(response: Any, key: str) -> Iterator[Any]:
        """Items of every page; the SDK follows ``next_cursor``, this refuses a repeated one."""
        seen: set[str] = set()
        for page in response:
            yield from page.get(key) or []
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if cursor in seen:
                raise PagingLoopError(f"Slack {response.api_url}: cursor {cursor!r} returned twice (loop detected)")
            if cursor:
                seen.add(cursor)


def channel_projects(name: str, project_keys: Iterable[str] = ()) -> tuple[str, ...]:
    """Project keys a channel belongs to.

    With ``project_keys``, every key that is a whole word of the name (words split on ``-``,
    ``_``, ``.``), case-insensitively: #subs-dev, #team-subs -> SUBS. Without, the leading word
    before a hyphen, upper-cased: #bc-billing -> BC; #general -> no project.
    """
    lowered = name.lower()
    if project_keys:
        words = set(re.split(r"[^a-z0-9]+", lowered))
        return tuple(sorted({key.upper() for key in project_keys if key.lower() in words}))
    match = _PREFIX_RULE.match(lowered)
    return (match.group(1).upper(),) if match else ()


def permalink(domain: str, channel_id: str, ts: str) -> str:
    """Slack's message link: ``https://{domain}/archives/{channel}/p{ts without the dot}``."""
    return f"https://{domain}/archives/{channel_id}/p{ts.replace('.', '')}"


def _to_document(
    channel: Mapping[str, Any],
    thread: Sequence[dict],
    last_activity: datetime,
    access: tuple[str, tuple[str, ...]],
    projects: tuple[str, ...],
    domain: str,
    user_name: Callable[[str], str | None],
    channel_name: Callable[[str], str | None],
) -> Document:
    """One thread (parent first) or single message as a document."""
    parent = thread[0]
    segments = tuple(
        Segment(_line(message, user_name, channel_name), {"message_ts": message["ts"]}) for message in thread
    )
    author_id, author = _author(parent, user_name)
    first_line = mrkdwn_to_text(parent.get("text"), user_name, channel_name).split("\n", 1)[0]
    first_line = first_line or next((f.get("name", "") for f in parent.get("files") or [] if isinstance(f, dict)), "")
    title = f"#{channel['name']}: {first_line[:_TITLE_CHARS]}" if first_line else f"#{channel['name']}"
    url = permalink(domain, channel["id"], parent["ts"])
    access_type, access_list = access
    reply_count = parent.get("reply_count") if isinstance(parent.get("reply_count"), int) else len(thread) - 1
    metadata: dict[str, MetadataValue] = {
        "source": "slack",
        "channel_id": channel["id"],
        "channel_name": channel["name"],
        "user_id": author_id,
        "user_name": author,
        "thread_ts": parent["ts"],
        "reply_count": reply_count,
        "timestamp_epoch": int(last_activity.timestamp()),
        "permalink": url,
        "access_type": access_type,
        "access_list": list(access_list),
    }
    return Document(
        id=f"slack:{channel['id']}:{parent['ts']}",
        source="slack",
        title=title,
        text="\n".join(s.text for s in segments),
        url=url,
        updated_at=last_activity,
        projects=projects,
        access_type=access_type,
        access_list=access_list,
        metadata=metadata,
        segments=segments,
    )


def _line(message: dict, user_name: Callable[[str], str | None], channel_name: Callable[[str], str | None]) -> str:
    """``Name (YYYY-MM-DD HH:MM): text [file: …] [attachment: …]``."""
    _, author = _author(message, user_name)
    parts = [mrkdwn_to_text(message.get("text"), user_name, channel_name)]
    for file in message.get("files") or []:
        if isinstance(file, dict) and (file.get("name") or file.get("title")):
            parts.append(f"[file: {file.get('name') or file.get('title')}]")
    for attachment in message.get("attachments") or []:
        if isinstance(attachment, dict):
            body = " - ".join(str(attachment[k]) for k in ("title", "text") if attachment.get(k))
            if body:
                parts.append(f"[attachment: {mrkdwn_to_text(body, user_name, channel_name)}]")
    stamp = _time(Decimal(message["ts"])).strftime("%Y-%m-%d %H:%M")
    edited = " (edited)" if isinstance(message.get("edited"), dict) else ""
    return f"{author} ({stamp}){edited}: {' '.join(p for p in parts if p)}"


def _author(message: dict, user_name: Callable[[str], str | None]) -> tuple[str, str]:
    """(id, name) of who posted: a user, or a bot integration (bot_message has no user)."""
    user_id = message.get("user")
    if isinstance(user_id, str) and user_id:
        return user_id, user_name(user_id) or user_id
    bot_id = str(message.get("bot_id") or "")
    name = message.get("username") or (message.get("bot_profile") or {}).get("name") or bot_id or "unknown"
    return bot_id, str(name)


def _user_name(user: Mapping[str, Any]) -> str:
    profile = user.get("profile") or {}
    return str(user.get("real_name") or profile.get("real_name") or profile.get("display_name") or user.get("name") or "")


def _is_bot(message: dict) -> bool:
    return message.get("subtype") == "bot_message" or bool(message.get("bot_id"))


def _indexed(message: Any, include_bots: bool) -> bool:
    """Whether fetch makes a document of this history entry (``fetch``'s filters, uncounted)."""
    return (
        _last_activity(message) is not None
        and message.get("subtype") not in _NOISE_SUBTYPES
        and (include_bots or not _is_bot(message))
        and message.get("thread_ts", message["ts"]) == message["ts"]  # not a reply broadcast to the channel
    )


def _parse_id(doc_id: str) -> tuple[str, str] | None:
    """(channel, ts) of ``slack:{channel}:{ts}``; None for anything else."""
    prefix, _, rest = doc_id.partition(":")
    channel_id, _, ts = rest.partition(":")
    if prefix != "slack" or not channel_id or _decimal(ts) is None:
        return None
    return channel_id, ts


def _has_replies(message: dict) -> bool:
    return message.get("thread_ts") == message["ts"] and (bool(message.get("reply_count")) or bool(message.get("latest_reply")))


def _last_activity(message: Any) -> Decimal | None:
    """max(ts, latest_reply, edited.ts) as epoch seconds; None for a message without a ts."""
    if not isinstance(message, dict) or _decimal(message.get("ts")) is None:
        return None
    edited = message.get("edited") if isinstance(message.get("edited"), dict) else {}
    stamps = (_decimal(message.get("ts")), _decimal(message.get("latest_reply")), _decimal(edited.get("ts")))
    return max(s for s in stamps if s is not None)


def _decimal(value: Any) -> Decimal | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        number = Decimal(value)
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _time(ts: Decimal) -> datetime:
    """A Slack ts (epoch seconds, 6 decimals) as an exact UTC datetime."""
    return _EPOCH + timedelta(microseconds=int(ts * 1_000_000))


def _ts(moment: datetime) -> str:
    """A datetime as Slack's ts string, exact to the microsecond (no float rounding)."""
    delta = moment - _EPOCH
    return f"{delta.days * 86400 + delta.seconds}.{delta.microseconds:06d}"


def _domain(url: str) -> str:
    """``lumenharbor.slack.com`` from that or from ``https://lumenharbor.slack.com/``."""
    url = url.strip()
    return (urlsplit(url).netloc if "://" in url else url).strip("/")


def _error(exc: SlackApiError) -> str:
    response = getattr(exc, "response", None)
    return str(response.get("error") or "") if response is not None else ""
