"""Tempo Cloud worklogs as documents: one per worklog, named with Jira's issue and person.

Tempo has no SDK: ``TempoClient`` sends requests through the shared ``requests`` session
(``vector_sync.http``), whose urllib3 ``Retry`` handles 429/5xx and ``Retry-After``.

Incremental: ``GET /4/worklogs?updatedFrom=`` finds worklogs created *or edited* since the
window start, whatever their work date, so a wide ``from``/``to`` work-date range keeps
back-dated and edited entries in (the old system keyed on the work date and missed both).
``updatedFrom`` has second precision and no upper bound: worklogs updated before the window
start or at/after its end are dropped here and left to their own window.

Worklogs carry only ``issue.id`` and ``author.accountId``. Both are resolved through Jira in
bulk and cached for the run: one ``id in (...)`` search per 100 issues, one user look-up per
person. A worklog whose issue Jira does not know (deleted, or hidden from the Jira user) is
skipped and counted, never guessed from its description.

Deletions come from Tempo's audit log (``POST /4/papertrail/search``, Deleted worklog events;
the older ``/papertrail/1/events/deleted/types/worklog`` is deprecated in the v4 spec).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any, Iterable, Iterator, Mapping
from urllib.parse import urlsplit, urlunsplit

import requests
from jira import JIRA, JIRAError

from vector_sync.config import SourceSettings
from vector_sync.errors import CredentialsError, FatalError, VectorSyncError
from vector_sync.http import make_session
from vector_sync.models import Document, FetchStats, MetadataValue, Window, parse_time
from vector_sync.paging import follow_tokens
from vector_sync.sources.base import Source
from vector_sync.sources.jira import _credentials_checked

log = logging.getLogger(__name__)

# Regional hosts (api.eu.tempo.io, api.us.tempo.io) go in the connection's host.
API_BASE = "https://api.tempo.io"
SERVICE = "Tempo"
WORKLOGS_PATH = "/4/worklogs"
PAPERTRAIL_PATH = "/4/papertrail/search"
ISSUE_FIELDS = ("summary", "project")
_AUTH_STATUSES = (401, 403)
# Jira names an id it does not know in its 400: "An issue with key '99001' does not exist...".
_QUOTED_NUMBER = re.compile(r"'(\d+)'")


class TempoError(VectorSyncError):
    """Tempo answered with an error that a later retry may not see (5xx, 429 past retries)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"Tempo HTTP {status}: {message}")
        self.status = status


class TempoRequestError(TempoError, FatalError):
    """Tempo refused the request's parameters (400): retrying cannot help."""


@dataclass
class TempoClient:
    """Tempo's base URL and session, and the Jira client that names issues and people."""

    session: requests.Session
    jira: JIRA
    base_url: str = API_BASE
    conn_id: str = "tempo_default"
    jira_conn_id: str = "jira_default"

    def get(self, path_or_url: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        return self._call("GET", path_or_url, params=params)

    def post(self, path: str, body: Mapping[str, Any], params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        return self._call("POST", path, params=params, json=dict(body))

    def url(self, path_or_url: str) -> str:
        """``path`` below the base URL; an absolute link (``metadata.next``) keeps its path and
        query but is sent to our base URL's host, so the token never goes to another host."""
        base = urlsplit(self.base_url)
        if "://" not in path_or_url:
            return self.base_url.rstrip("/") + "/" + path_or_url.lstrip("/")
        link = urlsplit(path_or_url)
        return urlunsplit((base.scheme, base.netloc, link.path, link.query, ""))

    def _call(self, method: str, path_or_url: str, **kwargs: Any) -> dict[str, Any]:
        response = self.session.request(method, self.url(path_or_url), **kwargs)
        if response.ok:
            try:
                body = response.json()
            except ValueError:
                body = None
            if isinstance(body, dict):
                return body
            raise TempoError(response.status_code, f"not a JSON object: {response.text[:200]!r}")
        message = _error_message(response)
        if response.status_code in _AUTH_STATUSES:
            raise CredentialsError(self.conn_id, SERVICE, f"HTTP {response.status_code} {message}".strip())
        if response.status_code == 400:
            raise TempoRequestError(400, f"{method} {urlsplit(response.url).path}: {message}")
        raise TempoError(response.status_code, f"{method} {urlsplit(response.url).path}: {message}")


def _error_message(response: requests.Response) -> str:
    """Tempo's ``{"errors": [{"message"}]}`` (or ``{"message"}``) as one line; never headers."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict):
        errors = body.get("errors")
        if isinstance(errors, list):
            return "; ".join(str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in errors)
        if body.get("message"):
            return str(body["message"])
    return str(body)[:200]


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
    """A client for Tempo at ``base_url`` (default: the global host) with a bearer ``token``.

    ``session_options`` go to ``make_session`` (``total_retries``, ``timeout_s``...).
    """
    if not token:
        raise FatalError(f"connection '{conn_id}' has no Tempo API token: set its password")
    session = session or make_session(**session_options)
    session.headers["Authorization"] = f"Bearer {token}"
    return TempoClient(session, jira, (base_url or API_BASE).rstrip("/"), conn_id, jira_conn_id)


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


@dataclass(frozen=True)
class IssueInfo:
    key: str
    summary: str
    project_key: str


class TempoSource(Source):
    """Worklogs created or edited within a window, named with their Jira issue and author."""

    name = "tempo"
    keep_unmapped = False  # every worklog belongs to an issue's project

    def __init__(self, client: TempoClient, settings: SourceSettings, stats: FetchStats | None = None) -> None:
        super().__init__(client, settings, stats)
        # Caches for the run (a source object lives for one task).
        self._issues: dict[int, IssueInfo | None] = {}  # None: Jira does not know the id
        self._authors: dict[str, str] = {}
        self._project_names = _project_names(settings.options)

    def fetch(self, window: Window) -> Iterator[Document]:
        """Yield one document per worklog with ``updatedAt`` in ``[start, end)``."""
        return self._fetch(window, self._history_start(), window.end.date() + self._future())

    def partitions(self, window: Window) -> list[dict[str, Any]]:
        """Work-date ranges, cut where the window's time slices are cut.

        The API bounds updates only from below (``updatedFrom``): time slices would each list
        every later update too. Work dates (``from``/``to``) split the listing disjointly, and
        work is mostly logged when it is done, so ranges cut at the slices' dates share a
        window's worklogs about as evenly; the first range reaches back to ``history_start``
        (back-dated edits), the last ``future_days`` ahead.
        """
        slices = super().partitions(window)
        if len(slices) == 1:
            return slices
        cuts = [Window.from_json(part).start.date() for part in slices[1:]]
        firsts = [self._history_start(), *cuts]
        lasts = [cut - timedelta(days=1) for cut in cuts] + [window.end.date() + self._future()]
        ranges = [{"from": a.isoformat(), "to": b.isoformat()} for a, b in zip(firsts, lasts) if a <= b]
        return ranges if len(ranges) > 1 else [{}]

    def fetch_partition(self, window: Window, partition: dict[str, Any]) -> Iterator[Document]:
        """The window's worklogs of the partition's work dates (``from``..``to``, inclusive)."""
        if not partition:
            return self.fetch(window)
        return self._fetch(window, date.fromisoformat(partition["from"]), date.fromisoformat(partition["to"]))

    def _fetch(self, window: Window, first: date, last: date) -> Iterator[Document]:
        """Worklogs of work dates ``first..last`` updated in the window, as documents.

        Worklogs wait in ``pending`` until a full batch of unknown issue ids has gathered, so
        a window costs ``ceil(distinct issues / 100)`` Jira searches however Tempo pages.
        """
        batch = int(self.settings.option("resolve_batch_size"))
        pending: list[Worklog] = []
        unknown: dict[int, None] = {}  # ordered set of ids waiting for a search
        for raw in self._listing(first, last, window.start):
            worklog = parse_worklog(raw)
            if worklog is None:
                log.warning("Skipping malformed Tempo worklog %s", raw.get("tempoWorklogId", "?") if isinstance(raw, dict) else "?")
                self.stats.skip("malformed worklog")
                continue
            if not window.contains(worklog.updated_at):  # updatedFrom: seconds, no upper bound
                continue
            if worklog.issue_id in self._issues:
                yield from self._documents([worklog])
                continue
            pending.append(worklog)
            unknown[worklog.issue_id] = None
            if len(unknown) >= batch:
                self._resolve(list(unknown)[:batch])
                unknown = {i: None for i in unknown if i not in self._issues}
                ready = [w for w in pending if w.issue_id in self._issues]
                pending = [w for w in pending if w.issue_id not in self._issues]
                yield from self._documents(ready)
        ids = list(unknown)
        for start in range(0, len(ids), batch):
            self._resolve(ids[start:start + batch])
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
        body = {"entityType": ["worklog"], "action": ["Deleted"], "from": _instant(start), "to": _instant(window.end)}
        size = int(self.settings.option("deleted_page_size"))

        def fetch_page(token: str | None) -> tuple[list[Any], str | None]:
            params: dict[str, Any] = {"limit": size}
            if token:
                params["nextPageToken"] = token
            page = self.client.post(PAPERTRAIL_PATH, body, params)
            results = page.get("results") or []
            return results, (page.get("metadata") or {}).get("nextPageToken") if results else None

        seen: set[str] = set()
        for event in follow_tokens(fetch_page, what="Tempo papertrail search"):
            if not isinstance(event, dict) or event.get("action") != "Deleted" or event.get("entityType") != "worklog":
                continue
            entity = str(event.get("entityId") or "")
            try:
                at = parse_time(event["timestamp"])
            except (KeyError, TypeError, ValueError):
                at = window.start  # no usable time: inside the window the search was bounded to
            if entity and entity not in seen and at < window.end:  # `to` is inclusive
                seen.add(entity)
                yield f"tempo:{entity}"

    def live_ids(self) -> Iterator[str]:
        """``tempo:{id}`` of every worklog Tempo still has, for pruning."""
        today = datetime.now(timezone.utc).date()
        for raw in self._listing(self._history_start(), today + self._future(), None):
            if isinstance(raw, dict) and raw.get("tempoWorklogId") is not None:
                yield f"tempo:{raw['tempoWorklogId']}"

    # --- Tempo listing -----------------------------------------------------------------------

    def _listing(self, first: date, last: date, updated_from: datetime | None) -> Iterator[Any]:
        """Every worklog of the work dates ``first..last`` (updated since ``updated_from``),
        following ``metadata.next`` until it is absent; a repeated link raises."""
        size = int(self.settings.option("page_size"))
        params: dict[str, Any] = {"from": first.isoformat(), "to": last.isoformat(), "offset": 0, "limit": size}
        if updated_from is not None:
            # Floored to the second (the API's precision): nothing of the window is lost.
            params["updatedFrom"] = updated_from.strftime("%Y-%m-%dT%H:%M:%SZ")

        def fetch_page(link: str | None) -> tuple[list[Any], str | None]:
            try:
                page = self.client.get(link or WORKLOGS_PATH, None if link else params)
            except TempoError as exc:
                if exc.status == 404:  # the spec's meaning for this listing
                    raise FatalError(f"connection '{self.client.conn_id}': the Tempo token may not view worklogs ({exc})") from None
                raise
            results = page.get("results") or []
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
            issue = self._issues.get(worklog.issue_id)
            if issue is None:
                log.warning("Skipping Tempo worklog %s: Jira has no issue %s (deleted or hidden)", worklog.id, worklog.issue_id)
                self.stats.skip("unresolvable issue")
                continue
            author = self._author(worklog.account_id)
            yield to_document(worklog, issue, author, site, self._project_names.get(issue.project_key))

    def _resolve(self, issue_ids: list[int]) -> None:
        """Look up ``issue_ids`` with one JQL search; ids Jira does not know resolve to None.

        Jira answers 400 naming the ids it does not know: those are dropped and the search
        repeated (one extra request per report). A 400 naming none of them is a real error.
        """
        remaining = list(issue_ids)
        with _credentials_checked(self.client.jira_conn_id):
            while remaining:
                try:
                    found = list(self._search(f"id in ({', '.join(map(str, remaining))})", len(remaining)))
                except JIRAError as exc:
                    named = _named_ids(exc, remaining) if exc.status_code == 400 else set()
                    if not named:
                        raise
                    self._issues.update(dict.fromkeys(named))
                    remaining = [i for i in remaining if i not in named]
                    continue
                for raw in found:
                    issue_id, info = _issue_info(raw)
                    if issue_id is not None:
                        self._issues[issue_id] = info
                for issue_id in remaining:  # not returned: hidden from this Jira user
                    self._issues.setdefault(issue_id, None)
                return

    def _search(self, jql: str, size: int) -> Iterator[dict]:
        def fetch_page(token: str | None) -> tuple[list[dict], str | None]:
            page = self.client.jira.enhanced_search_issues(
                jql, nextPageToken=token, maxResults=size, fields=list(ISSUE_FIELDS), json_result=True, use_post=True
            )
            return page.get("issues") or [], None if page.get("isLast") else page.get("nextPageToken")

        return follow_tokens(fetch_page, what="Jira issue lookup")

    def _author(self, account_id: str) -> str:
        """The person's display name, asked once per person and run."""
        if not account_id:
            return "Unknown user"
        if account_id not in self._authors:
            with _credentials_checked(self.client.jira_conn_id):
                try:
                    name = self.client.jira.user(account_id).displayName
                except JIRAError as exc:
                    if exc.status_code != 404:
                        raise
                    name = None
            # A deleted or hidden account keeps its id, so hours still add up per person.
            self._authors[account_id] = str(name) if name else f"User {account_id}"
        return self._authors[account_id]


def parse_worklog(raw: Any) -> Worklog | None:
    """The worklog's fields, or ``None`` when the payload is unusable."""
    if not isinstance(raw, dict):
        return None
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
        return None


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


def _issue_info(raw: Any) -> tuple[int | None, IssueInfo | None]:
    try:
        issue_id = int(raw["id"])
        key = str(raw["key"])
    except (KeyError, TypeError, ValueError):
        return None, None
    fields = raw.get("fields") if isinstance(raw.get("fields"), dict) else {}
    project = fields.get("project") if isinstance(fields.get("project"), dict) else {}
    project_key = str(project.get("key") or key.rsplit("-", 1)[0])
    return issue_id, IssueInfo(key, str(fields.get("summary") or "").strip(), project_key)


def _named_ids(exc: JIRAError, ids: Iterable[int]) -> set[int]:
    """The ids of ``ids`` that Jira's error messages name (one message per unknown value)."""
    messages = [exc.text or ""]
    try:
        body = exc.response.json() if exc.response is not None else {}
        messages += [str(m) for m in body.get("errorMessages") or []]
    except (ValueError, AttributeError):
        pass
    quoted = {int(n) for m in messages for n in _QUOTED_NUMBER.findall(m)}
    return quoted & set(ids)


def _project_names(options: Mapping[str, Any]) -> dict[str, str]:
    """``{key: name}`` from option ``projects`` ([{key, name}], filled from the projects table)."""
    return {str(p["key"]): str(p["name"]) for p in options.get("projects") or [] if isinstance(p, Mapping) and p.get("key") and p.get("name")}


def _instant(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
