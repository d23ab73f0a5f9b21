"""Slack Web API simulator and the sample workspace's Slack data.

Speaks the Web API's dialect (api-facts.md): every method under ``/api/<method>`` by GET or
POST (query string, form or JSON), errors as HTTP 200 ``{"ok": false, "error": ...}``,
cursors in ``response_metadata.next_cursor`` ("" on the last page), 429 ``ratelimited`` with
Retry-After, ``not_in_channel`` until the bot joins, ``invalid_auth`` for a wrong token. The
``slack_sdk`` ``WebClient`` reaches it with ``base_url=<sandbox>/slack/api/``.

Besides reading, it accepts ``chat.postMessage`` and one incoming webhook (``WEBHOOK_PATH``)
and records what was posted in ``simulator.posted`` (alerting tests read it). Posts are not
added to channel history. People's activity is: ``post_message`` (a new message or thread
reply) and ``edit_message`` change this simulator's own copy of the sample, so history and
replies then show them as Slack does (a reply moves its parent's ``reply_count`` and
``latest_reply``; an edit carries ``edited {user, ts}``); ``sandbox.webhooks`` sends the events.

Sample sizes: ``MESSAGES_PER_SCALE * ws.scale`` messages in all (replies and noise included),
``THREADS_PER_SCALE * ws.scale`` threads, over ``channel_count(ws.scale)`` channels. The
benchmark's 20,000 messages, 2,000 threads and 50 channels is ``Workspace(scale=50)``.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

from sandbox.server import Request, Response, Simulator, route
from sandbox.workspace import COMPANY, Workspace

TEAM_ID = "T0LUMEN01"
DOMAIN = "lumenharbor.slack.com"
BOT_USER_ID = "U0VSYNCBOT"
BOT_ID = "B0VSYNCBOT"
APP_ID = "A0VSYNC001"
DEPLOY_BOT_ID = "B0DEPLOY01"  # an integration posting bot_message subtype messages
# Incoming webhooks post to https://hooks.slack.com/services/T…/B…/<secret>; the sandbox
# serves the same path below its prefix. The webhook posts into #alerts.
WEBHOOK_PATH = f"/services/{TEAM_ID}/B0ALERTS01/sandboxwebhooksecret"

MESSAGES_PER_SCALE = 400
THREADS_PER_SCALE = 40
MAX_CHANNELS = 50

# Page size caps and defaults per method (limits above the cap are clamped).
_LIST_LIMIT_CAP = 999  # conversations.list: limit < 1000
_HISTORY_LIMIT_CAP = 999
_REPLIES_LIMIT_CAP = 1000
_DEFAULT_LIMIT = 100

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


@dataclass(frozen=True)
class _ChannelSpec:
    id: str
    name: str
    is_private: bool = False
    is_archived: bool = False
    bot_member: bool = True
    topic: str = ""


# The scripted channels; extra "squad" channels are added with scale (see channel_count).
_BASE_CHANNELS = (
    _ChannelSpec("C0GENERAL", "general", topic="Company-wide announcements"),
    _ChannelSpec("C0RANDOM", "random", bot_member=False),  # the bot must join
    _ChannelSpec("C0SUBSDEV", "subs-dev", topic="Subscriptions engineering"),
    _ChannelSpec("C0BCBILL", "bc-billing", bot_member=False),  # the bot must join
    _ChannelSpec("C0ARCHMIG", "arch-migration"),  # ARCH is an inactive project
    _ChannelSpec("C0SUBSLEAD", "subs-leads", is_private=True),
    _ChannelSpec("C0BCEXEC", "bc-exec", is_private=True, bot_member=False),  # invisible to the bot
    _ChannelSpec("C0LAUNCH25", "launch-2025", is_archived=True),
    _ChannelSpec("C0ALERTS", "alerts", topic="vector-sync alerts"),  # stays empty
)
_PRIVATE_MEMBERS = {"C0SUBSLEAD": range(0, 4), "C0BCEXEC": range(4, 8)}  # indexes into ws.people
_EXTRA_PREFIXES = ("subs-squad", "bc-squad", "arch-squad", "social")

_TOPICS = (
    "renewal emails",
    "the invoice export",
    "proration rules",
    "the billing console login",
    "the nightly import",
    "retry policy",
    "the data migration",
    "card updates",
    "tax rounding",
    "the onboarding flow",
    "webhook signatures",
    "the release checklist",
)
_OPENERS = (
    "Can someone look at {t}?",
    "Quick update on {t}: it is in review.",
    "I think {t} needs another pass before Friday.",
    "Heads-up: {t} is blocked on QA.",
    "Merged the fix for {t}.",
    "Who owns {t} this sprint?",
    "Notes from today's sync on {t}.",
    "Draft for {t} is in the doc, comments welcome.",
)
_REPLIES = (
    "On it.",
    "Looks good to me.",
    "I can pair on this after lunch.",
    "Added a test for that case.",
    "The staging run passed.",
    "Let's discuss at stand-up.",
    "Fixed, please re-check.",
    "I left two comments on the PR.",
    "Thanks, closing this out.",
    "Still seeing it on staging.",
)
_FILES = (
    ("invoice-template.pdf", "Invoice template", "application/pdf", "pdf", "PDF"),
    ("renewal-flow.png", "Renewal flow", "image/png", "png", "PNG"),
    ("migration-plan.xlsx", "Migration plan", "application/vnd.ms-excel", "xlsx", "Excel Spreadsheet"),
)


def channel_count(scale: int) -> int:
    """Channels in the sample: the scripted ones, plus one per scale step beyond 1, up to 50."""
    return min(MAX_CHANNELS, len(_BASE_CHANNELS) + max(1, scale) - 1)


def ts_of(moment: datetime) -> str:
    """Slack's ``ts`` for an instant: epoch seconds with six decimals."""
    delta = moment - _EPOCH
    return f"{delta.days * 86400 + delta.seconds}.{delta.microseconds:06d}"


def ts_time(ts: str) -> datetime:
    seconds, _, micros = ts.partition(".")
    return _EPOCH + timedelta(seconds=int(seconds), microseconds=int(micros or 0))


@dataclass
class SlackData:
    """Everything the simulator serves; shared read-only by every simulator instance."""

    users: dict[str, dict]
    channels: list[dict]  # channel objects as conversations.list shows them, without is_member
    members: dict[str, list[str]]  # channel id -> member user ids (the bot where it starts as one)
    history: dict[str, list[dict]]  # channel id -> top-level messages and thread parents, oldest first
    replies: dict[tuple[str, str], list[dict]]  # (channel, thread_ts) -> replies, oldest first
    scenarios: dict[str, dict] = field(default_factory=dict)  # named scripted items for tests
    _keys: dict[str, list[Decimal]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._keys = {cid: [Decimal(m["ts"]) for m in msgs] for cid, msgs in self.history.items()}

    def channel(self, id_or_name: str) -> dict | None:
        name = id_or_name.lstrip("#")
        return next((c for c in self.channels if c["id"] == id_or_name or c["name"] == name), None)

    def between(self, channel_id: str, low: Decimal, high: Decimal | None, inclusive: bool) -> list[dict]:
        """Top-level messages with low < ts < high (<= with ``inclusive``), oldest first."""
        keys = self._keys.get(channel_id, [])
        start = (bisect.bisect_left if inclusive else bisect.bisect_right)(keys, low)
        stop = len(keys) if high is None else (bisect.bisect_right if inclusive else bisect.bisect_left)(keys, high)
        return self.history.get(channel_id, [])[start:stop]

    def message(self, channel_id: str, ts: str) -> dict | None:
        keys = self._keys.get(channel_id, [])
        try:
            i = bisect.bisect_left(keys, Decimal(ts))
        except InvalidOperation:
            return None
        if i < len(keys) and keys[i] == Decimal(ts):
            return self.history[channel_id][i]
        return None

    def message_count(self) -> int:
        return sum(map(len, self.history.values())) + sum(map(len, self.replies.values()))

    def copy(self) -> SlackData:
        """A copy whose message lists can change without touching this one (messages are
        replaced, never changed in place, so the message dicts stay shared)."""
        return SlackData(
            users=self.users,
            channels=self.channels,
            members=self.members,
            history={cid: list(msgs) for cid, msgs in self.history.items()},
            replies={key: list(msgs) for key, msgs in self.replies.items()},
            scenarios=self.scenarios,
        )

    def put(self, channel_id: str, message: dict) -> None:
        """Add a top-level message, or replace the one with its ts."""
        keys, history = self._keys.setdefault(channel_id, []), self.history.setdefault(channel_id, [])
        key = Decimal(message["ts"])
        i = bisect.bisect_left(keys, key)
        if i < len(keys) and keys[i] == key:
            history[i] = message
        else:
            keys.insert(i, key)
            history.insert(i, message)

    def taken(self, channel_id: str, ts: str) -> bool:
        """Whether ``ts`` names a message or reply of the channel already (ts is unique per channel)."""
        if self.message(channel_id, ts) is not None:
            return True
        return any(r["ts"] == ts for (cid, _), msgs in self.replies.items() if cid == channel_id for r in msgs)


# ------------------------------------------------------------------ generation


def generate(ws: Workspace) -> SlackData:
    """Deterministic Slack data for ``ws`` (see the module docstring for the sizes)."""
    return _Generator(ws).run()


class _Generator:
    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self.rng = ws.rng("slack")
        self.scale = max(1, ws.scale)
        self.people = ws.people
        self.specs = list(_BASE_CHANNELS) + [
            _ChannelSpec(f"C0X{n:06d}", f"{_EXTRA_PREFIXES[n % 4]}-{n}" if n % 4 != 3 else f"social_{n}", bot_member=n % 5 != 0)
            for n in range(1, channel_count(self.scale) - len(_BASE_CHANNELS) + 1)
        ]
        self.members = {s.id: self._members(s) for s in self.specs}
        self.history: dict[str, dict[str, dict]] = {s.id: {} for s in self.specs}
        self.replies: dict[tuple[str, str], list[dict]] = {}
        self.scenarios: dict[str, dict] = {}
        self.total = 0
        self.threads = 0

    def _members(self, spec: _ChannelSpec) -> list[str]:
        indexes = _PRIVATE_MEMBERS.get(spec.id, range(len(self.people)))
        ids = [self.people[i].slack_id for i in indexes if i < len(self.people)]
        return ids + ([BOT_USER_ID] if spec.bot_member else [])

    def run(self) -> SlackData:
        self._scripted()
        # Content channels: everything but the empty alerts channel.
        content = [s for s in self.specs if s.id != "C0ALERTS"]
        readable = [s for s in content if not s.is_archived and (not s.is_private or s.bot_member)]
        anchor = self.ws.anchor
        # Activity in each of the last eight 15-minute intervals, so every recent window has work.
        for k in range(8):
            spec = readable[k % len(readable)]
            self._single(spec, anchor - timedelta(minutes=15 * (k + 1)) + timedelta(seconds=self.rng.uniform(1, 840)))
        target_threads = THREADS_PER_SCALE * self.scale
        target_total = MESSAGES_PER_SCALE * self.scale
        while self.threads < target_threads:
            self._thread(self.rng.choice(content), self._random_time(hours_before_anchor=1), self.rng.randint(1, 5))
        while self.total < target_total:
            self._single(self.rng.choice(content), self._random_time())
        return SlackData(
            users=self._users(),
            channels=[self._channel(s) for s in self.specs],
            members=self.members,
            history={cid: sorted(msgs.values(), key=lambda m: Decimal(m["ts"])) for cid, msgs in self.history.items()},
            replies=self.replies,
            scenarios=self.scenarios,
        )

    # -- scripted items the tests name

    def _scripted(self) -> None:
        anchor = self.ws.anchor
        p = self.people
        late = self._thread(
            _spec("C0SUBSDEV"),
            anchor - timedelta(days=2),
            2,
            author=p[0].slack_id,
            text="Renewal emails go out twice for annual plans. Any idea why?",
        )
        reply = self._reply(
            _spec("C0SUBSDEV"),
            late,
            anchor - timedelta(minutes=50) + timedelta(seconds=7),
            p[1].slack_id,
            "Found it late: the retry job re-sends after a timeout.",
        )
        self.scenarios["late_reply"] = {"channel": "C0SUBSDEV", "thread_ts": late["ts"], "reply_ts": reply["ts"]}

        edited = self._single(_spec("C0BCBILL"), anchor - timedelta(days=1), author=p[2].slack_id, text="Invoice export runs at 02:00 UTC.")
        edited["edited"] = {"user": p[2].slack_id, "ts": ts_of(anchor - timedelta(minutes=40) + timedelta(seconds=3))}
        edited["text"] = "Invoice export runs at 03:00 UTC now (moved after the tax job)."
        self.scenarios["edit"] = {"channel": "C0BCBILL", "ts": edited["ts"], "edited_ts": edited["edited"]["ts"]}

        edge = self._single(_spec("C0GENERAL"), anchor - timedelta(minutes=30), author=p[3].slack_id, text="Office is closed on Monday.")
        self.scenarios["edge"] = {"channel": "C0GENERAL", "ts": edge["ts"]}

        mention = self._single(
            _spec("C0SUBSDEV"),
            anchor - timedelta(minutes=20) + timedelta(seconds=11),
            author=p[4].slack_id,
            text=f"<@{p[5].slack_id}> can you review <#C0BCBILL|bc-billing>? Spec: "
            f"<https://docs.example.com/subs/renewals|renewal spec> &amp; <mailto:{p[5].email}|{p[5].email}> <!here>",
        )
        self.scenarios["mention"] = {"channel": "C0SUBSDEV", "ts": mention["ts"], "user": p[5].slack_id}

        bot = self._single(_spec("C0GENERAL"), anchor - timedelta(minutes=25) + timedelta(seconds=5), bot=True)
        self.scenarios["bot"] = {"channel": "C0GENERAL", "ts": bot["ts"]}

        file_msg = self._single(
            _spec("C0BCBILL"),
            anchor - timedelta(minutes=10) + timedelta(seconds=2),
            author=p[6].slack_id,
            text="Updated template attached.",
            files=True,
        )
        self.scenarios["file"] = {"channel": "C0BCBILL", "ts": file_msg["ts"], "name": file_msg["files"][0]["name"]}

        join = self._single(_spec("C0SUBSDEV"), anchor - timedelta(minutes=22), author=p[7].slack_id, noise="channel_join")
        topic = self._single(_spec("C0GENERAL"), anchor - timedelta(minutes=18), author=p[3].slack_id, noise="channel_topic")
        self.scenarios["noise"] = {"items": [("C0SUBSDEV", join["ts"]), ("C0GENERAL", topic["ts"])]}

        private = self._thread(
            _spec("C0SUBSLEAD"),
            anchor - timedelta(minutes=35),
            0,
            author=p[0].slack_id,
            text="Pricing change for annual plans: confidential until the board meets.",
        )
        for minutes, who in ((33, 1), (28, 2)):
            self._reply(_spec("C0SUBSLEAD"), private, anchor - timedelta(minutes=minutes), p[who].slack_id, self.rng.choice(_REPLIES))
        self.scenarios["private_thread"] = {"channel": "C0SUBSLEAD", "thread_ts": private["ts"]}

        long = self._thread(
            _spec("C0ARCHMIG"),
            anchor - timedelta(hours=3),
            0,
            author=p[8].slack_id,
            text="Cut-over checklist for the archive migration, one item per reply.",
        )
        for i in range(7):
            self._reply(
                _spec("C0ARCHMIG"),
                long,
                anchor - timedelta(hours=3) + timedelta(minutes=5 * (i + 1)),
                p[(9 + i) % len(p)].slack_id,
                f"Step {i + 1}: {self.rng.choice(_REPLIES)}",
            )
        self.scenarios["long_thread"] = {"channel": "C0ARCHMIG", "thread_ts": long["ts"], "replies": 7}

    # -- building blocks

    def _random_time(self, hours_before_anchor: float = 0) -> datetime:
        span_s = (self.ws.anchor - self.ws.start).total_seconds() - hours_before_anchor * 3600
        return self.ws.start + timedelta(seconds=self.rng.uniform(0, span_s))

    def _author(self, spec: _ChannelSpec) -> str:
        return self.rng.choice([m for m in self.members[spec.id] if m != BOT_USER_ID])

    def _text(self) -> str:
        text = self.rng.choice(_OPENERS).format(t=self.rng.choice(_TOPICS))
        roll = self.rng.random()
        if roll < 0.12:
            text = f"<@{self.rng.choice(self.people).slack_id}> {text}"
        elif roll < 0.18:
            text += " Details: <https://jira.example.com/browse/SUBS-42|SUBS-42>"
        return text

    def _place(self, spec: _ChannelSpec, moment: datetime, message: dict) -> dict:
        """Give ``message`` a ts unique in its channel (bumping by a microsecond on a clash)."""
        moment = min(moment, self.ws.anchor - timedelta(seconds=1))
        ts = ts_of(moment)
        while ts in self.history[spec.id]:
            moment += timedelta(microseconds=1)
            ts = ts_of(moment)
        message["ts"] = ts
        self.history[spec.id][ts] = message
        self.total += 1
        return message

    def _single(
        self,
        spec: _ChannelSpec,
        moment: datetime,
        *,
        author: str | None = None,
        text: str | None = None,
        bot: bool = False,
        noise: str | None = None,
        files: bool = False,
    ) -> dict:
        roll = self.rng.random()
        if noise is None and not bot and text is None:  # random traffic: a little of everything
            noise = "channel_join" if 0.04 <= roll < 0.06 else "channel_leave" if 0.06 <= roll < 0.08 else None
            bot, files = roll < 0.04, 0.08 <= roll < 0.11
        if bot:
            return self._place(spec, moment, _bot_message(len(self.history[spec.id])))
        user = author or self._author(spec)
        if noise:
            return self._place(spec, moment, _noise_message(noise, user, spec))
        message = {"type": "message", "user": user, "text": text if text is not None else self._text(), "team": TEAM_ID}
        if files:
            message["files"] = [_file(self.rng, user, moment)]
        message = self._place(spec, moment, message)
        if text is None and self.rng.random() < 0.08:  # edited later, still before the anchor
            edit_at = min(ts_time(message["ts"]) + timedelta(minutes=self.rng.uniform(1, 1440)), self.ws.anchor - timedelta(seconds=1))
            message["edited"] = {"user": user, "ts": ts_of(edit_at)}
        return message

    def _thread(self, spec: _ChannelSpec, moment: datetime, replies: int, *, author: str | None = None, text: str | None = None) -> dict:
        user = author or self._author(spec)
        parent = self._place(
            spec, moment, {"type": "message", "user": user, "text": text or self._text(), "team": TEAM_ID, "thread_ts": ""}
        )
        parent["thread_ts"] = parent["ts"]
        self.replies[(spec.id, parent["ts"])] = []
        self.threads += 1
        room_s = (self.ws.anchor - ts_time(parent["ts"])).total_seconds() - 1
        for offset_s in sorted(self.rng.uniform(1, min(6 * 3600, room_s)) for _ in range(replies)):
            self._reply(spec, parent, ts_time(parent["ts"]) + timedelta(seconds=offset_s), self._author(spec), self.rng.choice(_REPLIES))
        return parent

    def _reply(self, spec: _ChannelSpec, parent: dict, moment: datetime, user: str, text: str) -> dict:
        thread = self.replies[(spec.id, parent["ts"])]
        ts = ts_of(moment)
        while any(r["ts"] == ts for r in thread):
            moment += timedelta(microseconds=1)
            ts = ts_of(moment)
        reply = {
            "type": "message",
            "user": user,
            "text": text,
            "team": TEAM_ID,
            "ts": ts,
            "thread_ts": parent["ts"],
            "parent_user_id": parent["user"],
        }
        thread.append(reply)
        thread.sort(key=lambda r: Decimal(r["ts"]))
        parent.update(thread_summary(thread))
        self.total += 1
        return reply

    def _users(self) -> dict[str, dict]:
        users = {p.slack_id: _user(p.slack_id, p.email.split("@")[0], p.name, p.email, i) for i, p in enumerate(self.people)}
        bot = _user(BOT_USER_ID, "vector-sync", "Vector Sync", "", 0)
        bot["is_bot"] = True
        bot["profile"].update(bot_id=BOT_ID, api_app_id=APP_ID, always_active=True)
        del bot["profile"]["email"]
        users[BOT_USER_ID] = bot
        return users

    def _channel(self, spec: _ChannelSpec) -> dict:
        created = int((self.ws.start - timedelta(days=400)).timestamp())
        return {
            "id": spec.id,
            "name": spec.name,
            "name_normalized": spec.name,
            "created": created,
            "creator": self.people[0].slack_id,
            "is_channel": not spec.is_private,
            "is_group": spec.is_private,
            "is_im": False,
            "is_mpim": False,
            "is_private": spec.is_private,
            "is_archived": spec.is_archived,
            "is_general": spec.name == "general",
            "is_shared": False,
            "is_org_shared": False,
            "is_ext_shared": False,
            "is_pending_ext_shared": False,
            "unlinked": 0,
            "context_team_id": TEAM_ID,
            "updated": created * 1000,
            "previous_names": [],
            "num_members": len(self.members[spec.id]),
            "topic": {"value": spec.topic, "creator": self.people[0].slack_id if spec.topic else "", "last_set": created},
            "purpose": {"value": "", "creator": "", "last_set": 0},
        }


def thread_summary(replies: list[dict]) -> dict:
    """The fields a thread's parent carries about its replies (oldest first)."""
    users = list(dict.fromkeys(r["user"] for r in replies))
    return {"reply_count": len(replies), "reply_users": users[:5], "reply_users_count": len(users), "latest_reply": replies[-1]["ts"]}


def _spec(channel_id: str) -> _ChannelSpec:
    return next(s for s in _BASE_CHANNELS if s.id == channel_id)


def _user(uid: str, handle: str, real_name: str, email: str, i: int) -> dict:
    first, _, last = real_name.partition(" ")
    return {
        "id": uid,
        "team_id": TEAM_ID,
        "name": handle,
        "deleted": False,
        "color": "9f69e7",
        "real_name": real_name,
        "tz": "Europe/Amsterdam",
        "tz_label": "Central European Time",
        "tz_offset": 3600,
        "is_admin": i == 0,
        "is_owner": i == 0,
        "is_primary_owner": i == 0,
        "is_restricted": False,
        "is_ultra_restricted": False,
        "is_bot": False,
        "is_app_user": False,
        "updated": 1_760_000_000 + i,
        "is_email_confirmed": bool(email),
        "profile": {
            "real_name": real_name,
            "real_name_normalized": real_name,
            "display_name": handle,
            "display_name_normalized": handle,
            "first_name": first,
            "last_name": last,
            "title": "",
            "phone": "",
            "email": email,
            "team": TEAM_ID,
            "avatar_hash": f"g{i:011x}",
            "image_72": f"https://avatars.example.com/{uid}_72.png",
        },
    }


def _bot_message(n: int) -> dict:
    version = f"2.{n % 10}.{n % 7}"
    return {
        "type": "message",
        "subtype": "bot_message",
        "bot_id": DEPLOY_BOT_ID,
        "username": "Deploy Bot",
        "icons": {"emoji": ":rocket:"},
        "text": f"Deployed subs-api v{version} to production",
        "attachments": [
            {
                "id": 1,
                "fallback": f"Release notes v{version}",
                "color": "36a64f",
                "title": f"Release notes v{version}",
                "title_link": f"https://ci.example.com/releases/{version}",
                "text": "2 fixes, 1 feature",
            }
        ],
    }


def _noise_message(subtype: str, user: str, spec: _ChannelSpec) -> dict:
    if subtype == "channel_topic":
        topic = f"{spec.name}: weekly focus"
        return {"type": "message", "subtype": subtype, "user": user, "topic": topic, "text": f"<@{user}> set the channel topic: {topic}"}
    verb = "left" if subtype == "channel_leave" else "joined"
    return {"type": "message", "subtype": subtype, "user": user, "text": f"<@{user}> has {verb} the channel"}


def _file(rng: Any, user: str, moment: datetime) -> dict:
    name, title, mimetype, filetype, pretty = rng.choice(_FILES)
    file_id = f"F0{rng.randrange(16**8):08X}"
    stamp = int(moment.timestamp())
    return {
        "id": file_id,
        "created": stamp,
        "timestamp": stamp,
        "name": name,
        "title": title,
        "mimetype": mimetype,
        "filetype": filetype,
        "pretty_type": pretty,
        "user": user,
        "mode": "hosted",
        "editable": False,
        "is_external": False,
        "external_type": "",
        "is_public": True,
        "size": 48_213,
        "url_private": f"https://files.slack.com/files-pri/{TEAM_ID}-{file_id}/{name}",
        "permalink": f"https://{DOMAIN}/files/{user}/{file_id}/{name}",
    }


# ------------------------------------------------------------------ simulator


def _encode_cursor(offset: int) -> str:
    return base64.b64encode(f"next:{offset}".encode()).decode()


def _decode_cursor(cursor: str | None) -> int | None:
    """Offset of a cursor; 0 without one; None for a cursor this server never issued."""
    if not cursor:
        return 0
    try:
        kind, _, offset = base64.b64decode(cursor, validate=True).decode().partition(":")
        return int(offset) if kind == "next" and int(offset) >= 0 else None
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None


def _flag(value: str | None, default: bool = False) -> bool:
    """Slack booleans arrive as "1"/"0" (slack_sdk) or "true"/"false"."""
    if value in (None, ""):
        return default
    return value.lower() in ("1", "true", "yes")


def _ok(**body: Any) -> Response:
    return Response(200, {"ok": True, **body})


def _fail(error: str, status: int = 200, **extra: Any) -> Response:
    # Most Web API errors are HTTP 200 with ok: false.
    return Response(status, {"ok": False, "error": error, **extra})


class SlackSimulator(Simulator):
    """The Web API methods vector-sync calls, plus chat.postMessage and one incoming webhook."""

    name = "slack"

    def __init__(self, workspace: Workspace, **options: Any) -> None:
        super().__init__(workspace, **options)
        self.data: SlackData = workspace.data("slack")
        self.joined: set[str] = set()  # channels the bot joined through this simulator
        self.posted: list[dict] = []  # chat.postMessage and webhook payloads, in order
        # Test knob: (channel, ts) of messages that history serves without a ts (malformed).
        self.malformed: set[tuple[str, str]] = set()
        # Test knob: (channel, ts) of messages deleted since the sample was made (delete_message).
        self.deleted: set[tuple[str, str]] = set()
        # Test knobs: channel field changes (make_private) and member lists (set_members) made
        # since the sample was generated, for this simulator only.
        self.channel_changes: dict[str, dict[str, Any]] = {}
        self.member_changes: dict[str, list[str]] = {}
        self._post_seq = itertools.count(1)
        self._methods: dict[str, Callable[[Request], Response]] = {
            "auth.test": self.auth_test,
            "conversations.list": self.conversations_list,
            "conversations.history": self.conversations_history,
            "conversations.replies": self.conversations_replies,
            "conversations.join": self.conversations_join,
            "conversations.members": self.conversations_members,
            "users.info": self.users_info,
            "users.list": self.users_list,
            "chat.postMessage": self.chat_post_message,
        }

    def post_message(self, channel_id: str, user: str, text: str, thread_ts: str | None = None, at: datetime | None = None) -> dict:
        """Someone posts ``text`` (in the thread of ``thread_ts``): history (or the thread's
        replies) shows it from now on, and a reply moves its parent's thread fields."""
        with self.lock:
            data = self._own_data()
            channel = data.channel(channel_id)
            if channel is None or channel["is_archived"]:
                raise KeyError(f"no open Slack channel {channel_id}")
            message = {"type": "message", "user": user, "text": text, "team": TEAM_ID}
            message["ts"] = self._fresh_ts(channel_id, at or datetime.now(timezone.utc))
            if thread_ts is None:
                data.put(channel_id, message)
                return message
            parent = data.message(channel_id, thread_ts)
            if parent is None or (channel_id, thread_ts) in self.deleted:
                raise KeyError(f"no Slack message {channel_id}/{thread_ts} to reply to")
            message.update(thread_ts=parent["ts"], parent_user_id=parent.get("user", ""))
            thread = [*data.replies.get((channel_id, parent["ts"]), []), message]
            data.replies[(channel_id, parent["ts"])] = thread
            data.put(channel_id, {**parent, "thread_ts": parent["ts"], **thread_summary(thread)})
            return message

    def edit_message(self, channel_id: str, ts: str, text: str, at: datetime | None = None) -> tuple[dict, dict]:
        """Its author edits a message or reply: (the message before, after). Slack serves the new
        text with ``edited {user, ts}``; the ts (the message's id) stays."""
        with self.lock:
            data = self._own_data()
            before, thread_key = self._find(data, channel_id, ts)
            edited_ts = self._fresh_ts(channel_id, at or datetime.now(timezone.utc))
            after = {**before, "text": text, "edited": {"user": before.get("user", ""), "ts": edited_ts}}
            if thread_key is None:
                data.put(channel_id, after)
            else:
                data.replies[thread_key] = [after if r["ts"] == ts else r for r in data.replies[thread_key]]
            return before, after

    def reset_changes(self) -> None:
        """Back to the shared sample: posts, edits and deletions made here are forgotten."""
        with self.lock:
            self.data = self.workspace.data("slack")
            self.deleted.clear()

    def _own_data(self) -> SlackData:
        """This simulator's own copy of the sample, made at its first change."""
        if self.data is self.workspace.data("slack"):
            self.data = self.data.copy()
        return self.data

    def _find(self, data: SlackData, channel_id: str, ts: str) -> tuple[dict, tuple[str, str] | None]:
        """A live message or reply by ts, with its thread's key when it is a reply."""
        if (channel_id, ts) not in self.deleted:
            message = data.message(channel_id, ts)
            if message is not None:
                return message, None
            for key, replies in data.replies.items():
                if key[0] == channel_id and (channel_id, key[1]) not in self.deleted:
                    found = next((r for r in replies if r["ts"] == ts), None)
                    if found is not None:
                        return found, key
        raise KeyError(f"no Slack message {channel_id}/{ts}")

    def _fresh_ts(self, channel_id: str, moment: datetime) -> str:
        """The ts of ``moment``, a microsecond later while the channel already has it."""
        ts = ts_of(moment)
        while self.data.taken(channel_id, ts):
            moment += timedelta(microseconds=1)
            ts = ts_of(moment)
        return ts

    def delete_message(self, channel_id: str, ts: str) -> None:
        """Delete a message for this simulator (the shared sample is untouched): history and
        replies stop showing it; a deleted parent takes its thread along (thread_not_found)."""
        with self.lock:
            self.deleted.add((channel_id, ts))

    def set_members(self, channel_id: str, user_ids: list[str]) -> None:
        """Replace a channel's members (people join or leave) for this simulator."""
        with self.lock:
            self.member_changes[channel_id] = list(user_ids)

    def remove_member(self, channel_id: str, user_id: str) -> None:
        self.set_members(channel_id, [u for u in self._members_of(channel_id) if u != user_id])

    def make_private(self, channel_id: str) -> None:
        """Convert a public channel to private (Slack keeps its id, history and members)."""
        with self.lock:
            self.channel_changes[channel_id] = {
                **self.channel_changes.get(channel_id, {}),
                "is_private": True,
                "is_channel": False,
                "is_group": True,
            }

    def _members_of(self, channel_id: str) -> list[str]:
        return self.member_changes.get(channel_id, self.data.members[channel_id])

    def _changed(self, channel: dict) -> dict:
        changes = self.channel_changes.get(channel["id"])
        return {**channel, **changes} if changes else channel

    def _channel_of(self, id_or_name: str) -> dict | None:
        channel = self.data.channel(id_or_name)
        return self._changed(channel) if channel is not None else None

    @property
    def api_url(self) -> str:
        """What a ``WebClient`` takes as ``base_url`` (Slack's ``https://slack.com/api/``)."""
        return f"{self.sandbox.base_url(self.name)}/api/" if self.sandbox else "/api/"

    @property
    def webhook_url(self) -> str:
        """The incoming webhook's URL (the password of a ``slack_default`` webhook connection)."""
        return f"{self.sandbox.base_url(self.name)}{WEBHOOK_PATH}" if self.sandbox else WEBHOOK_PATH

    # -- the dialect hooks

    def authorize(self, request: Request) -> Response | None:
        if request.path.startswith("/services/"):  # a webhook URL is its own secret
            return None
        token = request.bearer() or request.arg("token")
        if not token:
            return _fail("not_authed")
        if token != self.token:
            return _fail("invalid_auth")
        return None

    def rate_limited(self, retry_after_s: int, request: Request) -> Response:
        return Response(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(retry_after_s)})

    def error(self, status: int, message: str) -> Response:
        return _fail("unknown_method" if status in (404, 405) else message, status)

    def rate_key(self, request: Request) -> str:
        # Slack's tiers count per method: one bucket per method path.
        return f"{self.name}:{request.path}"

    # -- routes

    @route("GET", r"/api/(?P<method>[A-Za-z.]+)")
    def api_get(self, request: Request) -> Response:
        return self._call(request)

    @route("POST", r"/api/(?P<method>[A-Za-z.]+)")
    def api_post(self, request: Request) -> Response:
        return self._call(request)

    @route("POST", r"/services/(?P<hook>[^?]+)")
    def webhook(self, request: Request) -> Response:
        if "/services/" + request.params["hook"] != WEBHOOK_PATH:
            return Response(404, "no_service")
        payload = request.json() if "json" in (request.headers.get("Content-Type") or "") else None
        if payload is None:  # legacy form post: payload=<json>
            payload = json.loads(request.form().get("payload") or "{}")
        if not any(payload.get(k) for k in ("text", "blocks", "attachments")):
            return Response(400, "no_text")
        with self.lock:
            self.posted.append({"via": "webhook", "channel": "C0ALERTS", **payload})
        return Response(200, "ok")

    def _call(self, request: Request) -> Response:
        handler = self._methods.get(request.params["method"])
        if handler is None:
            return _fail("unknown_method", 404)
        return handler(request)

    # -- helpers

    def _is_member(self, channel: dict) -> bool:
        return channel["id"] in self.joined or BOT_USER_ID in self._members_of(channel["id"])

    def _visible(self, channel: dict | None) -> bool:
        # Private channels exist for the bot only when it is a member.
        return channel is not None and (not channel["is_private"] or self._is_member(channel))

    def _readable(self, request: Request) -> tuple[dict | None, Response | None]:
        channel = self._channel_of(request.arg("channel") or "")
        if not self._visible(channel):
            return None, _fail("channel_not_found")
        if not self._is_member(channel):
            return None, _fail("not_in_channel")
        return channel, None

    def _page(self, request: Request, items: list, default: int, cap: int) -> tuple[list, str] | Response:
        offset = _decode_cursor(request.arg("cursor"))
        if offset is None:
            return _fail("invalid_cursor")
        try:
            limit = int(request.arg("limit") or default) or default
        except ValueError:
            return _fail("invalid_limit")
        limit = max(1, min(limit, cap))
        stop = offset + limit
        return items[offset:stop], (_encode_cursor(stop) if stop < len(items) else "")

    def _served(self, channel_id: str, message: dict) -> dict:
        if (channel_id, message["ts"]) in self.malformed:
            return {k: v for k, v in message.items() if k != "ts"}
        return message

    def _channel_json(self, channel: dict) -> dict:
        members = self._members_of(channel["id"])
        joined = channel["id"] in self.joined and BOT_USER_ID not in members
        return {**channel, "is_member": self._is_member(channel), "num_members": len(members) + joined}

    # -- methods

    def auth_test(self, request: Request) -> Response:
        return _ok(
            url=f"https://{DOMAIN}/",
            team=COMPANY,
            user="vector-sync",
            team_id=TEAM_ID,
            user_id=BOT_USER_ID,
            bot_id=BOT_ID,
            app_id=APP_ID,
            is_enterprise_install=False,
        )

    def conversations_list(self, request: Request) -> Response:
        types = set((request.arg("types") or "public_channel").split(","))
        exclude_archived = _flag(request.arg("exclude_archived"))
        # Slack pages first and filters after: pages may come back short, or even empty,
        # with a next_cursor still set. Clients must follow the cursor, not the page size.
        paged = self._page(request, [self._changed(c) for c in self.data.channels], _DEFAULT_LIMIT, _LIST_LIMIT_CAP)
        if isinstance(paged, Response):
            return paged
        page, cursor = paged
        shown = [
            self._channel_json(c)
            for c in page
            if ("private_channel" if c["is_private"] else "public_channel") in types
            and self._visible(c)
            and not (exclude_archived and c["is_archived"])
        ]
        return _ok(channels=shown, response_metadata={"next_cursor": cursor})

    def conversations_history(self, request: Request) -> Response:
        channel, failure = self._readable(request)
        if failure:
            return failure
        try:
            oldest = Decimal(request.arg("oldest") or "0")
            latest = Decimal(request.arg("latest")) if request.arg("latest") else None
        except InvalidOperation:
            return _fail("invalid_ts_oldest")
        with self.lock:  # a post may be inserting into this channel's history
            found = self.data.between(channel["id"], oldest, latest, _flag(request.arg("inclusive")))
        if self.deleted:
            found = [m for m in found if (channel["id"], m["ts"]) not in self.deleted]
        paged = self._page(request, found[::-1], _DEFAULT_LIMIT, _HISTORY_LIMIT_CAP)  # newest first
        if isinstance(paged, Response):
            return paged
        page, cursor = paged
        page = [self._served(channel["id"], m) for m in page]
        return _ok(messages=page, has_more=bool(cursor), pin_count=0, channel_actions_count=0, response_metadata={"next_cursor": cursor})

    def conversations_replies(self, request: Request) -> Response:
        channel, failure = self._readable(request)
        if failure:
            return failure
        with self.lock:  # a post may be inserting into this channel's history
            parent = self.data.message(channel["id"], request.arg("ts") or "")
            replies = self.data.replies.get((channel["id"], parent["ts"]), []) if parent else []
        if parent is None or (channel["id"], parent["ts"]) in self.deleted:
            return _fail("thread_not_found")
        if self.deleted:
            replies = [r for r in replies if (channel["id"], r["ts"]) not in self.deleted]
        paged = self._page(request, replies, _REPLIES_LIMIT_CAP, _REPLIES_LIMIT_CAP)
        if isinstance(paged, Response):
            return paged
        page, cursor = paged
        # UNCONFIRMED how the parent appears on later pages: this server repeats it at the head
        # of every page (clients de-duplicate by ts, which is harmless if it does not repeat).
        return _ok(messages=[parent, *page], has_more=bool(cursor), response_metadata={"next_cursor": cursor})

    def conversations_join(self, request: Request) -> Response:
        channel = self._channel_of(request.arg("channel") or "")
        if not self._visible(channel):
            return _fail("channel_not_found")
        if channel["is_private"]:
            return _fail("method_not_supported_for_channel_type")
        if channel["is_archived"]:
            return _fail("is_archived")
        with self.lock:
            already = self._is_member(channel)
            self.joined.add(channel["id"])
        extra = {"warning": "already_in_channel", "response_metadata": {"warnings": ["already_in_channel"]}} if already else {}
        joined = {k: v for k, v in self._channel_json(channel).items() if k != "num_members"}  # not in join's answer
        return _ok(channel=joined, **extra)

    def conversations_members(self, request: Request) -> Response:
        channel = self._channel_of(request.arg("channel") or "")
        if not self._visible(channel):
            return _fail("channel_not_found")
        members = list(self._members_of(channel["id"]))
        if channel["id"] in self.joined and BOT_USER_ID not in members:
            members.append(BOT_USER_ID)
        paged = self._page(request, members, _DEFAULT_LIMIT, 1000)
        if isinstance(paged, Response):
            return paged
        page, cursor = paged
        return _ok(members=page, response_metadata={"next_cursor": cursor})

    def users_info(self, request: Request) -> Response:
        user = self.data.users.get(request.arg("user") or "")
        return _ok(user=user) if user else _fail("user_not_found")

    def users_list(self, request: Request) -> Response:
        paged = self._page(request, list(self.data.users.values()), 200, 1000)
        if isinstance(paged, Response):
            return paged
        page, cursor = paged
        return _ok(members=page, cache_ts=int(self.workspace.anchor.timestamp()), response_metadata={"next_cursor": cursor})

    def chat_post_message(self, request: Request) -> Response:
        channel = self._channel_of(request.arg("channel") or "")
        if not self._visible(channel):
            return _fail("channel_not_found")
        if channel["is_archived"]:
            return _fail("is_archived")
        payload = {k: request.arg(k) for k in ("text", "blocks", "attachments", "thread_ts") if request.arg(k)}
        for key in ("blocks", "attachments"):  # JSON bodies carry lists, form bodies JSON strings
            if isinstance(payload.get(key), str):
                payload[key] = json.loads(payload[key])
        if not any(payload.get(k) for k in ("text", "blocks", "attachments")):
            return _fail("no_text")
        ts = f"{int(time.time())}.{next(self._post_seq):06d}"
        with self.lock:
            self.posted.append({"via": "chat.postMessage", "channel": channel["id"], "ts": ts, **payload})
        message = {
            "type": "message",
            "user": BOT_USER_ID,
            "bot_id": BOT_ID,
            "app_id": APP_ID,
            "team": TEAM_ID,
            "text": payload.get("text", ""),
            "ts": ts,
        }
        if payload.get("thread_ts"):
            message["thread_ts"] = payload["thread_ts"]
        return _ok(channel=channel["id"], ts=ts, message=message)
