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

Summaries arrive after transcripts (``meeting_info.summary_status``: processing, processed,
failed, skipped). A transcript listed while its summary is processing is indexed as it is and
remembered in ``pending`` (a ``PendingSummaries`` store: the state table ``pending_summaries``
when built by ``make_source``, as every DAG run is); each run re-fetches the pending ones by
id (``transcript(id)``) until their summary is processed, failed or skipped, instead of
widening the overlap (which would re-list every meeting of the wider span). A window split
into parts re-fetches them in its first part only.

Scope: "A given API Key can access data of the user who generated the API Key and the users who
are part of the same team if the API Key is generated from a team admin account"
(https://docs.fireflies.ai/introduction); ``transcripts`` without ``user_id`` may therefore
list only the key owner's meetings. ``list_per_user: true`` lists each teammate's
(``users``, then ``transcripts(user_id:)`` per user, deduplicated), checked first to be an
admin's key (``user { is_admin }``); a member's key falls back to its own listing, logged.

Pruning lists ids and dates only (``IDS_QUERY``, 50 a request) over ``prune_history_days``
(default 365) before the listing; ``confirm_gone`` re-checks each candidate by id.

The permission pass (``access_scopes``) lists privacy and people only (``ACCESS_QUERY``, 50 a
request) from the oldest indexed meeting on, and derives access exactly as fetch does
(``transcript_access``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any, Protocol

import requests

from vector_sync.models import Document, FetchStats, MetadataValue, Segment, Window
from vector_sync.paging import follow_offsets
from vector_sync.sources import jsonapi
from vector_sync.sources.auth import credentials_error
from vector_sync.sources.base import AccessScope, Source, from_epoch_ms, iso_millis, skipped
from vector_sync.sources.projects import ProjectTagger
from vector_sync.transcript_text import action_lines, clean, email, header, keywords, number, turn_segment, turns, unique

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
_QUERY_ERROR_CODES = frozenset({"invalid_arguments", "GRAPHQL_VALIDATION_FAILED", "GRAPHQL_PARSE_FAILED", "BAD_REQUEST"})

# Only what to_document reads: sentences dominate a page (~900 an hour), so each of their
# fields counts (end_time and raw_text are left out).
TRANSCRIPT_FIELDS = """
    id title date duration organizer_email participants privacy transcript_url
    meeting_attendees { displayName email name }
    speakers { id name }
    sentences { index speaker_id speaker_name text start_time }
    summary { overview short_summary action_items keywords }
    meeting_info { summary_status }
"""
_WINDOW_ARGS = "$fromDate: DateTime, $toDate: DateTime, $limit: Int, $skip: Int"
_WINDOW_CALL = "transcripts(fromDate: $fromDate, toDate: $toDate, limit: $limit, skip: $skip)"
LIST_QUERY = f"query Transcripts({_WINDOW_ARGS}) {{ {_WINDOW_CALL} {{ {TRANSCRIPT_FIELDS} }} }}"
IDS_QUERY = f"query TranscriptIds({_WINDOW_ARGS}) {{ {_WINDOW_CALL} {{ id date }} }}"
# list_per_user: who the key is, and the team's users.
KEY_OWNER_QUERY = "query KeyOwner { user { user_id email is_admin } }"
USERS_QUERY = "query Users { users { user_id email } }"
ONE_QUERY = f"query Transcript($id: String!) {{ transcript(id: $id) {{ {TRANSCRIPT_FIELDS} }} }}"
EXISTS_QUERY = "query TranscriptExists($id: String!) { transcript(id: $id) { id } }"
# The permission pass: only what decides who may see a meeting (no sentences, no summary).
ACCESS_FIELDS = "id date privacy organizer_email participants meeting_attendees { email }"
ACCESS_QUERY = f"query TranscriptAccess({_WINDOW_ARGS}) {{ {_WINDOW_CALL} {{ {ACCESS_FIELDS} }} }}"


# summary_status values after which the summary no longer changes; anything else (processing,
# or a value not documented yet) waits, unless the field is absent altogether.
SUMMARY_FINAL = frozenset({"processed", "failed", "skipped"})
# A summary still processing this long after its meeting is given up on (counted and logged).
SUMMARY_GIVE_UP = timedelta(days=2)
# The scope key of the one fetch part that re-fetches pending summaries (``parts``).
RECHECK_PART = "recheck_pending"


class PendingSummaries(Protocol):
    """Transcripts indexed while their summary was processing, to re-fetch until it is done.

    Kept across runs in the state table ``pending_summaries`` (``state_options``: the
    ``SourcePendingSummaries`` of ``vector_sync.state``); ``MemoryPendingSummaries`` lasts as
    long as the source object."""

    def ids(self) -> dict[str, datetime]:
        """Pending transcript id -> its meeting's start."""
        ...

    def add(self, transcript_id: str, meeting_at: datetime) -> None: ...

    def discard(self, transcript_id: str) -> None: ...


class MemoryPendingSummaries:
    """``PendingSummaries`` in a dict, for a source built without a state store (tests)."""

    def __init__(self) -> None:
        self._ids: dict[str, datetime] = {}

    def ids(self) -> dict[str, datetime]:
        return dict(self._ids)

    def add(self, transcript_id: str, meeting_at: datetime) -> None:
        self._ids[transcript_id] = meeting_at

    def discard(self, transcript_id: str) -> None:
        self._ids.pop(transcript_id, None)


class FirefliesError(jsonapi.ApiError):
    """An error Fireflies reported in ``errors[]``; retryable unless a subclass says otherwise."""

    service = SERVICE


class FirefliesRateLimited(FirefliesError):
    """Rate limited past the session's retries (or inside an HTTP 200): Airflow retries the task."""


class FirefliesNotFound(FirefliesError):
    """The transcript is gone (deleted, or its privacy changed) between listing and fetching."""


class FirefliesQueryError(FirefliesError, jsonapi.ApiRequestError):
    """Fireflies refused our query (invalid_arguments, schema validation): retrying cannot help."""


class FirefliesClient(jsonapi.JsonApiClient):
    """The GraphQL endpoint: every answer's ``errors[]`` is checked, whatever its HTTP status."""

    service = SERVICE
    secret = "API key"
    default_url = ENDPOINT
    error = FirefliesError
    request_error = FirefliesQueryError

    @property
    def endpoint(self) -> str:
        return self.base_url

    def query(self, gql: str, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Run one query and return its ``data``; raise on any ``errors[]`` entry."""
        return self.post("", {"query": gql, "variables": dict(variables or {})})["data"]

    def check(self, response: requests.Response, body: Any) -> None:
        errors = body.get("errors") if isinstance(body, dict) else None
        if errors:
            raise self._error(errors, response.status_code)
        rejected = credentials_error(self.conn_id, SERVICE, response.status_code, None, f"HTTP {response.status_code}")
        if rejected is not None:
            raise rejected
        if not response.ok or not isinstance(body, dict) or not isinstance(body.get("data"), dict):
            raise FirefliesError(response.status_code, f"unexpected answer: {response.text[:200]!r}", "bad_response")

    def _error(self, errors: list[Any], http_status: int) -> Exception:
        entries = [e for e in errors if isinstance(e, dict)] or [{"message": str(errors)}]
        codes = [str(e.get("code") or (e.get("extensions") or {}).get("code") or "") for e in entries]
        # The most decisive error wins when several are reported.
        index = next((codes.index(c) for c in ("auth_failed", "too_many_requests") if c in codes), 0)
        code, message = codes[index], str(entries[index].get("message") or "")
        rejected = credentials_error(self.conn_id, SERVICE, http_status, code, message)
        if rejected is not None:
            return rejected
        if code == "too_many_requests":
            return FirefliesRateLimited(http_status, message, code)
        if code == "object_not_found":
            return FirefliesNotFound(http_status, message, code)
        if code in _QUERY_ERROR_CODES or http_status == 400:
            return FirefliesQueryError(http_status, message, code or "invalid_query")
        return FirefliesError(http_status, message, code or "unknown")


def make_client(
    endpoint: str | None,
    api_key: str,
    *,
    conn_id: str = "fireflies_default",
    session: requests.Session | None = None,
    **session_options: Any,
) -> FirefliesClient:
    """A client for ``endpoint`` (default: Fireflies' own) authenticating with ``api_key``;
    ``session_options`` go to ``make_session`` (``total_retries``, ``timeout_s``...)."""
    return jsonapi.make_client(FirefliesClient, endpoint, api_key, conn_id=conn_id, session=session, **session_options)


class FirefliesSource(Source):
    """Meetings whose date lies in the window, each with its summary and whole transcript."""

    name = "fireflies"
    keep_unmapped = True  # most meetings name no project; only inactive-only ones are dropped
    restricted_access = ("shared", ())  # a meeting the key no longer lists: shared with nobody

    def __init__(self, client: Any, settings: Any, stats: FetchStats | None = None, *, pending: PendingSummaries | None = None) -> None:
        super().__init__(client, settings, stats)
        self.pending: PendingSummaries = pending if pending is not None else MemoryPendingSummaries()
        self._rechecked = False
        self._users: list[str] | None = None

    @classmethod
    def state_options(cls, state: Any) -> dict[str, Any]:
        """The pending summaries live in the state store, so the next run (another process) has them."""
        return {"pending": state.pending_summaries.of(cls.name)}

    def parts(self, window: Window) -> list[dict[str, Any]]:
        """The default time slices; the first re-fetches the pending summaries, once per run."""
        scopes = super().parts(window)
        if len(scopes) > 1:
            scopes[0] = {**scopes[0], RECHECK_PART: True}
        return scopes

    def fetch_part(self, window: Window, scope: dict[str, Any]) -> Iterator[Document]:
        """The part's slice; only the part marked by ``parts`` (or a whole window) re-fetches
        the pending summaries, so parallel parts never fetch one transcript twice."""
        if scope and not scope.get(RECHECK_PART):
            self._rechecked = True  # another part's job
        return self.fetch(window)

    def fetch(self, window: Window) -> Iterator[Document]:
        """Yield one document per meeting that started within ``[start, end)``, then those of
        earlier meetings whose summary was pending and is now done."""
        tagger = ProjectTagger.from_options(self.settings.options)
        seen: set[str] = set()
        for raw in self._transcripts(window):
            tid = raw.get("id") if isinstance(raw, dict) else None
            if tid and tid in seen:  # skip paging shifts by one when a transcript appears meanwhile
                continue
            seen.add(tid)
            document = to_document(raw, tagger, self.stats)
            if document is not None and window.contains(document.updated_at):  # toDate is inclusive at the API
                self._note_summary(raw, document)
                yield document
        if not self._rechecked:  # once per source object, however many parts it fetches
            self._rechecked = True
            yield from self._recheck_pending(seen, tagger)

    def _note_summary(self, raw: Mapping[str, Any], document: Document) -> None:
        """Remember a transcript whose summary is still processing; forget a finished one."""
        if summary_pending(raw):
            self.pending.add(str(raw["id"]), document.updated_at)
        else:
            self.pending.discard(str(raw["id"]))

    def _recheck_pending(self, seen: set[str], tagger: ProjectTagger) -> Iterator[Document]:
        """Re-fetch each pending transcript not listed in this run (one ``transcript(id)`` each)."""
        now = self.listing_time()
        for tid, meeting_at in self.pending.ids().items():
            if tid in seen:
                continue
            try:
                raw = self.client.query(ONE_QUERY, {"id": tid}).get("transcript")
            except FirefliesNotFound:
                raw = None
            if not isinstance(raw, dict):
                self.pending.discard(tid)  # gone: the prune removes its document
                continue
            if summary_pending(raw) and now - meeting_at < SUMMARY_GIVE_UP:
                continue  # still processing: next run
            if summary_pending(raw):
                skipped(self.stats, "summary never arrived", f"Fireflies transcript {tid} (summary still processing)", log)
            self.pending.discard(tid)
            document = to_document(raw, tagger, self.stats)
            if document is not None:
                yield document

    def _transcripts(self, window: Window) -> Iterator[Any]:
        if self.settings.option("fetch_mode") != "detail":
            yield from self._list(LIST_QUERY, window, read_ahead=True)
            return
        asked: set[str] = set()
        for item in self._list(IDS_QUERY, window):
            tid, date_ms = (item.get("id"), item.get("date")) if isinstance(item, dict) else (None, None)
            if isinstance(date_ms, (int, float)) and not window.contains(from_epoch_ms(date_ms)):
                continue  # on the inclusive toDate: not worth a request
            if tid in asked:  # listed for two teammates (list_per_user)
                continue
            asked.add(tid)
            try:
                transcript = self.client.query(ONE_QUERY, {"id": tid}).get("transcript")
            except FirefliesNotFound:
                transcript = None
            if transcript is None:
                skipped(self.stats, "transcript not found", f"Fireflies transcript {tid} (gone since the listing)", log)
            else:
                yield transcript

    def _list(self, query: str, window: Window, read_ahead: bool = False) -> Iterator[Any]:
        """Every item of ``query`` over ``window``, skip/limit pages (a short page is the last).

        ``read_ahead`` (list mode) asks for the next page while this one becomes documents, so
        the vendor's serializing and the transfer overlap our own work; detail mode's pages of
        ids are small and its own queries use the session meanwhile.
        """
        page_size = int(self.settings.option("page_size"))
        bounds = {"fromDate": iso_millis(window.start), "toDate": iso_millis(window.end)}

        def listing(user_id: str | None) -> Iterator[Any]:
            gql = _for_user(query) if user_id else query
            extra = {"userId": user_id} if user_id else {}

            def fetch_page(skip: int) -> tuple[list[Any], None]:
                data = self.client.query(gql, {**bounds, **extra, "limit": page_size, "skip": skip})
                return list(data.get("transcripts") or []), None  # no total: a short page ends it

            return follow_offsets(fetch_page, page_size=page_size, read_ahead=read_ahead)

        users = self._team_user_ids()
        if not users:
            return listing(None)
        # A meeting two teammates attended is listed for both: callers skip ids already seen.
        return (item for user_id in users for item in listing(user_id))

    def _team_user_ids(self) -> list[str]:
        """The teammates to list one by one (``list_per_user``), once per source; [] lists
        the key's own scope (option off, or a key that is not an admin's)."""
        if not self.settings.option("list_per_user"):
            return []
        if self._users is None:
            owner = self.client.query(KEY_OWNER_QUERY).get("user") or {}
            if not owner.get("is_admin"):
                log.warning("Fireflies list_per_user needs an admin's API key: listing the key owner's meetings only")
                self._users = []
            else:
                found = self.client.query(USERS_QUERY).get("users") or []
                self._users = [str(u["user_id"]) for u in found if isinstance(u, dict) and u.get("user_id")]
        return self._users

    # --- permissions ---------------------------------------------------------------------

    def access_scopes(self, since: datetime | None = None) -> Iterator[AccessScope]:
        """Each meeting's access now, from ``since`` (the oldest indexed meeting) to the
        listing time: privacy and people only, 50 meetings a request."""
        start = since or from_epoch_ms(0)
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

    def live_ids(self) -> Iterator[str]:
        """``fireflies:{id}`` of every meeting in ``live_span``: ids and dates only, 50 a request."""
        span = self.live_span() or (from_epoch_ms(0), self.listing_time())
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


def _for_user(query: str) -> str:
    """``query`` listing one user's meetings (``transcripts(..., user_id: $userId)``)."""
    return query.replace(_WINDOW_ARGS, f"{_WINDOW_ARGS}, $userId: String", 1).replace("skip: $skip)", "skip: $skip, user_id: $userId)", 1)


def summary_pending(raw: Mapping[str, Any]) -> bool:
    """Whether the transcript's summary is still to come (``meeting_info.summary_status``)."""
    status = _summary_status(raw)
    return status is not None and status.lower() not in SUMMARY_FINAL


def to_document(raw: Any, tagger: ProjectTagger, stats: FetchStats | None = None) -> Document | None:
    """The meeting's document: header and summary, then one segment per speaker turn; None
    (counted in ``stats``) for a malformed or empty transcript."""
    what = f"Fireflies transcript {raw.get('id') or '?' if isinstance(raw, dict) else '?'}"
    if not isinstance(raw, dict) or not raw.get("id"):
        return skipped(stats, "malformed transcript", what, log)
    try:
        started = from_epoch_ms(float(raw["date"]))
    except (KeyError, TypeError, ValueError, OverflowError):
        return skipped(stats, "malformed transcript", what, log)
    tid, title = str(raw["id"]), str(raw.get("title") or "Untitled meeting").strip()
    summary = raw.get("summary") if isinstance(raw.get("summary"), dict) else {}
    overview = clean(summary.get("overview"))
    actions, words = action_lines(summary.get("action_items")), keywords(summary.get("keywords"))
    spoken = list(turns(raw.get("sentences"), raw.get("speakers")))
    if not spoken and not overview and not actions:
        return skipped(stats, "empty transcript", what, log)

    organizer, attendees, participants, attendee_emails = _people(raw)
    minutes = number(raw.get("duration"))
    tags = tagger(title, overview, clean(summary.get("short_summary")), *actions, *words)
    access_type, access_list = _access(raw.get("privacy"), organizer, unique([organizer, *attendee_emails]))

    intro = header(title, started, minutes, organizer, attendees, participants, overview, actions, words)
    segments = (Segment(intro), *(turn_segment(*turn) for turn in spoken))
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
        "summary_status": _summary_status(raw),
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


def _summary_status(raw: Mapping[str, Any]) -> str | None:
    info = raw.get("meeting_info") if isinstance(raw.get("meeting_info"), Mapping) else {}
    status = info.get("summary_status")
    return str(status) if status else None


def transcript_access(raw: Mapping[str, Any]) -> tuple[str, tuple[str, ...]]:
    """Who may see a meeting, from its privacy and people (what fetch indexes it with)."""
    organizer, _, _, attendee_emails = _people(raw)
    return _access(raw.get("privacy"), organizer, unique([organizer, *attendee_emails]))


def _people(raw: Mapping[str, Any]) -> tuple[str, list[dict], list[str], list[str]]:
    """(organizer email, attendee objects, participant emails, every attendee email)."""
    organizer = email(raw.get("organizer_email"))
    attendees = [a for a in raw.get("meeting_attendees") or [] if isinstance(a, dict)]
    participants = [email(p) for p in raw.get("participants") or [] if p]
    attendee_emails = unique([*(email(a.get("email")) for a in attendees), *participants])
    return organizer, attendees, participants, attendee_emails


def _access(privacy: Any, organizer: str, people: list[str]) -> tuple[str, tuple[str, ...]]:
    """``("all", ())`` for team-wide meetings, else ``("shared", emails allowed to see it)``."""
    level = str(privacy or "").lower()
    if level in TEAM_WIDE_PRIVACY:
        return "all", ()
    if level == OWNER_ONLY_PRIVACY and organizer:
        return "shared", (organizer,)
    return "shared", tuple(people)
