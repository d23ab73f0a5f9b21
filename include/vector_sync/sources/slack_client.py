"""The Slack ``WebClient`` as the source uses it: the SDK's retry handlers, per-method pacing
through the public ``retry_handlers`` list, and a rejected token as ``CredentialsError``.

Pacing (option ``method_rpm``, default none): Slack limits each Web API method separately, per
workspace and app, in tiers of requests per minute: Tier 2 20+, Tier 3 50+ ("sporadic bursts
are welcome"), Tier 4 100+. For an internal app, the methods read here are
``conversations.history``, ``conversations.replies`` and ``conversations.join``: Tier 3;
``conversations.list``: Tier 2; ``conversations.members`` and ``users.info``: Tier 4.
Commercially distributed apps outside the Marketplace get 1 request/minute on history and
replies (since 2025). ``method_rpm`` maps a method to the requests per minute to hold, e.g.
``{"conversations.history": 50, "conversations.replies": 50}``: one limiter per method (shared
by every thread using the client) spaces that method's requests evenly, so a long sync runs at
the limit instead of bursting into 429s and sleeping ``Retry-After``.

The limiters live in ``MethodPacer``, the client's 429 handler (a ``RateLimitErrorRetryHandler``
in the SDK's public ``retry_handlers``): the source takes a slot before every request it
sends, first pages and cursor pages alike, and every retry (429, 5xx, a dropped connection)
takes one after its handler's wait.
The SDK's handler stays the safety net when other clients share the app's quota.
``SlackReader`` is how the source calls: paced, cursor pages followed, people cached.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import RetryHandler
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)

from vector_sync.errors import FatalError
from vector_sync.paging import PagingLoopError
from vector_sync.ratelimit import RateLimiter
from vector_sync.sources.auth import credentials_checked
from vector_sync.sources.slack_messages import display_name

DEFAULT_MAX_RETRIES = 5
DEFAULT_TIMEOUT_S = 30
_MENTION = re.compile(r"<@([UW][A-Z0-9]+)")
# The permission pass pages users.list once (200 a request) instead of users.info per person
# when more members than this are unknown: a workspace's people in a few requests.
_USERS_LIST_MIN_UNKNOWN = 20
_USERS_PAGE_SIZE = 200


class _PacedRetries:
    """A retry handler whose retries, after its own wait, take their method's pacing slot."""

    pacer: MethodPacer | None = None

    def prepare_for_next_attempt(self, *, state: Any, request: Any, response: Any = None, error: Any = None) -> None:
        super().prepare_for_next_attempt(state=state, request=request, response=response, error=error)  # type: ignore[misc]
        if self.pacer is not None:
            self.pacer.acquire(api_method(request.url))


class PacedServerErrorRetryHandler(_PacedRetries, ServerErrorRetryHandler):
    """The SDK's 500/503 retries, paced."""


class PacedConnectionErrorRetryHandler(_PacedRetries, ConnectionErrorRetryHandler):
    """The SDK's retries of a dropped connection, paced."""


class MethodPacer(RateLimitErrorRetryHandler):
    """The SDK's 429 handler (sleeps ``Retry-After``) holding one ``RateLimiter`` per Web API
    method, at ``method_rpm[method]`` requests per minute.

    Each limiter spaces its method's requests evenly (burst 1): a server that allows bursts
    is never relied on, and its spare burst absorbs jitter between sending and arrival.
    """

    def __init__(self, max_retry_count: int = DEFAULT_MAX_RETRIES, method_rpm: Mapping[str, float] | None = None) -> None:
        super().__init__(max_retry_count=max_retry_count)
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

    def acquire(self, method: str) -> None:
        """Wait for the next slot of ``method`` (``conversations.history``)."""
        limiter = self.limiters.get(method)
        if limiter is not None:
            limiter.acquire()

    def prepare_for_next_attempt(self, *, state: Any, request: Any, response: Any = None, error: Any = None) -> None:
        """After the SDK's ``Retry-After`` sleep, the retry takes its method's slot too."""
        super().prepare_for_next_attempt(state=state, request=request, response=response, error=error)
        self.acquire(api_method(request.url))

    def pace_retries_of(self, handlers: list[RetryHandler]) -> None:
        """Let the client's other handlers' retries (5xx, dropped connections) take a slot too."""
        for handler in handlers:
            if isinstance(handler, _PacedRetries):
                handler.pacer = self

    @property
    def waited_s(self) -> float:
        return sum(limiter.waited_s for limiter in self.limiters.values())


def retry_handlers(max_retries: int = DEFAULT_MAX_RETRIES) -> list[RetryHandler]:
    """The SDK's own retries: 429 (sleeps Retry-After, paced), 500/503, and dropped connections.

    Passing handlers replaces the WebClient's default list, so the connection handler is
    listed again here.
    """
    return [
        PacedConnectionErrorRetryHandler(max_retry_count=max_retries),
        MethodPacer(max_retry_count=max_retries),
        PacedServerErrorRetryHandler(max_retry_count=max_retries),
    ]


def make_client(
    base_url: str | None,
    token: str,
    *,
    max_retries: int = DEFAULT_MAX_RETRIES,
    timeout_s: int = DEFAULT_TIMEOUT_S,
) -> WebClient:
    """A ``WebClient`` for ``base_url`` (e.g. ``https://slack.com/api/``; None: Slack's)."""
    kwargs: dict[str, Any] = {}
    if base_url:
        kwargs["base_url"] = base_url.rstrip("/") + "/"  # the SDK appends the method name
    return WebClient(token=token, timeout=timeout_s, retry_handlers=retry_handlers(max_retries), **kwargs)


def pace(client: WebClient, method_rpm: Mapping[str, float] | None) -> MethodPacer:
    """The client's ``MethodPacer`` set to ``method_rpm`` (method -> requests/minute).

    A client built elsewhere (a provider hook's) gets one in place of its plain 429 handler,
    with the same retry count; pacing a client again only changes the rates.
    """
    handlers = client.retry_handlers
    pacer = next((h for h in handlers if isinstance(h, MethodPacer)), None)
    if pacer is not None:
        pacer.configure(method_rpm or {})
    else:
        plain = next((i for i, h in enumerate(handlers) if isinstance(h, RateLimitErrorRetryHandler)), None)
        if plain is None:
            pacer = MethodPacer(method_rpm=method_rpm)
            handlers.insert(0, pacer)
        else:
            pacer = handlers[plain] = MethodPacer(handlers[plain].max_retry_count, method_rpm)
    pacer.pace_retries_of(handlers)
    return pacer


def api_method(url: str) -> str:
    """``conversations.history`` from ``https://slack.com/api/conversations.history?limit=…``."""
    return urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]


def error_code(exc: SlackApiError) -> str:
    """The ``error`` of an ``ok: false`` answer (``not_in_channel``, ``invalid_auth``...)."""
    response = getattr(exc, "response", None)
    return str(response.get("error") or "") if response is not None else ""


@contextmanager
def slack_errors(conn_id: str) -> Iterator[None]:
    """Turn a rejected token into ``CredentialsError`` and a missing scope into ``FatalError``."""
    try:
        with credentials_checked(conn_id, "Slack", SlackApiError, lambda exc: (None, error_code(exc), error_code(exc))):
            yield
    except SlackApiError as exc:
        if error_code(exc) == "missing_scope":
            needed = exc.response.get("needed") or "?"
            raise FatalError(f"The Slack token of connection '{conn_id}' lacks the scope '{needed}'") from None
        raise


def check_credentials(client: WebClient, conn_id: str) -> dict:
    """Call ``auth.test`` once; returns its answer (``url``, ``team_id``, ``user_id``)."""
    with slack_errors(conn_id):
        return dict(client.auth_test().data)


class SlackReader:
    """The Web API as the source reads it: each call paced (``MethodPacer``), cursor pages
    followed, people looked up once per run."""

    def __init__(self, client: WebClient, pacer: MethodPacer, page_size: int) -> None:
        self.client, self.pacer, self.page_size = client, pacer, page_size
        self._users: dict[str, dict] = {}
        self._users_listed = False

    def call(self, method: str, **kwargs: Any) -> Any:
        """One Web API call, after its method's pacing slot (``method_rpm``)."""
        self.pacer.acquire(method)
        return getattr(self.client, method.replace(".", "_"))(**kwargs)

    def items(self, response: Any, key: str) -> Iterator[Any]:
        """Items of every page; the SDK follows ``next_cursor`` (each page paced like its first),
        this refuses a repeated one."""
        seen: set[str] = set()
        for page in response:
            yield from page.get(key) or []
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if cursor in seen:
                raise PagingLoopError(f"Slack {response.api_url}: cursor {cursor!r} returned twice (loop detected)")
            if cursor:
                seen.add(cursor)
                self.pacer.acquire(api_method(response.api_url))

    def members(self, channel_id: str) -> list[str]:
        """Member user ids of a channel (``conversations.members``, paged)."""
        members = self.call("conversations.members", channel=channel_id, limit=self.page_size)
        return [str(user_id) for user_id in self.items(members, "members")]

    def private_access(self, member_ids: Iterable[str]) -> tuple[str, tuple[str, ...]]:
        """``("private", emails)``: the members' emails, lower-case and sorted; bots, deleted
        users and people without an email grant nothing."""
        emails = set()
        for user_id in member_ids:
            user = self.user(user_id)
            email = (user.get("profile") or {}).get("email")
            if email and not user.get("is_bot") and not user.get("deleted"):
                emails.add(email.strip().lower())
        return "private", tuple(sorted(emails))

    def learn_users(self, user_ids: Iterable[str]) -> None:
        """Cache every user through ``users.list`` (once) when many of ``user_ids`` are unknown."""
        unknown = {u for u in user_ids if u not in self._users}
        if self._users_listed or len(unknown) <= _USERS_LIST_MIN_UNKNOWN:
            return
        listing = self.call("users.list", limit=_USERS_PAGE_SIZE)
        for user in self.items(listing, "members"):
            if isinstance(user, dict) and user.get("id"):
                self._users[str(user["id"])] = dict(user)
        self._users_listed = True

    def user(self, user_id: str) -> dict:
        if user_id not in self._users:
            try:
                self._users[user_id] = dict(self.call("users.info", user=user_id).get("user") or {})
            except SlackApiError as exc:
                if error_code(exc) != "user_not_found":
                    raise
                self._users[user_id] = {}
        return self._users[user_id]

    def names(self, messages: Sequence[dict]) -> dict[str, str]:
        """Display names of the authors and mentioned users of ``messages`` (cached per run)."""
        ids = {m["user"] for m in messages if isinstance(m.get("user"), str)}
        ids.update(uid for m in messages for uid in _MENTION.findall(str(m.get("text") or "")))
        return {uid: display_name(self.user(uid)) or uid for uid in ids}
