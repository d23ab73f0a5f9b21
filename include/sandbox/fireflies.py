"""Fireflies.ai GraphQL simulator and its sample meetings.

One endpoint, ``POST /fireflies/graphql``, parsed and validated by graphql-core against the
documented types (Transcript, MeetingAttendee, Speaker, Sentence, Summary), so a client asking
for a field Fireflies does not have gets the same validation error as from the real API.
Valid queries of plain fields (the connector's) are answered by ``project``, which walks the
selection set over the sample's dicts with graphql-core's own argument and scalar coercion:
graphql-core resolving a page of 50 hour-long meetings field by field (45,000 sentences)
took over a second. Anything else (fragments, directives, introspection, any error) is
executed by graphql-core. Behaviour from api-facts.md:

- ``transcripts(fromDate, toDate, limit <= 50, skip)``: newest first, filtered on the meeting
  date (both ends inclusive); ``limit`` above 50 is ``invalid_arguments``.
- A transcript is invisible (to both queries) until processing ends, 2-8 hours after its
  meeting: ``simulator.now`` (default: the real clock) decides what is visible.
- A key's scope: "A given API Key can access data of the user who generated the API Key and
  the users who are part of the same team if the API Key is generated from a team admin
  account" (https://docs.fireflies.ai/introduction). With the option ``key_owner`` (an email)
  the key is that person's: ``transcripts`` without ``user_id`` lists the meetings they
  organized or attended (``mine``: organized), ``user_id`` lists another teammate's only for an
  admin key (``admin=True``; a member's key gets ``require_elevated_privilege``, the simulator's
  pick of code). Without ``key_owner`` (the default) the key lists the whole team's meetings.
- Its summary comes later still (api-facts.md: ``meeting_info.summary_status`` is processing,
  processed, failed or skipped; summaries can arrive after the transcript is listed): until
  ``summary_at`` (10-90 minutes after the transcript, or a test's ``summary_ready``) the
  transcript is served with ``summary: null`` and ``summary_status: "processing"``. A meeting
  without a summary ends ``failed``.
- Errors in Fireflies' shape ``{"data": null, "errors": [{message, code, friendly,
  extensions: {code, status, helpUrls}}]}``. The simulator's picks where the real HTTP status
  is unconfirmed: HTTP 429 + ``Retry-After`` when rate limited, 401 for ``auth_failed``,
  200 for errors raised while executing (``object_not_found``, ``invalid_arguments``), 400
  for queries that do not parse or validate. ``inject_error`` serves any code with any status
  (HTTP 200 + ``too_many_requests``, say).
"""

from __future__ import annotations

import math
import random
import re
import string
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLError,
    GraphQLOutputType,
    GraphQLSyntaxError,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    StringValueNode,
    build_schema,
    execute_sync,
    get_argument_values,
    get_variable_values,
    is_enum_type,
    is_list_type,
    is_non_null_type,
    is_object_type,
    parse,
    specified_scalar_types,
    validate,
)

from sandbox.server import Request, Response, Simulator, route
from sandbox.workspace import Workspace

SDL = """
"ISO-8601 date-time, e.g. 2024-01-31T09:00:00.000Z"
scalar DateTime

type Query {
  "Only the filters vector-sync uses are simulated; any other argument fails validation."
  transcripts(fromDate: DateTime, toDate: DateTime, limit: Int, skip: Int, mine: Boolean, user_id: String): [Transcript]
  transcript(id: String!): Transcript
  user(id: String): User
  users: [User]
}

type User { user_id: String email: String name: String is_admin: Boolean }

enum MeetingPrivacy { link owner participants participatingteammates teammatesandparticipants teammates }

type Transcript {
  id: ID
  title: String
  "Meeting start, milliseconds since the epoch."
  date: Float
  dateString: String
  "Minutes."
  duration: Float
  host_email: String
  organizer_email: String
  participants: [String]
  meeting_attendees: [MeetingAttendee]
  speakers: [Speaker]
  sentences: [Sentence]
  summary: Summary
  meeting_info: MeetingInfo
  transcript_url: String
  meeting_link: String
  calendar_id: String
  privacy: MeetingPrivacy
}

"summary_status: processing, processed, failed or skipped."
type MeetingInfo { fred_joined: Boolean silent_meeting: Boolean summary_status: String }

type MeetingAttendee { displayName: String email: String phoneNumber: String name: String location: String }

type Speaker { id: Int name: String }

"start_time/end_time: seconds from the meeting start (the docs list String; responses carry numbers)."
type Sentence {
  index: Int
  speaker_name: String
  speaker_id: ID
  text: String
  raw_text: String
  start_time: Float
  end_time: Float
}

type Summary {
  keywords: [String]
  action_items: String
  outline: String
  shorthand_bullet: String
  overview: String
  bullet_gist: String
  gist: String
  short_summary: String
  short_overview: String
  meeting_type: String
}
"""

# The transcripts query refuses larger pages.
MAX_LIMIT = 50
HELP_URL = "https://docs.fireflies.ai/miscellaneous/error-codes#{code}"
# code -> (extensions.status, default message)
ERROR_CODES: dict[str, tuple[int, str]] = {
    "too_many_requests": (429, "Too many requests. Please retry after some time."),
    "auth_failed": (401, "Invalid API key. Please provide a valid API key."),
    "object_not_found": (404, "Object not found"),
    "invalid_arguments": (400, "Invalid arguments"),
    "internal_server_error": (500, "Something went wrong. Please try again."),
    "require_elevated_privilege": (403, "This action requires an admin API key."),
}

# Sample volumes: 25 meetings per unit of scale (scale 8 = the 200-transcript benchmark).
MEETINGS_PER_SCALE = 25
RECENT_HOURS = 6  # one meeting starts in each of the last hours before the anchor
SENTENCES_PER_MINUTE = 14.5  # ~1,300 sentences in 90 minutes, ~900 in an hour
PROCESSING_DELAY_H = (2.0, 8.0)  # transcript visible this long after the meeting starts
SUMMARY_DELAY_MIN = (10.0, 90.0)  # its summary ready this long after the transcript
LONG_MEETING_MIN = 90
_DURATIONS_MIN = (60, 45, 75, 15, 60, 90, 60, 75, 60)  # averages an hour
_PRIVACY = ("teammates", "teammates", "participants", "teammatesandparticipants", "link", "teammates", "owner")
_SUMMARY_KINDS = ("full", "full", "none", "full", "empty")


@dataclass(frozen=True)
class _Topic:
    title: str
    overview: str
    keywords: tuple[str, ...]
    subjects: tuple[str, ...]
    title_tags: tuple[str, ...]  # projects named in the title
    summary_tags: tuple[str, ...]  # projects named only in the summary or its keywords
    one_on_one: bool = False


_TOPICS = (
    _Topic(
        "SUBS sprint planning",
        "Planned the next Subscriptions sprint: trial-to-paid conversion and dunning.",
        ("sprint planning", "dunning", "trial conversion"),
        ("the dunning email copy", "trial conversion", "the plan picker", "proration"),
        ("SUBS",),
        ("SUBS",),
    ),
    _Topic(
        "Billing Console design review",
        "Reviewed the invoice list and the new tax settings screens.",
        ("invoices", "tax settings", "design review"),
        ("the invoice table", "tax settings", "the empty states", "bulk actions"),
        ("BC",),
        (),
    ),
    _Topic(
        "Archive Migration retro",
        "Looked back at the cold-storage cut-over and what to keep from the old jobs.",
        ("retro", "cold storage"),
        ("the cut-over", "the restore drill", "storage costs", "the old cron jobs"),
        ("ARCH",),
        (),
    ),
    _Topic(
        "Weekly all-hands",
        "Company updates, hiring plans and the office move.",
        ("all-hands", "hiring"),
        ("the office move", "hiring", "the quarterly goals", "the offsite"),
        (),
        (),
    ),
    _Topic(
        "Renewal pricing sync",
        "Agreed the renewal price points for SUBS annual plans and grandfathering rules.",
        ("pricing", "renewals"),
        ("annual plans", "grandfathering", "the price sheet", "discount codes"),
        (),
        ("SUBS",),
    ),
    _Topic(
        "Invoice export deep dive",
        "Walked through CSV and PDF exports and the credit-note edge cases.",
        ("Billing Console", "exports", "credit notes"),
        ("the CSV export", "credit notes", "PDF rendering", "time zones"),
        (),
        ("BC",),
    ),
    _Topic(
        "1:1 check-in",
        "Career goals and feedback on the last quarter.",
        ("feedback",),
        ("the promotion plan", "feedback", "the conference talk"),
        (),
        (),
        one_on_one=True,
    ),
    _Topic(
        "Data retention and audit logs",
        "Which BC audit logs move to cold storage and which ARCH jobs retire.",
        ("retention", "audit logs"),
        ("audit logs", "retention windows", "the legal hold", "the export job"),
        (),
        ("BC", "ARCH"),
    ),
)

_LINES = (
    "I think {s} needs another pass before Friday.",
    "Can we agree on {s} today?",
    "{S} is mostly done and the tests are green.",
    "Let's park {s} until after the demo.",
    "The customer asked about {s} again this week.",
    "I'll write up {s} in the ticket.",
    "Does anyone have concerns about {s}?",
    "Yes, that works for me.",
    "Good point, let's do that.",
    "We saw two regressions around {s} last week.",
    "Who owns {s} now?",
    "I can pair with you on {s} tomorrow.",
    "Okay, moving on.",
    "Right, and {s} depends on that too.",
)
_ACTIONS = ("send the notes on {s}", "open a ticket for {s}", "review {s}", "follow up on {s} with the customer")


@dataclass(frozen=True)
class FirefliesData:
    """The sample: API-shaped transcripts (oldest first) plus what tests need to know."""

    transcripts: tuple[dict[str, Any], ...]
    visible_at: Mapping[str, datetime]  # id -> when processing ends
    projects: Mapping[str, tuple[str, ...]]  # id -> project keys named in its title or summary
    summary_at: Mapping[str, datetime] = field(default_factory=dict)  # id -> when the summary is ready

    def by_id(self, transcript_id: str) -> dict[str, Any] | None:
        return next((t for t in self.transcripts if t["id"] == transcript_id), None)

    def meeting_time(self, transcript: Mapping[str, Any]) -> datetime:
        return datetime.fromtimestamp(transcript["date"] / 1000, tz=timezone.utc)


def generate(ws: Workspace) -> FirefliesData:
    """``25 x scale`` meetings over ``[ws.start, ws.anchor)``, one in each of the last hours."""
    rng = ws.rng("fireflies")
    count = MEETINGS_PER_SCALE * max(1, ws.scale)
    recent_span = timedelta(hours=RECENT_HOURS)
    older_s = (ws.anchor - recent_span - ws.start).total_seconds()
    used_ids: set[str] = set()
    transcripts, visible_at, projects = [], {}, {}
    for i in range(count):
        if i < RECENT_HOURS:
            start = ws.anchor - timedelta(hours=i + 1, minutes=-rng.randint(0, 15))
        else:
            start = ws.start + timedelta(seconds=rng.uniform(0, older_s))
        start = start.replace(second=0, microsecond=0)
        if i == RECENT_HOURS:  # the long planning meeting, with everything a transcript can carry
            topic, minutes, privacy, summary_kind = _TOPICS[0], LONG_MEETING_MIN, "teammates", "full"
        else:
            topic = _TOPICS[i % len(_TOPICS)]
            minutes = _DURATIONS_MIN[i % len(_DURATIONS_MIN)]
            privacy = "participants" if topic.one_on_one else _PRIVACY[i % len(_PRIVACY)]
            summary_kind = _SUMMARY_KINDS[i % len(_SUMMARY_KINDS)]
        transcript = _transcript(rng, ws, i, used_ids, start, topic, minutes, privacy, summary_kind)
        transcripts.append(transcript)
        visible_at[transcript["id"]] = start + timedelta(hours=rng.uniform(*PROCESSING_DELAY_H))
        tags = set(topic.title_tags) | (set(topic.summary_tags) if summary_kind == "full" else set())
        projects[transcript["id"]] = tuple(sorted(tags))
    transcripts.sort(key=lambda t: t["date"])
    later = ws.rng("fireflies-summaries")  # its own stream: the transcripts stay as they were
    summary_at = {t["id"]: visible_at[t["id"]] + timedelta(minutes=later.uniform(*SUMMARY_DELAY_MIN)) for t in transcripts}
    return FirefliesData(tuple(transcripts), visible_at, projects, summary_at)


def _transcript(
    rng: random.Random,
    ws: Workspace,
    i: int,
    used_ids: set[str],
    start: datetime,
    topic: _Topic,
    minutes: int,
    privacy: str,
    summary_kind: str,
) -> dict[str, Any]:
    while True:
        tid = "".join(rng.choices(string.ascii_letters + string.digits, k=16))
        if tid not in used_ids:
            used_ids.add(tid)
            break
    size = 2 if topic.one_on_one else rng.randint(3, min(7, len(ws.people)))
    people = rng.sample(ws.people, size)
    emails = [p.email for p in people]
    if i % 4 == 1:  # calendars keep whatever case the invitee typed
        emails[-1] = emails[-1].capitalize()
    speakers = people if size <= 3 else people[:-1]  # someone usually stays silent
    sentences = _sentences(rng, speakers, minutes, topic)
    return {
        "id": tid,
        "title": topic.title,
        "date": start.timestamp() * 1000,
        "dateString": start.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "duration": round(sentences[-1]["end_time"] / 60, 2),
        "host_email": people[0].email,
        "organizer_email": people[0].email,
        "participants": emails,
        "meeting_attendees": [
            {"displayName": p.name, "email": email, "name": p.name, "phoneNumber": None, "location": None}
            for p, email in zip(people, emails)
        ],
        "speakers": [{"id": n, "name": p.name} for n, p in enumerate(speakers)],
        "sentences": sentences,
        "summary": _summary(rng, speakers, topic, summary_kind, minutes),
        "meeting_info": {
            "fred_joined": True,
            "silent_meeting": False,
            "summary_status": "failed" if summary_kind == "none" else "processed",
        },
        "transcript_url": f"https://app.fireflies.ai/view/{topic.title.replace(' ', '-').replace(':', '')}::{tid}",
        "meeting_link": f"https://meet.example.com/{tid[:10].lower()}",
        "calendar_id": None,
        "privacy": privacy,
    }


def _sentences(rng: random.Random, speakers: list, minutes: int, topic: _Topic) -> list[dict[str, Any]]:
    count = max(4, round(minutes * SENTENCES_PER_MINUTE * rng.uniform(0.95, 1.05)))
    slot_s = minutes * 60 / count
    sentences: list[dict[str, Any]] = []
    speaker_index, left_in_turn = 0, rng.randint(1, 6)
    for index in range(count):
        if left_in_turn == 0:
            speaker_index = (speaker_index + rng.randint(1, len(speakers) - 1)) % len(speakers)
            left_in_turn = rng.randint(1, 6)
        left_in_turn -= 1
        subject = rng.choice(topic.subjects)
        text = rng.choice(_LINES).format(s=subject, S=subject[0].upper() + subject[1:])
        start_s = round(index * slot_s, 2)
        sentences.append(
            {
                "index": index,
                "speaker_name": speakers[speaker_index].name,
                "speaker_id": speaker_index,
                "text": text,
                "raw_text": text,
                "start_time": start_s,
                "end_time": round(start_s + slot_s * 0.92, 2),
            }
        )
    return sentences


def _summary(rng: random.Random, speakers: list, topic: _Topic, kind: str, minutes: int) -> dict[str, Any] | None:
    if kind == "none":  # the summary failed or was switched off
        return None
    if kind == "empty":  # the shape seen for very short or silent recordings
        unset = dict.fromkeys(("outline", "shorthand_bullet", "bullet_gist", "gist", "short_overview", "meeting_type"))
        return {"overview": "", "action_items": "", "keywords": [], "short_summary": "", **unset}
    actions = []
    for _ in range(rng.randint(2, 4)):
        who = rng.choice(speakers).name
        what = rng.choice(_ACTIONS).format(s=rng.choice(topic.subjects))
        at_s = rng.randint(0, minutes * 60 - 1)
        actions.append(f"{who}: {what} ({at_s // 60:02d}:{at_s % 60:02d})")
    return {
        "overview": topic.overview,
        "action_items": "\n".join(actions),  # a newline-separated string, as the API sends it
        "keywords": list(topic.keywords),
        "short_summary": topic.overview.split(":")[0].split(".")[0] + ".",
        "outline": None,
        "shorthand_bullet": None,
        "bullet_gist": None,
        "gist": topic.title,
        "short_overview": None,
        "meeting_type": "Internal",
    }


def _parse_datetime(value: Any) -> datetime:
    if not isinstance(value, str):
        raise TypeError(f"DateTime must be an ISO-8601 string, not {value!r}")
    moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def _parse_datetime_literal(node: Any, *_args: Any) -> datetime:
    if not isinstance(node, StringValueNode):
        raise TypeError("DateTime must be an ISO-8601 string")
    return _parse_datetime(node.value)


SCHEMA = build_schema(SDL)
_DATETIME = SCHEMA.type_map["DateTime"]
# graphql-core 3.3 names the coercers coerce_*; 3.2 called them parse_value/parse_literal/serialize.
_DATETIME.coerce_input_value = _DATETIME.parse_value = _parse_datetime  # type: ignore[attr-defined]
_DATETIME.coerce_input_literal = _DATETIME.parse_literal = _parse_datetime_literal  # type: ignore[attr-defined]


class _Coded(Exception):
    """An error with a Fireflies error code, raised by a resolver."""

    def __init__(self, code: str, message: str | None = None) -> None:
        super().__init__(message or ERROR_CODES[code][1])
        self.code = code


def error_entry(code: str, message: str | None = None, status: int | None = None) -> dict[str, Any]:
    """One item of ``errors[]`` as Fireflies writes it."""
    default_status, default_message = ERROR_CODES.get(code, (status or 500, code))
    status = status or default_status
    return {
        "message": message or default_message,
        "code": code,
        "friendly": True,
        "extensions": {"code": code, "status": status, "helpUrls": [HELP_URL.format(code=code)]},
    }


class _Root:
    """Query resolvers over the transcripts visible at one moment, as one key sees them."""

    def __init__(
        self, visible: list[dict[str, Any]], team: list[dict[str, Any]] | None = None, owner: str | None = None, admin: bool = True
    ) -> None:
        self.visible = visible  # newest first
        self.team = team or []
        self.owner = owner.lower() if owner else None
        self.admin = admin

    def transcripts(
        self,
        _info: Any,
        fromDate: datetime | None = None,
        toDate: datetime | None = None,
        limit: int | None = None,
        skip: int | None = None,
        mine: bool | None = None,
        user_id: str | None = None,
    ) -> list[dict[str, Any]]:
        limit = MAX_LIMIT if limit is None else limit
        skip = skip or 0
        if limit > MAX_LIMIT or limit < 1:
            raise _Coded("invalid_arguments", f"limit must be between 1 and {MAX_LIMIT}, got {limit}")
        if skip < 0:
            raise _Coded("invalid_arguments", f"skip must not be negative, got {skip}")
        if mine and user_id:  # API 2.4.0: one of organizer_email, participant_email, user_id, mine at a time
            raise _Coded("invalid_arguments", "Only one of mine and user_id may be given")
        low = fromDate.timestamp() * 1000 if fromDate else float("-inf")
        high = toDate.timestamp() * 1000 if toDate else float("inf")
        matching = [t for t in self._scope(mine, user_id) if low <= t["date"] <= high]
        return matching[skip : skip + limit]

    def _scope(self, mine: bool | None, user_id: str | None) -> list[dict[str, Any]]:
        if user_id:
            person = next((u["email"] for u in self.team if u["user_id"] == user_id), None)
            if person is None:
                raise _Coded("object_not_found", f"User not found: {user_id}")
            if self.owner and person != self.owner and not self.admin:
                raise _Coded("require_elevated_privilege")
            return [t for t in self.visible if _attended(t, person)]
        if mine:
            return [t for t in self.visible if (t.get("organizer_email") or "").lower() == self.owner] if self.owner else self.visible
        return [t for t in self.visible if _attended(t, self.owner)] if self.owner else self.visible

    def transcript(self, _info: Any, id: str) -> dict[str, Any]:  # noqa: A002 - the API's argument name
        found = next((t for t in self.visible if t["id"] == id), None)
        if found is None:
            raise _Coded("object_not_found", f"Transcript not found: {id}")
        return found

    def user(self, _info: Any, id: str | None = None) -> dict[str, Any]:  # noqa: A002 - the API's argument name
        """``user`` without ``id``: the key's owner (the docs: "By default, Fireflies uses your api token")."""
        owner = self.owner or next((u["email"] for u in self.team if u["is_admin"]), None)  # a team-wide key: the admin's
        wanted = (lambda u: u["user_id"] == id) if id else (lambda u: u["email"] == owner)
        found = next((u for u in self.team if wanted(u)), None)
        if found is None:
            raise _Coded("object_not_found", f"User not found: {id or 'key owner'}")
        return {**found, "is_admin": self.admin if found["email"] == owner else found["is_admin"]}

    def users(self, _info: Any) -> list[dict[str, Any]]:
        return self.team


def _attended(transcript: Mapping[str, Any], email: str | None) -> bool:
    people = [transcript.get("organizer_email") or "", *(transcript.get("participants") or [])]
    return any(p.lower() == email for p in people)


class FirefliesSimulator(Simulator):
    name = "fireflies"

    def __init__(self, workspace: Workspace, **options: Any) -> None:
        super().__init__(workspace, **options)
        # What "now" is for processing delays; None follows the real clock. Tests set it.
        self.now: datetime | None = options.get("now")
        self._injected: list[list[Any]] = []  # [code, times left, http status, message, match]
        self._injected_lock = threading.Lock()
        self.workspace.data(self.name)  # generate now, not during the first client's request
        self.deleted: set[str] = set()  # transcript ids deleted for this simulator (delete_transcript)
        self.changes: dict[str, dict[str, Any]] = {}  # transcript id -> fields changed (change_transcript)
        self.summary_ready: dict[str, datetime] = {}  # transcript id -> when its summary is ready (overrides)
        # Whose key the token is (None: one that lists the whole team's meetings) and whether it is an admin's.
        self.key_owner: str | None = options.get("key_owner")
        self.admin = bool(options.get("admin", True))

    @property
    def data(self) -> FirefliesData:
        return self.workspace.data(self.name)

    def current_time(self) -> datetime:
        return self.now if self.now is not None else datetime.now(timezone.utc)

    def inject_error(self, code: str, times: int = 1, http_status: int = 200, message: str | None = None, match: str = "") -> None:
        """Answer the next ``times`` authorized queries containing ``match`` with ``code``."""
        with self._injected_lock:
            self._injected.append([code, times, http_status, message, match])

    def visible_transcripts(self) -> list[dict[str, Any]]:
        """Transcripts whose processing has finished at ``current_time()``, newest first."""
        now = self.current_time()
        visible_at = self.data.visible_at
        deleted, changes = self.deleted, self.changes
        return [
            self._summary_state({**t, **changes[t["id"]]} if t["id"] in changes else t, now)
            for t in reversed(self.data.transcripts)
            if visible_at[t["id"]] <= now and t["id"] not in deleted
        ]

    def _summary_state(self, transcript: dict[str, Any], now: datetime) -> dict[str, Any]:
        """The transcript as served at ``now``: no summary yet while it is processing."""
        ready = self.summary_ready.get(transcript["id"]) or self.data.summary_at.get(transcript["id"])
        if ready is None or ready <= now:
            return transcript
        info = {**(transcript.get("meeting_info") or {}), "summary_status": "processing"}
        return {**transcript, "summary": None, "meeting_info": info}

    def team(self) -> list[dict[str, Any]]:
        """The workspace's people as Fireflies users (the first one is the team's admin)."""
        return [
            {"user_id": f"ff-{n:03d}", "email": p.email.lower(), "name": p.name, "is_admin": n == 0}
            for n, p in enumerate(self.workspace.people)
        ]

    def change_transcript(self, transcript_id: str, **fields: Any) -> None:
        """Change a meeting's fields for this simulator (e.g. ``privacy``, ``participants``):
        what an owner does in Fireflies' sharing settings after the meeting."""
        self.changes[transcript_id] = {**self.changes.get(transcript_id, {}), **fields}

    def delete_transcript(self, transcript_id: str) -> None:
        """Delete a meeting for this simulator (the shared sample is untouched): both queries
        stop finding it (``transcript(id)`` answers object_not_found)."""
        self.deleted.add(transcript_id)

    # --- the API's dialect -----------------------------------------------------------------

    def authorize(self, request: Request) -> Response | None:
        if request.bearer() != self.token:
            return Response(401, {"data": None, "errors": [error_entry("auth_failed")]})
        return None

    def rate_limited(self, retry_after_s: int, request: Request) -> Response:
        body = {"data": None, "errors": [error_entry("too_many_requests")]}
        return Response(429, body, {"Retry-After": str(retry_after_s)})

    def error(self, status: int, message: str) -> Response:
        code = {401: "auth_failed", 404: "object_not_found", 429: "too_many_requests"}.get(status)
        code = code or ("internal_server_error" if status >= 500 else "invalid_arguments")
        return Response(status, {"data": None, "errors": [error_entry(code, message, status)]})

    @route("POST", "/graphql")
    def graphql(self, request: Request) -> Response:
        try:
            body = request.json()
        except ValueError:
            body = None
        injected = self._take_injected(str(body.get("query")) if isinstance(body, dict) else "")
        if injected is not None:
            code, http_status, message = injected
            return Response(http_status, {"data": None, "errors": [error_entry(code, message)]})
        if not isinstance(body, dict) or not isinstance(body.get("query"), str):
            return _bad_request("BAD_REQUEST", "POST body must be JSON with a 'query' string")
        try:
            document = parse(body["query"])
        except GraphQLSyntaxError as exc:
            return _bad_request("GRAPHQL_PARSE_FAILED", exc.message, exc)
        problems = validate(SCHEMA, document)
        if problems:
            return _bad_request("GRAPHQL_VALIDATION_FAILED", problems[0].message, *problems)
        root = _Root(self.visible_transcripts(), self.team(), self.key_owner, self.admin)
        variables = body.get("variables") or {}
        try:
            return Response(200, {"data": project(document, root, variables, body.get("operationName"))})
        except Exception:  # noqa: BLE001 - not for the fast path: graphql-core answers, errors included
            pass
        result = execute_sync(
            SCHEMA,
            document,
            root_value=root,
            variable_values=variables,
            operation_name=body.get("operationName"),
        )
        if result.errors:
            return Response(200, {"data": None, "errors": [_execution_error(e) for e in result.errors]})
        return Response(200, {"data": result.data})

    def _take_injected(self, query: str) -> tuple[str, int, str | None] | None:
        with self._injected_lock:
            for rule in self._injected:
                if rule[1] > 0 and rule[4] in query:
                    rule[1] -= 1
                    return rule[0], rule[2], rule[3]
        return None


# --- the fast path ------------------------------------------------------------------------

_SPECIFIED_SCALARS = frozenset(specified_scalar_types.values())


class Unsupported(Exception):
    """``project`` leaves this query, or this result, to graphql-core."""


def project(document: DocumentNode, root: Any, variables: Any, operation_name: Any = None) -> dict[str, Any]:
    """``data`` of a validated query, as graphql-core's ``execute_sync`` would return it.

    Handles operations made of plain fields: aliases, nested objects and lists, root fields'
    arguments (coerced by graphql-core's ``get_variable_values``/``get_argument_values``),
    leaves coerced by the schema's own scalars and enums. Raises ``Unsupported`` for the
    rest (fragments, directives, introspection, a response key given twice, values that do
    not fit their type); any exception means "let graphql-core execute it", so every error
    a client sees comes from graphql-core.
    """
    if not isinstance(variables, dict) or not (operation_name is None or isinstance(operation_name, str)):
        raise Unsupported("variables or operationName of an unexpected type")
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is not None:
        operations = [o for o in operations if o.name is not None and o.name.value == operation_name]
    if len(operations) != 1 or operations[0].operation != OperationType.QUERY or operations[0].directives:
        raise Unsupported("not exactly one plain query operation")
    operation = operations[0]
    coerced = get_variable_values(SCHEMA, operation.variable_definitions or (), variables)
    if isinstance(coerced, list):  # variable errors
        raise Unsupported("variables do not coerce")
    query_type = SCHEMA.query_type
    assert query_type is not None
    data: dict[str, Any] = {}
    for key, node in _plain_fields(operation.selection_set):
        field = query_type.fields[node.name.value]
        value = getattr(root, node.name.value, None)  # graphql-core's default resolver
        if callable(value):
            value = value(None, **get_argument_values(field, node, coerced))
        data[key] = _converter(field.type, node)(value)
    return data


def _plain_fields(selection_set: SelectionSetNode | None) -> list[tuple[str, FieldNode]]:
    """(response key, field) of a selection set that holds only plain fields."""
    if selection_set is None:
        raise Unsupported("object without a selection set")
    fields: dict[str, FieldNode] = {}
    for selection in selection_set.selections:
        if not isinstance(selection, FieldNode) or selection.directives or selection.name.value.startswith("__"):
            raise Unsupported("fragment, directive or introspection")
        key = selection.alias.value if selection.alias else selection.name.value
        if key in fields:  # graphql-core merges the two selections
            raise Unsupported(f"response key {key!r} selected twice")
        fields[key] = selection
    return list(fields.items())


def _converter(type_: GraphQLOutputType, node: FieldNode) -> Callable[[Any], Any]:
    """A function completing a resolved value of ``type_`` like graphql-core (None stays None)."""
    if is_non_null_type(type_):
        inner = _converter(type_.of_type, node)  # type: ignore[union-attr]

        def non_null(value: Any) -> Any:
            if value is None:
                raise Unsupported("null in a non-null field")
            return inner(value)

        return non_null
    if is_list_type(type_):
        item = _converter(type_.of_type, node)  # type: ignore[union-attr]

        def list_(value: Any) -> Any:
            if value is None:
                return None
            if not isinstance(value, (list, tuple)):
                raise Unsupported("list field holding something else")
            return [item(v) for v in value]

        return list_
    if is_object_type(type_):
        fields = [
            (key, sub.name.value, _converter(type_.fields[sub.name.value].type, sub))  # type: ignore[union-attr]
            for key, sub in _plain_fields(node.selection_set)
        ]

        def object_(value: Any) -> Any:
            if value is None:
                return None
            if type(value) is not dict:  # the default resolver reads Mappings and attributes
                raise Unsupported("object field holding something else than a dict")
            get = value.get
            return {key: convert(get(name)) for key, name, convert in fields}

        return object_
    if type_ in _SPECIFIED_SCALARS or is_enum_type(type_):
        # graphql-core 3.3 names it coerce_output_value; 3.2 called it serialize.
        coerce = getattr(type_, "coerce_output_value", None) or type_.serialize  # type: ignore[union-attr]
        # Values these scalars return unchanged skip the call: 45,000 sentences a page.
        unchanged = _UNCHANGED.get(type_.name, lambda _value: False)  # type: ignore[union-attr]

        def leaf(value: Any) -> Any:
            if value is None:
                return None
            if unchanged(value):
                return value
            coerced = coerce(value)
            if coerced is None:
                raise Unsupported("leaf coerced to null")
            return coerced

        return leaf
    raise Unsupported(f"type {type_} is not simulated by the fast path")


_INT_32 = range(-(2**31), 2**31)
_UNCHANGED: dict[str, Callable[[Any], bool]] = {
    "String": lambda v: type(v) is str,
    "ID": lambda v: type(v) is str,
    "Float": lambda v: type(v) is float and -math.inf < v < math.inf,
    "Int": lambda v: type(v) is int and v in _INT_32,
}


def _execution_error(error: GraphQLError) -> dict[str, Any]:
    """A resolver's coded error as Fireflies writes it; bad variables are invalid_arguments."""
    original = error.original_error
    if isinstance(original, _Coded):
        return error_entry(original.code, str(original))
    return error_entry("invalid_arguments", error.message)


def _bad_request(code: str, message: str, *errors: GraphQLError) -> Response:
    """A query that does not parse or validate: HTTP 400, as Apollo-style servers answer."""
    entries = []
    for error in errors or (None,):
        entry: dict[str, Any] = {
            # graphql-js (the real server) quotes names with ", graphql-core with '.
            "message": re.sub(r"'([^'\s]*)'", r'"\1"', error.message) if error is not None else message,
            "code": code,
            "friendly": False,
            "extensions": {"code": code, "status": 400},
        }
        if error is not None and error.locations:
            entry["locations"] = [{"line": loc.line, "column": loc.column} for loc in error.locations]
        entries.append(entry)
    return Response(400, {"data": None, "errors": entries})
