"""Fireflies.ai meeting transcripts as documents: one per meeting, one segment per speaker turn.

Fireflies has no SDK: a small GraphQL client posts queries through the shared ``requests``
session (``vector_sync.http``), whose urllib3 ``Retry`` handles HTTP 429/5xx and
``Retry-After``. GraphQL reports errors in ``errors[]`` whatever the HTTP status, so every
response is checked: ``auth_failed`` is fatal at once, ``too_many_requests`` inside an HTTP 200
(invisible to urllib3) raises a retryable error for Airflow's task retry, ``object_not_found``
skips the meeting.

``transcripts(fromDate, toDate)`` filters on the meeting date, but a transcript appears only
after processing, hours later: each run's window is widened by the source's overlap (12 h,
``vector_sync.specs``), and the content hashes downstream make the re-scan free of embeddings.

Each page of the list query asks for every field (one request per 50 meetings), instead of
listing ids and fetching each with ``transcript(id)`` (1 + N requests): Fireflies' quotas
count requests (50 a day on Free/Pro, 60 a minute on Business) and hourly runs re-scan 13
hours. ``fetch_mode: "detail"`` trades that for smaller responses; ``page_size`` shrinks pages.
While one page becomes documents the next is already requested (one page ahead, list mode),
so the vendor's serializing and the transfer overlap our own work.

Pruning lists ids and dates only (``IDS_QUERY``, 50 a request) over ``prune_history_days``
(default 365) before the listing; ``confirm_gone`` re-checks each candidate by id.

The permission pass (``access_scopes``) lists privacy and people only (``ACCESS_QUERY``, 50 a
request) from the oldest indexed meeting on, and derives access exactly as fetch does
(``transcript_access``).
"""

from __future__ import annotations

import logging
import re
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from operator import itemgetter
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

import requests

from vector_sync.errors import CredentialsError, FatalError, VectorSyncError
from vector_sync.http import make_session
from vector_sync.models import Document, MetadataValue, Segment, Window
from vector_sync.paging import follow_offsets
from vector_sync.sources.base import AccessScope, Source

log = logging.getLogger(__name__)

ENDPOINT = "https://api.fireflies.ai/graphql"
SERVICE = "Fireflies"
# MeetingPrivacy values (docs.fireflies.ai/schema/enum/meeting-privacy) that every teammate can
# open ("link": anyone with the link); the index serves the team, so these are "all".
TEAM_WIDE_PRIVACY = frozenset({"link", "teammates", "teammatesandparticipants"})
# "owner": the organizer alone. "participants", "participatingteammates" and anything unknown
# or missing fail closed to the people in the meeting (outsiders in that list never search
# our index, so "participatingteammates" needs no team lookup).
OWNER_ONLY_PRIVACY = "owner"
_AUTH_STATUSES = (401, 403)
_QUERY_ERROR_CODES = frozenset(
    {"invalid_arguments", "GRAPHQL_VALIDATION_FAILED", "GRAPHQL_PARSE_FAILED", "BAD_REQUEST"}
)

# Only what to_document reads: sentences dominate a page (~900 an hour), so each of their
# fields counts (end_time and raw_text are left out).
TRANSCRIPT_FIELDS = """
    id title date duration organizer_email participants privacy transcript_url
    meeting_attendees { displayName email name }
    speakers { id name }
    sentences { index speaker_id speaker_name text start_time }
    summary { overview short_summary action_items keywords }
"""
_WINDOW_ARGS = "$fromDate: DateTime, $toDate: DateTime, $limit: Int, $skip: Int"
_WINDOW_CALL = "transcripts(fromDate: $fromDate, toDate: $toDate, limit: $limit, skip: $skip)"
LIST_QUERY = f"query Transcripts({_WINDOW_ARGS}) {{ {_WINDOW_CALL} {{ {TRANSCRIPT_FIELDS} }} }}"
IDS_QUERY = f"query TranscriptIds({_WINDOW_ARGS}) {{ {_WINDOW_CALL} {{ id date }} }}"
ONE_QUERY = f"query Transcript($id: String!) {{ transcript(id: $id) {{ {TRANSCRIPT_FIELDS} }} }}"
EXISTS_QUERY = "query TranscriptExists($id: String!) { transcript(id: $id) { id } }"
# The permission pass: only what decides who may see a meeting (no sentences, no summary).
ACCESS_FIELDS = "id date privacy organizer_email participants meeting_attendees { email }"
ACCESS_QUERY = f"query TranscriptAccess({_WINDOW_ARGS}) {{ {_WINDOW_CALL} {{ {ACCESS_FIELDS} }} }}"


class FirefliesError(VectorSyncError):
    """An error Fireflies reported in ``errors[]``; retryable unless a subclass says otherwise."""

    def __init__(self, code: str, message: str, http_status: int | None = None) -> None:
        super().__init__(f"Fireflies {code} (HTTP {http_status}): {message}")
        self.code = code
        self.http_status = http_status


class FirefliesRateLimited(FirefliesError):
    """Rate limited past the session's retries (or inside an HTTP 200): Airflow retries the task."""


class FirefliesNotFound(FirefliesError):
    """The transcript is gone (deleted, or its privacy changed) between listing and fetching."""


class FirefliesQueryError(FirefliesError, FatalError):
    """Fireflies refused our query (invalid_arguments, schema validation): retrying cannot help."""


@dataclass
class FirefliesClient:
    """The GraphQL endpoint and the session that reaches it."""

    session: requests.Session
    endpoint: str = ENDPOINT
    conn_id: str = "fireflies_default"

    def query(self, gql: str, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Run one query and return its ``data``; raise on any ``errors[]`` entry."""
        response = self.session.post(self.endpoint, json={"query": gql, "variables": dict(variables or {})})
        try:
            body = response.json()
        except ValueError:
            body = None
        errors = body.get("errors") if isinstance(body, dict) else None
        if errors:
            raise self._error(errors, response.status_code)
        if response.status_code in _AUTH_STATUSES:
            raise CredentialsError(self.conn_id, SERVICE, f"HTTP {response.status_code}")
        if not response.ok or not isinstance(body, dict) or not isinstance(body.get("data"), dict):
            raise FirefliesError("bad_response", f"unexpected answer: {response.text[:200]!r}", response.status_code)
        return body["data"]

    def _error(self, errors: list[Any], http_status: int) -> Exception:
        entries = [e for e in errors if isinstance(e, dict)] or [{"message": str(errors)}]
        codes = [str(e.get("code") or (e.get("extensions") or {}).get("code") or "") for e in entries]
        # The most decisive error wins when several are reported.
        for wanted in ("auth_failed", "too_many_requests"):
            if wanted in codes:
                index = codes.index(wanted)
                break
        else:
            index = 0
        code, message = codes[index], str(entries[index].get("message") or "")
        if code == "auth_failed" or http_status in _AUTH_STATUSES:
            return CredentialsError(self.conn_id, SERVICE, message)
        if code == "too_many_requests":
            return FirefliesRateLimited(code, message, http_status)
        if code == "object_not_found":
            return FirefliesNotFound(code, message, http_status)
        if code in _QUERY_ERROR_CODES or http_status == 400:
            return FirefliesQueryError(code or "invalid_query", message, http_status)
        return FirefliesError(code or "unknown", message, http_status)


def make_client(
    endpoint: str | None,
    api_key: str,
    *,
    conn_id: str = "fireflies_default",
    session: requests.Session | None = None,
    **session_options: Any,
) -> FirefliesClient:
    """A client for ``endpoint`` (default: Fireflies' own) authenticating with ``api_key``.

    ``session_options`` go to ``make_session`` (``total_retries``, ``timeout_s``...).
    """
    if not api_key:
        raise FatalError(f"connection '{conn_id}' has no Fireflies API key: set its password")
    session = session or make_session(**session_options)
    session.headers["Authorization"] = f"Bearer {api_key}"
    return FirefliesClient(session, endpoint or ENDPOINT, conn_id)


class FirefliesSource(Source):
    """Meetings whose date lies in the window, each with its summary and whole transcript."""

    name = "fireflies"
    keep_unmapped = True  # most meetings name no project; only inactive-only ones are dropped
    restricted_access = ("shared", ())  # a meeting the key no longer lists: shared with nobody

    def fetch(self, window: Window) -> Iterator[Document]:
        """Yield one document per meeting that started within ``[start, end)``."""
        projects = project_names(self.settings.options)
        seen: set[str] = set()
        for raw in self._transcripts(window):
            tid = raw.get("id") if isinstance(raw, dict) else None
            if tid and tid in seen:  # skip paging shifts by one when a transcript appears meanwhile
                continue
            seen.add(tid)
            try:
                document = to_document(raw, projects)
            except SkipTranscript as skip:
                log.warning("Skipping Fireflies transcript %s: %s", tid or "?", skip.reason)
                self.stats.skip(skip.reason)
                continue
            if window.contains(document.updated_at):  # toDate is inclusive at the API
                yield document

    def _transcripts(self, window: Window) -> Iterator[Any]:
        if self.settings.option("fetch_mode") != "detail":
            yield from self._list(LIST_QUERY, window, read_ahead=True)
            return
        for item in self._list(IDS_QUERY, window):
            tid, date_ms = (item.get("id"), item.get("date")) if isinstance(item, dict) else (None, None)
            if isinstance(date_ms, (int, float)) and not window.contains(_from_ms(date_ms)):
                continue  # on the inclusive toDate: not worth a request
            try:
                transcript = self.client.query(ONE_QUERY, {"id": tid}).get("transcript")
            except FirefliesNotFound:
                transcript = None
            if transcript is None:
                log.warning("Fireflies transcript %s vanished between listing and fetching", tid)
                self.stats.skip("transcript not found")
                continue
            yield transcript

    def _list(self, query: str, window: Window, read_ahead: bool = False) -> Iterator[Any]:
        page_size = int(self.settings.option("page_size"))
        bounds = {"fromDate": _iso(window.start), "toDate": _iso(window.end)}

        def fetch_page(skip: int) -> tuple[list[Any], None]:
            data = self.client.query(query, {**bounds, "limit": page_size, "skip": skip})
            return list(data.get("transcripts") or []), None  # no total: a short page ends it

        if not read_ahead:  # detail mode: pages of ids are small, and its own queries use the session meanwhile
            return follow_offsets(fetch_page, page_size=page_size)
        return _reading_ahead(fetch_page, page_size)

    # --- permissions ---------------------------------------------------------------------

    def access_scopes(self, since: datetime | None = None) -> Iterator[AccessScope]:
        """Each meeting's access now, from ``since`` (the oldest indexed meeting) to the
        listing time: privacy and people only, 50 meetings a request."""
        start = since or _from_ms(0)
        end = max(self.listing_time(), start + timedelta(seconds=1))
        seen: set[str] = set()
        for item in self._list(ACCESS_QUERY, Window(start, end)):
            tid = str(item.get("id") or "") if isinstance(item, dict) else ""
            if not tid or tid in seen:
                continue
            seen.add(tid)
            doc_id = f"fireflies:{tid}"
            yield AccessScope(doc_id, *transcript_access(item), {"document_id": doc_id})

    def access_scope_of(self, doc_id: str) -> str | None:
        """One meeting is one scope: its document id."""
        return doc_id if doc_id.startswith("fireflies:") else None

    # --- pruning -------------------------------------------------------------------------

    def live_span(self) -> tuple[datetime, datetime] | None:
        """``[listing time - prune_history_days, listing time)`` of meeting dates; None when the
        option is null (every meeting is listed)."""
        days = self.settings.option("prune_history_days")
        if days is None:
            return None
        now = self.listing_time()
        return now - timedelta(days=float(days)), now

    def live_ids(self) -> Iterator[str]:
        """``fireflies:{id}`` of every meeting in ``live_span``: ids and dates only, 50 a request."""
        span = self.live_span() or (_from_ms(0), self.listing_time())
        for item in self._list(IDS_QUERY, Window(*span)):
            tid = item.get("id") if isinstance(item, dict) else None
            if tid:
                yield f"fireflies:{tid}"

    def confirm_gone(self, ids: list[str]) -> list[str]:
        """The ids ``transcript(id)`` no longer finds (object_not_found, or null).

        skip/limit paging shifts when a meeting is deleted while the listing pages, so a live
        one can be missing from it: each candidate costs one small query. ``prune_confirm:
        false`` trusts the listing instead (for plans allowing 50 requests a day).
        """
        if not self.settings.option("prune_confirm"):
            return list(ids)
        gone = []
        for doc_id in ids:
            prefix, _, tid = doc_id.partition(":")
            if prefix != "fireflies" or not tid:
                continue  # not a Fireflies document id: never judged
            try:
                found = self.client.query(EXISTS_QUERY, {"id": tid}).get("transcript")
            except FirefliesNotFound:
                found = None
            if not found:
                gone.append(doc_id)
        return gone


def _reading_ahead(fetch_page: Callable[[int], tuple[Sequence[Any], int | None]], page_size: int) -> Iterator[Any]:
    """``follow_offsets`` over ``fetch_page``, asking for the next page while this one is read.

    A full page is followed at once by the request for the next offset in a worker thread; a
    short page (the last) is not, so the requests are exactly the sequential ones and one is
    in flight at a time (the session is never used by two threads at once). At most two
    pages are held: the one being read and the next. An error of the next page is raised
    when ``follow_offsets`` asks for it, after this page's items, as without reading ahead.
    """
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fireflies-page")
    ahead: tuple[int, Future] | None = None

    def fetch_then_ask_next(skip: int) -> tuple[Sequence[Any], int | None]:
        nonlocal ahead
        asked, ahead = ahead, None
        items, total = asked[1].result() if asked is not None and asked[0] == skip else fetch_page(skip)
        next_skip = skip + len(items)
        if len(items) >= page_size and (total is None or next_skip < total):
            ahead = (next_skip, pool.submit(fetch_page, next_skip))
        return items, total

    try:
        yield from follow_offsets(fetch_then_ask_next, page_size=page_size)
    finally:  # a consumer that stops early does not wait for a page it will not read
        pool.shutdown(wait=False, cancel_futures=True)


class SkipTranscript(Exception):
    """A transcript that cannot become a document; ``reason`` is the skip counter's key."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def to_document(raw: Any, projects: Mapping[str, str | None]) -> Document:
    """Build the meeting's document: header and summary, then one segment per speaker turn."""
    if not isinstance(raw, dict) or not raw.get("id"):
        raise SkipTranscript("malformed transcript")
    try:
        started = _from_ms(float(raw["date"]))
    except (KeyError, TypeError, ValueError, OverflowError):
        raise SkipTranscript("malformed transcript") from None
    tid, title = str(raw["id"]), str(raw.get("title") or "Untitled meeting").strip()
    summary = raw.get("summary") if isinstance(raw.get("summary"), dict) else {}
    overview = _text(summary.get("overview"))
    actions, keywords = _lines(summary.get("action_items")), _words(summary.get("keywords"))
    turns = list(_turns(raw.get("sentences"), raw.get("speakers")))
    if not turns and not overview and not actions:
        raise SkipTranscript("empty transcript")

    organizer, attendees, participants, attendee_emails = _people(raw)
    minutes = _float(raw.get("duration"))
    tags = tag_projects(projects, title, overview, _text(summary.get("short_summary")), *actions, *keywords)
    access_type, access_list = _access(raw.get("privacy"), organizer, _unique([organizer, *attendee_emails]))

    header = _header(title, started, minutes, organizer, attendees, participants, overview, actions, keywords)
    segments = (Segment(header), *(_turn_segment(*turn) for turn in turns))
    url = str(raw.get("transcript_url") or "")
    metadata: dict[str, MetadataValue | None] = {
        "source": "fireflies",
        "meeting_id": tid,
        "title": title,
        "attendee_emails": attendee_emails,
        "timestamp_epoch": int(started.timestamp()),
        "access_type": access_type,
        "access_list": list(access_list),
        "project_tags": list(tags),
        "url": url,
        "duration": minutes,  # minutes, as the API counts them
        "organizer": organizer or None,
    }
    return Document(
        id=f"fireflies:{tid}",
        source="fireflies",
        title=title,
        text="\n\n".join(s.text for s in segments),
        url=url,
        updated_at=started,
        projects=tags,
        access_type=access_type,
        access_list=access_list,
        metadata={k: v for k, v in metadata.items() if v is not None},  # Pinecone rejects nulls
        segments=segments,
    )


def project_names(options: Mapping[str, Any]) -> dict[str, str | None]:
    """``{key: name or None}`` from option ``projects`` ([{key, name}]) and/or ``project_keys``
    (keys, or {key, name} mappings)."""
    names: dict[str, str | None] = {}
    for entry in [*(options.get("projects") or []), *(options.get("project_keys") or [])]:
        key, name = (entry.get("key"), entry.get("name")) if isinstance(entry, Mapping) else (entry, None)
        if key:
            names[str(key)] = names.get(str(key)) or (str(name) if name else None)
    return names


def tag_projects(projects: Mapping[str, str | None], *texts: str) -> tuple[str, ...]:
    """Keys of the projects named in ``texts``: the key as a whole word, case-sensitive (keys
    are upper-case, while "arch" or "bc" are ordinary words), or the name, case-insensitive."""
    haystack = "\n".join(t for t in texts if t)
    found = []
    for key, name in projects.items():
        # "SUBS-123" names SUBS too: only letters and digits extend a key.
        by_key = re.search(rf"(?<![A-Za-z0-9]){re.escape(key)}(?![A-Za-z0-9])", haystack)
        name_pattern = r"\s+".join(map(re.escape, (name or "").split()))
        by_name = name_pattern and re.search(rf"(?<!\w){name_pattern}(?!\w)", haystack, re.IGNORECASE)
        if by_key or by_name:
            found.append(key)
    return tuple(sorted(found))


def transcript_access(raw: Mapping[str, Any]) -> tuple[str, tuple[str, ...]]:
    """Who may see a meeting, from its privacy and people (what fetch indexes it with)."""
    organizer, _, _, attendee_emails = _people(raw)
    return _access(raw.get("privacy"), organizer, _unique([organizer, *attendee_emails]))


def _people(raw: Mapping[str, Any]) -> tuple[str, list[dict], list[str], list[str]]:
    """(organizer email, attendee objects, participant emails, every attendee email)."""
    organizer = _email(raw.get("organizer_email"))
    attendees = [a for a in raw.get("meeting_attendees") or [] if isinstance(a, dict)]
    participants = [_email(p) for p in raw.get("participants") or [] if p]
    attendee_emails = _unique([*(_email(a.get("email")) for a in attendees), *participants])
    return organizer, attendees, participants, attendee_emails


def _access(privacy: Any, organizer: str, people: list[str]) -> tuple[str, tuple[str, ...]]:
    """``("all", ())`` for team-wide meetings, else ``("shared", emails allowed to see it)``."""
    level = str(privacy or "").lower()
    if level in TEAM_WIDE_PRIVACY:
        return "all", ()
    if level == OWNER_ONLY_PRIVACY and organizer:
        return "shared", (organizer,)
    return "shared", tuple(people)


def _turn_segment(speaker: str, start_s: float, text: str) -> Segment:
    """``Name [12:34]: text``; the metadata lets a chunk link to its moment in the recording."""
    return Segment(f"{speaker} [{_clock(start_s)}]: {text}", {"start_time": start_s, "speaker": speaker})


def _turns(sentences: Any, speakers: Any) -> Iterator[tuple[str, float, str]]:
    """(speaker, start seconds, text) for each run of consecutive sentences by one speaker."""
    # An hour-long meeting has ~900 sentences: one pass, each field read and cleaned once.
    names = {str(s.get("id")): str(s["name"]) for s in speakers or [] if isinstance(s, dict) and s.get("name")}
    rows = []  # (index, text, sentence)
    for sentence in sentences or ():
        if isinstance(sentence, dict) and (text := _text(sentence.get("text"))):
            rows.append((sentence.get("index"), text, sentence))
    if all(isinstance(index, int) for index, _, _ in rows):
        rows.sort(key=_INDEX)
    name, start, texts = None, 0.0, []
    for _, text, row in rows:
        speaker = _text(row.get("speaker_name")) or names.get(str(row.get("speaker_id"))) or "Unknown speaker"
        if speaker != name:
            if texts:
                yield name, start, " ".join(texts)
            name, start, texts = speaker, _float(row.get("start_time")) or 0.0, []
        texts.append(text)
    if texts:
        yield name, start, " ".join(texts)


_INDEX = itemgetter(0)


def _header(
    title: str, started: datetime, minutes: float | None, organizer: str, attendees: list[dict],
    participants: list[str], overview: str, actions: list[str], keywords: list[str],
) -> str:
    """Title, date, duration and people, then the summary, action items and keywords."""
    lines = [title, f"Date: {started:%Y-%m-%d %H:%M} UTC"]
    if minutes is not None:
        lines.append(f"Duration: {round(minutes)} min")
    if organizer:
        lines.append(f"Organizer: {organizer}")
    named = [_attendee(a) for a in attendees if a.get("displayName") or a.get("name") or a.get("email")]
    named = named or participants
    if named:
        lines.append("Attendees: " + ", ".join(named))
    parts = ["\n".join(lines)]
    if overview:
        parts.append("Summary:\n" + overview)
    if actions:
        parts.append("Action items:\n" + "\n".join(a if a.endswith(":") else f"- {a}" for a in actions))
    if keywords:
        parts.append("Keywords: " + ", ".join(keywords))
    return "\n\n".join(parts)


def _attendee(attendee: Mapping[str, Any]) -> str:
    name = attendee.get("displayName") or attendee.get("name")
    email = _email(attendee.get("email"))
    return f"{name} <{email}>" if name and email else str(name or email)


def _lines(value: Any) -> list[str]:
    """Action items arrive as one newline-separated string (sometimes a list); speaker headers
    come as ``**Name**`` lines and are kept as ``Name:``."""
    raw = value if isinstance(value, list) else str(value or "").splitlines()
    lines = []
    for item in raw:
        line = _text(item)
        bold = re.fullmatch(r"\*\*(.+?)\*\*:?", line)
        line = bold.group(1).strip() + ":" if bold else line.lstrip("-*•· ").strip()
        if line:
            lines.append(line)
    return lines


def _words(value: Any) -> list[str]:
    """Keywords arrive as a list (sometimes one comma-separated string)."""
    items = value if isinstance(value, list) else re.split(r"[,\n]", str(value or ""))
    return [w for w in (_text(i) for i in items) if w]


def _text(value: Any) -> str:
    if type(value) is str:  # nearly always: skip the checks below
        return value.strip()
    if isinstance(value, list):
        return "\n".join(_text(v) for v in value if v).strip()
    return str(value).strip() if value is not None else ""


def _email(value: Any) -> str:
    return str(value or "").strip().lower()


def _float(value: Any) -> float | None:
    """Numbers may come as strings (the docs type sentence times as String)."""
    try:
        return round(float(value), 2)
    except (TypeError, ValueError):
        return None


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(v for v in values if v))


def _clock(seconds: float) -> str:
    """``12:34``, or ``1:02:03`` past the first hour."""
    total = int(seconds)
    hours, rest = divmod(total, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60:02d}:{rest % 60:02d}"


def _from_ms(epoch_ms: float) -> datetime:
    return datetime.fromtimestamp(epoch_ms / 1000, tz=timezone.utc)


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
