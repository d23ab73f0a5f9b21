"""Tempo Cloud worklogs as documents: one per worklog, named with Jira's issue and person.

Tempo has no SDK: ``TempoClient`` sends requests through the shared ``requests`` session
(``vector_sync.http``), whose urllib3 ``Retry`` handles 429/5xx and ``Retry-After``.

Incremental: ``GET /4/worklogs?updatedFrom=`` finds worklogs created *or edited* since the
window start, whatever their work date (the old system keyed on the work date and missed
back-dated and edited entries). Tempo's help centre says of its v3 API that ``updatedFrom``
"does not work in conjunction with other parameters"; v4's spec says nothing either way. So
``updatedFrom`` is sent without any filter, with ``orderBy=UPDATED`` (newest update first), and
the listing stops at the first worklog updated before the window start: one page per run
whether Tempo honours ``updatedFrom`` there or ignores it. ``updatedFrom`` has second precision
and no upper bound: worklogs updated before the window start or at/after its end are dropped
here and left to their own window. Work-date ranges (``from``/``to``) are used only where
``updatedFrom`` is not: the partitions of a backfill and the prune's listing.

Worklogs carry only ``issue.id`` and ``author.accountId``. Both are resolved through Jira in
bulk and cached for the run: one ``id in (...)`` search per 100 issues, one user look-up per
person. A worklog whose issue Jira does not know (deleted, or hidden from the Jira user) is
skipped and counted, never guessed from its description.

Deletions come from Tempo's audit log (``POST /4/papertrail/search``, Deleted worklog events;
the older ``/papertrail/1/events/deleted/types/worklog`` is deprecated in the v4 spec). The spec
says only that an event's ``entityId`` is the "Identifier of the entity being audited"; the
deprecated events carried both a Tempo and a Jira worklog id. So each id is read both ways: as
a Tempo id, and translated from a Jira id (``POST /4/worklogs/jira-to-tempo``). Either reading
could name a worklog that still exists (a Jira id is some other worklog's Tempo id), so a
candidate is removed only once ``GET /4/worklogs/{id}`` answers 404; what neither reading
confirms is left to the prune.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

import requests
from jira import JIRA

from vector_sync.config import SourceSettings
from vector_sync.errors import FatalError
from vector_sync.models import Document, FetchStats, MetadataValue, Window, parse_time
from vector_sync.paging import follow_tokens
from vector_sync.sources import jsonapi
from vector_sync.sources.base import Source, iso_millis, skipped
from vector_sync.sources.jira_names import IssueInfo, JiraNames
from vector_sync.sources.projects import names_of

log = logging.getLogger(__name__)

# Regional hosts (api.eu.tempo.io, api.us.tempo.io) go in the connection's host.
API_BASE = "https://api.tempo.io"
SERVICE = "Tempo"
WORKLOGS_PATH = "/4/worklogs"
PAPERTRAIL_PATH = "/4/papertrail/search"
JIRA_TO_TEMPO_PATH = "/4/worklogs/jira-to-tempo"


class TempoError(jsonapi.ApiError):
    """Tempo answered with an error that a later retry may not see (5xx, 429 past retries)."""

    service = SERVICE


class TempoRequestError(TempoError, jsonapi.ApiRequestError):
    """Tempo refused the request's parameters (400): retrying cannot help."""


class TempoClient(jsonapi.JsonApiClient):
    """Tempo's base URL and session, and the Jira client that names issues and people."""

    service = SERVICE
    default_url = API_BASE
    error = TempoError
    request_error = TempoRequestError

    def __init__(
        self,
        session: requests.Session,
        base_url: str | None = None,
        conn_id: str = "tempo_default",
        *,
        jira: JIRA,
        jira_conn_id: str = "jira_default",
    ) -> None:
        super().__init__(session, base_url, conn_id)
        self.jira = jira
        self.jira_conn_id = jira_conn_id


def make_client(
    base_url: str | None,
    token: str,
    jira: JIRA,
    *,
    conn_id: str = "tempo_default",
    jira_conn_id: str = "jira_default",
    session: requests.Session | None = None,
    **session_options: Any,
) -> TempoClient:
    """A client for Tempo at ``base_url`` (default: the global host) with a bearer ``token``;
    ``session_options`` go to ``make_session`` (``total_retries``, ``timeout_s``...)."""
    return jsonapi.make_client(
        TempoClient,
        base_url,
        token,
        conn_id=conn_id,
        session=session,
        client_options={"jira": jira, "jira_conn_id": jira_conn_id},
        **session_options,
    )


@dataclass(frozen=True)
class Worklog:
    """The fields of a Tempo worklog a document needs."""

    id: str
    issue_id: int
    account_id: str
    seconds: int
    billable_seconds: int | None
    work_date: date
    description: str
    updated_at: datetime
    jira_worklog_id: str | None = None  # only Tempo v3 sent it; used for the link when present


class TempoSource(Source):
    """Worklogs created or edited within a window, named with their Jira issue and author."""

    name = "tempo"
    keep_unmapped = False  # every worklog belongs to an issue's project

    def __init__(self, client: TempoClient, settings: SourceSettings, stats: FetchStats | None = None) -> None:
        super().__init__(client, settings, stats)
        # Issues and people named through Jira, cached for the run (a source lives for one task).
        self.names = JiraNames(client.jira, client.jira_conn_id)
        self._project_names = names_of(settings.options)

    def fetch(self, window: Window) -> Iterator[Document]:
        """Yield one document per worklog with ``updatedAt`` in ``[start, end)``: ``updatedFrom``
        alone, newest update first, stopping at the window start."""
        return self._documents_of(window, self._updated_since(window.start))

    def parts(self, window: Window) -> list[dict[str, Any]]:
        """Work-date ranges, cut where the window's time slices are cut.

        The API bounds updates only from below (``updatedFrom``), and whether it combines with
        ``from``/``to`` is not documented: a part lists its work dates without ``updatedFrom``
        and keeps what was updated in the window. Together the parts list the history once
        (a backfill's cost), disjointly; the first range reaches back to ``history_start``
        (back-dated edits), the last ``future_days`` ahead.
        """
        slices = super().parts(window)
        if len(slices) == 1:
            return slices
        cuts = [Window.from_json(part).start.date() for part in slices[1:]]
        firsts = [self._history_start(), *cuts]
        lasts = [cut - timedelta(days=1) for cut in cuts] + [window.end.date() + self._future()]
        ranges = [{"from": a.isoformat(), "to": b.isoformat()} for a, b in zip(firsts, lasts) if a <= b]
        return ranges if len(ranges) > 1 else [{}]

    def fetch_part(self, window: Window, scope: dict[str, Any]) -> Iterator[Document]:
        """The window's worklogs of the part's work dates (``from``..``to``, inclusive)."""
        if not scope:
            return self.fetch(window)
        listing = self._listing({"from": scope["from"], "to": scope["to"]})
        return self._documents_of(window, listing)

    def _documents_of(self, window: Window, listing: Iterable[Any]) -> Iterator[Document]:
        """The listed worklogs updated in the window, as documents.

        Worklogs wait in ``pending`` until a full batch of unknown issue ids has gathered, so
        a window costs ``ceil(distinct issues / 100)`` Jira searches however Tempo pages.
        """
        batch = int(self.settings.option("resolve_batch_size"))
        pending: list[Worklog] = []
        unknown: dict[int, None] = {}  # ordered set of ids waiting for a search
        seen: set[str] = set()  # offset paging over a changing listing can repeat a worklog
        for raw in listing:
            worklog = parse_worklog(raw, self.stats)
            if worklog is None:
                continue
            if not window.contains(worklog.updated_at) or worklog.id in seen:  # updatedFrom: seconds, no upper bound
                continue
            seen.add(worklog.id)
            if worklog.issue_id in self.names.issues:
                yield from self._documents([worklog])
                continue
            pending.append(worklog)
            unknown[worklog.issue_id] = None
            if len(unknown) >= batch:
                self.names.resolve(list(unknown)[:batch])
                unknown = {i: None for i in unknown if i not in self.names.issues}
                ready = [w for w in pending if w.issue_id in self.names.issues]
                pending = [w for w in pending if w.issue_id not in self.names.issues]
                yield from self._documents(ready)
        ids = list(unknown)
        for start in range(0, len(ids), batch):
            self.names.resolve(ids[start : start + batch])
        yield from self._documents(pending)

    def removed_ids(self, window: Window) -> Iterator[str]:
        """``tempo:{id}`` of worklogs deleted within ``[start, end)`` (Tempo's audit log)."""
        start = window.start
        lookback = self.settings.option("deleted_lookback_days")
        if lookback:
            start = max(start, datetime.now(timezone.utc) - timedelta(days=float(lookback)))
        if start >= window.end:
            log.info("Tempo keeps deletions for 180 days: none listed for %s (pruning finds them)", window)
            return
        body = {"entityType": ["worklog"], "action": ["Deleted"], "from": iso_millis(start), "to": iso_millis(window.end)}
        size = int(self.settings.option("deleted_page_size"))

        def fetch_page(token: str | None) -> tuple[list[Any], str | None]:
            params: dict[str, Any] = {"limit": size}
            if token:
                params["nextPageToken"] = token
            page = self.client.post(PAPERTRAIL_PATH, body, params)
            results = page.get("results") or []
            return results, (page.get("metadata") or {}).get("nextPageToken") if results else None

        entities: dict[str, None] = {}  # ordered set of the events' entity ids
        for event in follow_tokens(fetch_page, what="Tempo papertrail search"):
            if not isinstance(event, dict) or event.get("action") != "Deleted" or event.get("entityType") != "worklog":
                continue
            entity = str(event.get("entityId") or "")
            try:
                at = parse_time(event["timestamp"])
            except (KeyError, TypeError, ValueError):
                at = window.start  # no usable time: inside the window the search was bounded to
            if entity.isdigit() and at < window.end:  # `to` is inclusive
                entities[entity] = None
        if not entities:
            return
        candidates = {**entities, **dict.fromkeys(self._tempo_ids_of_jira_ids(list(entities)))}
        gone = [worklog_id for worklog_id in candidates if self._is_gone(worklog_id)]
        if len(gone) < len(entities):
            log.warning("Tempo: %d deleted-worklog events not confirmed by a 404 (left to the prune)", len(entities) - len(gone))
        yield from (f"tempo:{worklog_id}" for worklog_id in gone)

    def _tempo_ids_of_jira_ids(self, ids: list[str]) -> Iterator[str]:
        """The Tempo ids of the worklogs whose Jira worklog ids are ``ids`` (those Tempo still maps)."""
        size = int(self.settings.option("page_size"))
        body = {"jiraWorklogIds": [int(i) for i in ids]}

        def fetch_page(link: str | None) -> tuple[list[Any], str | None]:
            # A next link pages the same search: the body goes with it.
            page = self.client.post(link or JIRA_TO_TEMPO_PATH, body, None if link else {"offset": 0, "limit": size})
            results = page.get("results") or []
            return results, (page.get("metadata") or {}).get("next") if results else None

        for pair in follow_tokens(fetch_page, what="Tempo jira-to-tempo"):
            if isinstance(pair, dict) and pair.get("tempoWorklogId") is not None:
                yield str(pair["tempoWorklogId"])

    def _is_gone(self, worklog_id: str) -> bool:
        """Whether Tempo answers 404 for the worklog (one request)."""
        try:
            self.client.get(f"{WORKLOGS_PATH}/{worklog_id}")
        except TempoError as exc:
            if exc.status == 404:
                return True
            raise
        return False

    def live_ids(self) -> Iterator[str]:
        """``tempo:{id}`` of every worklog Tempo still has, for pruning."""
        today = datetime.now(timezone.utc).date()
        for raw in self._listing({"from": self._history_start().isoformat(), "to": (today + self._future()).isoformat()}):
            if isinstance(raw, dict) and raw.get("tempoWorklogId") is not None:
                yield f"tempo:{raw['tempoWorklogId']}"

    # --- Tempo listing -----------------------------------------------------------------------

    def _updated_since(self, start: datetime) -> Iterator[Any]:
        """Worklogs updated since ``start``, newest update first: ``updatedFrom`` with nothing
        beside it but the order, stopping once a page reaches updates older than ``start``
        (so a Tempo that ignored ``updatedFrom`` costs no more than one that honours it)."""
        # Floored to the second (the API's precision): nothing of the window is lost.
        since = start.replace(microsecond=0)
        params = {"updatedFrom": since.strftime("%Y-%m-%dT%H:%M:%SZ"), "orderBy": "UPDATED"}
        return self._listing(params, stop=lambda raw: _updated(raw) is not None and _updated(raw) < since)

    def _listing(self, params: dict[str, Any], stop: Callable[[Any], bool] | None = None) -> Iterator[Any]:
        """Every worklog ``params`` select, following ``metadata.next`` until it is absent (a
        repeated link raises) or a page holds a worklog ``stop`` accepts."""
        params = {**params, "offset": 0, "limit": int(self.settings.option("page_size"))}

        def fetch_page(link: str | None) -> tuple[list[Any], str | None]:
            try:
                page = self.client.get(link or WORKLOGS_PATH, None if link else params)
            except TempoError as exc:
                if exc.status == 404:  # the spec's meaning for this listing
                    raise FatalError(f"connection '{self.client.conn_id}': the Tempo token may not view worklogs ({exc})") from None
                raise
            results = page.get("results") or []
            if stop is not None and any(stop(raw) for raw in results):
                return results, None
            return results, (page.get("metadata") or {}).get("next") if results else None

        return follow_tokens(fetch_page, what="Tempo worklogs")

    def _history_start(self) -> date:
        value = self.settings.option("history_start")
        try:
            return date.fromisoformat(str(value))
        except ValueError:
            raise FatalError(f"tempo option history_start must be a yyyy-MM-dd date, got {value!r}") from None

    def _future(self) -> timedelta:
        return timedelta(days=int(self.settings.option("future_days")))

    # --- resolution through Jira ---------------------------------------------------------------

    def _documents(self, worklogs: Iterable[Worklog]) -> Iterator[Document]:
        site = self.client.jira.server_url
        for worklog in worklogs:
            issue = self.names.issues.get(worklog.issue_id)
            if issue is None:  # deleted, or hidden from the Jira user: never guessed
                skipped(self.stats, "unresolvable issue", f"Tempo worklog {worklog.id} (Jira has no issue {worklog.issue_id})", log)
                continue
            author = self.names.author(worklog.account_id)
            yield to_document(worklog, issue, author, site, self._project_names.get(issue.project_key))


def _updated(raw: Any) -> datetime | None:
    try:
        return parse_time(raw["updatedAt"])
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


def parse_worklog(raw: Any, stats: FetchStats | None = None) -> Worklog | None:
    """The worklog's fields; None (counted in ``stats``) when the payload is unusable.

    The first half of the converter: the document needs the issue and author, resolved
    through Jira in batches (``TempoSource._documents``)."""
    what = f"Tempo worklog {raw.get('tempoWorklogId', '?') if isinstance(raw, dict) else '?'}"
    if not isinstance(raw, dict):
        return skipped(stats, "malformed worklog", what, log)
    try:
        issue_id = int(raw["issue"]["id"])
        seconds = int(raw["timeSpentSeconds"])
        billable = raw.get("billableSeconds")
        author = raw.get("author") if isinstance(raw.get("author"), dict) else {}
        return Worklog(
            id=str(int(raw["tempoWorklogId"])),
            issue_id=issue_id,
            account_id=str(author.get("accountId") or ""),
            seconds=seconds,
            billable_seconds=int(billable) if billable is not None else None,
            work_date=date.fromisoformat(str(raw["startDate"])[:10]),
            description=str(raw.get("description") or "").strip(),
            updated_at=parse_time(raw["updatedAt"]),
            jira_worklog_id=str(raw["jiraWorklogId"]) if raw.get("jiraWorklogId") else None,
        )
    except (KeyError, TypeError, ValueError, AttributeError):
        return skipped(stats, "malformed worklog", what, log)


def to_document(worklog: Worklog, issue: IssueInfo, author: str, site_url: str, project_name: str | None = None) -> Document:
    """One readable sentence (plus billable time and project) and flat metadata."""
    day = worklog.work_date.isoformat()
    spent = format_duration(worklog.seconds)
    sentence = f"{author} logged {spent} on {issue.key} {issue.summary} on {day}".replace("  ", " ").strip()
    lines = [f"{sentence}: {worklog.description}" if worklog.description else f"{sentence}."]
    if worklog.billable_seconds is not None and worklog.billable_seconds != worklog.seconds:
        lines.append(f"Billable: {format_duration(worklog.billable_seconds)}.")
    if project_name:
        lines.append(f"Project: {project_name} ({issue.project_key}).")
    url = f"{site_url.rstrip('/')}/browse/{issue.key}"
    if worklog.jira_worklog_id:  # Tempo v4 has no Jira worklog id: then the issue itself
        url += f"?focusedWorklogId={worklog.jira_worklog_id}"
    hours = round(worklog.seconds / 3600, 4)
    metadata: dict[str, MetadataValue | None] = {
        "source": "tempo",
        "worklog_id": worklog.id,
        "issue_key": issue.key,
        "issue_summary": issue.summary or None,
        "project_key": issue.project_key,
        "author": author,
        "author_account_id": worklog.account_id or None,
        "hours": hours,
        "billable_hours": round(worklog.billable_seconds / 3600, 4) if worklog.billable_seconds is not None else hours,
        "work_date": day,
        # The work date (start of day, UTC), so `--since/--until` select by when the work was done.
        "timestamp_epoch": int(datetime.combine(worklog.work_date, datetime.min.time(), timezone.utc).timestamp()),
        "updated_at": worklog.updated_at.isoformat(),
        "access_type": "all",
    }
    return Document(
        id=f"tempo:{worklog.id}",
        source="tempo",
        title=f"Worklog: {author} on {issue.key} ({day})",
        text="\n".join(lines),
        url=url,
        updated_at=worklog.updated_at,
        projects=(issue.project_key,),
        metadata={k: v for k, v in metadata.items() if v is not None},  # Pinecone rejects nulls
    )


def format_duration(seconds: int) -> str:
    """``2h 30m``, ``45m``, ``8h`` (Tempo's own notation)."""
    minutes = round(seconds / 60)
    hours, rest = divmod(minutes, 60)
    if hours and rest:
        return f"{hours}h {rest}m"
    return f"{hours}h" if hours else f"{rest}m"
