"""Tempo Cloud REST v4 simulator and its sample worklogs, on the Jira simulator's issues.

Routes (under ``/tempo``), shaped by Tempo's published OpenAPI (``tempo-v4.openapi.yaml``):

- ``GET /4/worklogs``: ``from``/``to`` (``yyyy-MM-dd``, inclusive, on ``startDate``),
  ``updatedFrom`` (``yyyy-MM-dd`` or ``yyyy-MM-ddTHH:mm:ssZ``: ``updatedAt >= updatedFrom``),
  ``issueId``, ``projectId``, ``orderBy`` (ID | START_DATE_TIME | UPDATED, descending; default
  start date-time then id, ascending), ``offset``, ``limit`` → ``PageableWorklog`` with
  ``metadata {count, offset, limit, next?, previous?}``; ``next`` is an absolute URL, absent on
  the last page.
- ``GET /4/worklogs/{id}`` → ``Worklog`` or 404.
- ``POST /4/worklogs/jira-to-tempo`` ``{"jiraWorklogIds": [...]}`` → ``PageableWorklogIdMapper``:
  the *existing* worklogs' ``{jiraWorklogId, tempoWorklogId}`` ("If a Tempo Worklog Id cannot be
  found, it will not be returned"). Jira's worklog id of a sample worklog is its Tempo id +
  ``JIRA_WORKLOG_ID_OFFSET`` (v4 worklogs do not carry it).
- ``POST /4/papertrail/search`` (the v4 audit log; the older ``/papertrail/1/events/deleted/...``
  endpoints are deprecated in the spec): body ``AuditLogSearchInput`` (``from`` required, within
  the last 180 days; ``to`` inclusive), query ``limit`` (1..1000) and ``nextPageToken`` →
  ``PageableAuditLogEvent`` with ``metadata {limit, nextPageToken?, nextPageUrl?}``. Every
  worklog has a Created event, edited ones an Updated event, deleted ones a Deleted event.

Errors use the spec's ``ErrorBean`` shape ``{"errors": [{"message": ...}]}``: 401 for a wrong
bearer token, 400 for bad parameters, 404 for unknown worklogs, 429 + ``Retry-After`` when rate
limited. Simulator picks where Tempo's behaviour is UNCONFIRMED: ``limit`` above 5,000 is a 400
(the documented maximum elsewhere in v4); papertrail events are served oldest first.

Two readings the documentation leaves open, each a simulator option:

- ``updated_from_alone`` (default True): Tempo's help centre says of the REST API v3 that
  "the updatedFrom parameter does not work in conjunction with other parameters"
  (https://help.tempo.io/cloudmigration/latest/worklog-rest-apis-for-jira-cloud); v4's spec says
  nothing either way. By default the sandbox takes the strict reading: beside any parameter but
  ``offset``/``limit`` (``from``, ``to``, ``issueId``, ``projectId``, ``orderBy``), ``updatedFrom``
  is ignored. False: it filters along with them.
- ``audit_ids`` ("tempo", default, or "jira"): which id an audit event's ``entityId`` holds for a
  worklog. The spec says only "Identifier of the entity being audited" (``AuditLogEvent``); the
  deprecated deleted-worklog events carried both ``tempoWorklogId`` and ``jiraWorklogId``.

The sample (``generate(ws)``) logs time on Jira's sample issues (``ws.data("jira")``) by
``ws.people``: new worklogs, edited ones (``updatedAt`` recent, ``startDate`` days older),
back-dated ones (created recently for a work date weeks ago), a few on issue ids Jira does not
know (connectors must skip them, not guess), one deleted worklog, activity in every 30-minute
slot of the last four hours and one update exactly on a slot boundary.

Scale: ``WORKLOGS_PER_SCALE * ws.scale`` worklogs on at most ``MAX_LOGGED_ISSUES`` of Jira's
issues (130 per scale unit) by at most ``MAX_AUTHORS`` people. The benchmark's "20,000 worklogs
on 500 issues by 40 people in one window" is ``scale=50`` (Jira then has 6,500 issues, of which
the first 500 carry time); scale 1 gives 400 worklogs on Jira's 130 issues by 12 people.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlencode

from sandbox import jira as jira_sim
from sandbox.server import Request, Response, Simulator, route
from sandbox.workspace import Workspace

# --- sizes ---------------------------------------------------------------------------------------

WORKLOGS_PER_SCALE = 400
MAX_LOGGED_ISSUES = 500
MAX_AUTHORS = 40
SLOT = timedelta(minutes=30)
GUARANTEED_HOURS = 4
# Exactly one worklog is updated exactly this long before the anchor (a slot boundary).
BOUNDARY_OFFSET = timedelta(minutes=60)
# Issue ids Jira does not have (deleted issues, or ones the Jira user cannot see).
UNRESOLVABLE_ISSUE_IDS = (99001, 99002)
FIRST_WORKLOG_ID = 4001
# Jira's id of a sample worklog: its Tempo id + this (so some Jira ids are other Tempo ids too).
JIRA_WORKLOG_ID_OFFSET = 100
# The deleted worklog: last updated in one slot, deleted in a later one.
DELETED_UPDATED_OFFSET = timedelta(hours=3, minutes=10)
DELETED_AT_OFFSET = timedelta(minutes=50)

# --- vendor limits (simulator picks where UNCONFIRMED) ----------------------------------------

WORKLOGS_DEFAULT_LIMIT = 50
WORKLOGS_MAX_LIMIT = 5000
PAPERTRAIL_DEFAULT_LIMIT = 100
PAPERTRAIL_MAX_LIMIT = 1000
# AuditLogSearchInput.from: "The date must be within the last 180 days."
PAPERTRAIL_RETENTION = timedelta(days=180)
ORDER_BY = ("ID", "START_DATE_TIME", "UPDATED")
ENTITY_TYPES = (
    "account",
    "accountcategory",
    "accountlink",
    "allocation",
    "bulkeditworklog",
    "customer",
    "customfieldconfiguration",
    "globalconfiguration",
    "holiday",
    "holidaymembership",
    "holidayscheme",
    "internalissue",
    "issuetypecategory",
    "jiraissueviewconfiguration",
    "oauthapp",
    "period",
    "periodconfiguration",
    "permissiongroup",
    "program",
    "project",
    "role",
    "skill",
    "skillassignment",
    "team",
    "teamlink",
    "teammembership",
    "tenantpreference",
    "workattribute",
    "workload",
    "workloadmembership",
    "worklog",
)
ACTIONS = ("Created", "Deleted", "Updated", "Synced")

# Links are rendered with these placeholders and replaced per response with the URL the client
# used, so the same data serves any host (Jira is on the same sandbox, under /jira).
TEMPO = "{{tempo}}"
JIRA = "{{jira}}"

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_UPDATED_FROM = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:T(\d{2}:\d{2}:\d{2})Z?)?$")
_JSON = {"Content-Type": "application/json"}

# Weights of the random worklogs' kinds.
_KINDS = (("new", 0.7), ("edited", 0.15), ("backdated", 0.15))
# What each recent slot is guaranteed to hold (slot 0 ends at the anchor): (kind, project).
_SLOT_PLAN = (
    ("new", "SUBS"),
    ("new", "ARCH"),
    ("backdated", "SUBS"),
    ("edited", "BC"),
    ("new", "BC"),
    ("edited", "SUBS"),
    ("backdated", "BC"),
    ("new", "ARCH"),
)
# Worklogs on issues Jira does not know: (issue id, how long before the anchor it was updated).
_UNRESOLVABLE = (
    (UNRESOLVABLE_ISSUE_IDS[0], timedelta(minutes=20)),
    (UNRESOLVABLE_ISSUE_IDS[1], timedelta(hours=2, minutes=10)),
    (UNRESOLVABLE_ISSUE_IDS[0], timedelta(hours=30)),
)
_SPENT_S = (900, 1800, 2700, 3600, 3600, 5400, 7200, 7200, 9000, 10800, 14400, 28800)
_WORK = {
    "SUBS": [
        "Implemented the proration fix for mid-cycle upgrades",
        "Reviewed the dunning schedule changes",
        "Paired on the trial-to-paid coupon bug",
        "Wrote regression tests for renewals",
        "Investigated duplicate renewal reminder emails",
        "Updated the plan picker copy",
    ],
    "BC": [
        "Fixed the invoice PDF export timeout",
        "Reviewed the partial refund flow",
        "Built the usage charges chart",
        "Triaged failed charges from the weekend",
        "Wrote the ledger reconciliation query",
        "Customer call about VAT ID validation",
    ],
    "ARCH": [
        "Ran the October archive job in staging",
        "Verified row counts after the migration",
        "Debugged the checksum mismatch on attachments",
        "Planned the Glacier restore drill",
    ],
}
_ACCOUNTS = ("LUMEN-INTERNAL", "LUMEN-BILLING", "CUSTOMER-SUPPORT")


# --- the data -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TempoWorklog:
    """One worklog and the facts tests ask about; ``body`` is the API shape (with placeholders)."""

    id: int
    issue_id: int
    project: str | None  # Jira project key, None when the issue is unknown to Jira
    account_id: str
    start_date: date
    start_time: str  # HH:MM:SS
    created: datetime
    updated: datetime
    kind: str  # new | edited | backdated | unresolvable | deleted
    body: dict[str, Any]

    @property
    def hours(self) -> float:
        return self.body["timeSpentSeconds"] / 3600


@dataclass
class TempoData:
    """Generated worklogs (ascending id) and deletions. Treat as read-only."""

    worklogs: list[TempoWorklog]
    deleted: dict[int, datetime]  # worklog id -> when it was deleted
    by_id: dict[int, TempoWorklog] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.by_id = {w.id: w for w in self.worklogs}

    def live(self, at: datetime) -> list[TempoWorklog]:
        """Worklogs not yet deleted at ``at``."""
        return [w for w in self.worklogs if not (w.id in self.deleted and self.deleted[w.id] <= at)]

    def updated_between(self, start: datetime, end: datetime, at: datetime) -> list[TempoWorklog]:
        """Worklogs alive at ``at`` with ``start <= updatedAt < end`` (a sync window)."""
        return [w for w in self.live(at) if start <= w.updated < end]

    def of_kind(self, kind: str) -> list[TempoWorklog]:
        return [w for w in self.worklogs if w.kind == kind]


def generate(ws: Workspace) -> TempoData:
    """Deterministic worklogs for ``ws`` (see the module docstring for the cases and scale)."""
    rng = ws.rng("tempo")
    issues = ws.data("jira").issues[:MAX_LOGGED_ISSUES]  # the same issues the Jira simulator serves
    by_project: dict[str, list[jira_sim.JiraIssue]] = {}
    for issue in issues:
        by_project.setdefault(issue.project, []).append(issue)
    authors = ws.people[:MAX_AUTHORS]
    anchor = ws.anchor
    span_s = int((anchor - ws.start).total_seconds())
    slot_s = int(SLOT.total_seconds())

    def off_boundary(moment: datetime) -> datetime:
        """Keep random updates off slot boundaries (only the designated one sits on one)."""
        return moment + timedelta(seconds=1) if int(moment.timestamp()) % slot_s == 0 else moment

    # (kind, issue id, project, updated)
    plan: list[tuple[str, int, str | None, datetime]] = []
    kinds, weights = zip(*_KINDS)
    for _ in range(WORKLOGS_PER_SCALE * max(1, ws.scale)):
        issue = rng.choice(issues)
        updated = off_boundary(ws.start + timedelta(seconds=rng.randrange(1, span_s)))
        plan.append((rng.choices(kinds, weights)[0], issue.id, issue.project, updated))
    for slot, (kind, project) in enumerate(_SLOT_PLAN):
        issue = rng.choice(by_project[project])
        lo = anchor - (slot + 1) * SLOT
        plan.append((kind, issue.id, project, lo + timedelta(seconds=rng.randrange(1, slot_s))))
    boundary_issue = rng.choice(by_project["SUBS"])
    plan.append(("new", boundary_issue.id, "SUBS", anchor - BOUNDARY_OFFSET))
    for issue_id, before in _UNRESOLVABLE:
        plan.append(("unresolvable", issue_id, None, off_boundary(anchor - before - timedelta(seconds=rng.randrange(1, 60)))))
    deleted_issue = rng.choice(by_project["SUBS"])
    plan.append(("deleted", deleted_issue.id, "SUBS", off_boundary(anchor - DELETED_UPDATED_OFFSET)))

    rows = [_times(rng, kind, updated) + (kind, issue_id, project, updated) for kind, issue_id, project, updated in plan]
    rows.sort(key=lambda row: (row[0], row[5]))  # ids ascend with creation time
    worklogs, deleted = [], {}
    for offset, (created, start, kind, issue_id, project, updated) in enumerate(rows):
        wid = FIRST_WORKLOG_ID + offset
        author = rng.choice(authors)
        spent = rng.choice(_SPENT_S)
        roll = rng.random()
        billable = spent if roll < 0.8 else 0 if roll < 0.9 else spent // 2
        text = rng.choice(_WORK[project or "SUBS"]) if rng.random() < 0.9 else ""
        worklogs.append(
            TempoWorklog(
                wid,
                issue_id,
                project,
                author.account_id,
                start.date(),
                start.strftime("%H:%M:%S"),
                created,
                updated,
                kind,
                _body(wid, issue_id, author.account_id, start, spent, billable, text, created, updated, rng),
            )
        )
        if kind == "deleted":
            deleted[wid] = anchor - DELETED_AT_OFFSET
    return TempoData(worklogs, deleted)


def _times(rng: Any, kind: str, updated: datetime) -> tuple[datetime, datetime]:
    """(createdAt, start of the work) for a worklog last updated at ``updated``."""
    if kind == "edited":
        created = updated - timedelta(days=rng.uniform(1, 10))
        return created, created - timedelta(hours=rng.uniform(1, 6))
    if kind == "backdated":
        day = (updated - timedelta(days=rng.randint(3, 20))).replace(hour=0, minute=0, second=0, microsecond=0)
        return updated, day + timedelta(hours=rng.randint(8, 16), minutes=rng.choice((0, 15, 30, 45)))
    return updated, updated - timedelta(hours=rng.uniform(1, 6))


def _stamp(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _body(
    wid: int,
    issue_id: int,
    account_id: str,
    start: datetime,
    spent: int,
    billable: int,
    text: str,
    created: datetime,
    updated: datetime,
    rng: Any,
) -> dict[str, Any]:
    """A ``Worklog`` as Tempo v4 returns it (only the spec's fields)."""
    values = [{"key": "_Account_", "value": rng.choice(_ACCOUNTS)}] if rng.random() < 0.6 else []
    body: dict[str, Any] = {
        "self": f"{TEMPO}/4/worklogs/{wid}",
        "tempoWorklogId": wid,
        "issue": {"self": f"{JIRA}/rest/api/2/issue/{issue_id}", "id": issue_id},
        "timeSpentSeconds": spent,
        "billableSeconds": billable,
        "startDate": start.strftime("%Y-%m-%d"),
        "startTime": start.strftime("%H:%M:%S"),
        "startDateTimeUtc": start.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "description": text,
        "createdAt": _stamp(created),
        "updatedAt": _stamp(updated),
        "author": {"self": f"{JIRA}/rest/api/2/user?accountId={account_id}", "accountId": account_id},
        "attributes": {"self": f"{TEMPO}/4/worklogs/{wid}/work-attribute-values", "values": values},
    }
    return body


# --- request parsing -----------------------------------------------------------------------------


class BadRequest(ValueError):
    """A parameter Tempo would refuse; the message goes into the 400 body."""


def parse_date(value: str, name: str) -> date:
    if not _DATE.match(value):
        raise BadRequest(f"Invalid value for '{name}': '{value}'. Expected format: yyyy-MM-dd")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise BadRequest(f"Invalid value for '{name}': '{value}'. Expected format: yyyy-MM-dd") from None


def parse_updated_from(value: str) -> datetime:
    """``yyyy-MM-dd[THH:mm:ss][Z]`` (UTC): second precision at best."""
    match = _UPDATED_FROM.match(value)
    if not match:
        raise BadRequest(f"Invalid value for 'updatedFrom': '{value}'. Expected format: yyyy-MM-dd['T'HH:mm:ss]['Z']")
    try:
        return datetime.fromisoformat(f"{match.group(1)}T{match.group(2) or '00:00:00'}+00:00")
    except ValueError:
        raise BadRequest(f"Invalid value for 'updatedFrom': '{value}'") from None


def parse_int(value: str | None, name: str, default: int, lo: int, hi: int) -> int:
    if value in (None, ""):
        return default
    try:
        number = int(value)
    except ValueError:
        raise BadRequest(f"Invalid value for '{name}': '{value}'") from None
    if not lo <= number <= hi:
        raise BadRequest(f"'{name}' must be between {lo} and {hi}, got {number}")
    return number


def parse_instant(value: Any, name: str) -> datetime:
    """An ISO 8601 date-time (``Z`` or offset; a naive one is taken as UTC)."""
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"Invalid value for '{name}': '{value}'. Expected an ISO 8601 date-time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


# --- the simulator ---------------------------------------------------------------------------------


class TempoSimulator(Simulator):
    """Tempo Cloud REST v4 over :func:`generate`'s data.

    ``now`` (option or attribute; ``None`` follows the real clock) decides which deletions have
    happened: a worklog deleted after ``now`` is still listed and its Deleted event not yet
    served, and papertrail's 180-day limit counts back from it. :meth:`delete` deletes one more.
    """

    name = "tempo"

    def __init__(self, workspace: Workspace, **options: Any) -> None:
        super().__init__(workspace, **options)
        workspace.data("jira")  # the issues worklogs point at
        self.data: TempoData = workspace.data("tempo")
        self.now: datetime | None = options.get("now")
        self.updated_from_alone = bool(options.get("updated_from_alone", True))
        self.audit_ids = str(options.get("audit_ids", "tempo"))
        self.deleted: dict[int, datetime] = dict(self.data.deleted)  # this simulator's deletions
        self._projects = {p["key"]: int(p["id"]) for p in workspace.data("jira").projects}

    def current_time(self) -> datetime:
        return self.now if self.now is not None else datetime.now(timezone.utc)

    def delete(self, worklog_id: int, when: datetime) -> None:
        """Simulate a deletion at ``when`` (this simulator only; the workspace data is untouched)."""
        with self.lock:
            if worklog_id not in self.data.by_id:
                raise KeyError(worklog_id)
            self.deleted[worklog_id] = when

    def live(self) -> list[TempoWorklog]:
        now = self.current_time()
        deleted = self.deleted
        return [w for w in self.data.worklogs if not (w.id in deleted and deleted[w.id] <= now)]

    # --- dialect ---------------------------------------------------------------------------

    def error(self, status: int, message: str) -> Response:
        return Response(status, {"errors": [{"message": message}]}, dict(_JSON))

    def authorize(self, request: Request) -> Response | None:
        if request.bearer() != self.token:
            return self.error(401, "Authentication failed: the bearer token is missing, invalid or expired.")
        return None

    def rate_limited(self, retry_after_s: int, request: Request) -> Response:
        response = self.error(429, "Rate limit exceeded. Please retry after the time given in Retry-After.")
        response.headers["Retry-After"] = str(retry_after_s)
        return response

    def _base(self, request: Request) -> str:
        host = request.headers.get("Host")
        return f"http://{host}" if host else (self.sandbox.url if self.sandbox else "")

    def _render(self, request: Request, payload: Any) -> Response:
        base = self._base(request)
        text = json.dumps(payload, separators=(",", ":"))
        text = text.replace(TEMPO, f"{base}{self.prefix}").replace(JIRA, f"{base}/jira")
        return Response(200, text, dict(_JSON))

    # --- worklogs ----------------------------------------------------------------------------

    @route("GET", r"/4/worklogs")
    def worklogs(self, request: Request) -> Response:
        q = request.query
        try:
            lo = parse_date(q["from"][0], "from") if "from" in q else None
            hi = parse_date(q["to"][0], "to") if "to" in q else None
            if lo and hi and lo > hi:
                raise BadRequest("'from' must not be after 'to'")
            updated_from = parse_updated_from(q["updatedFrom"][0]) if "updatedFrom" in q else None
            offset = parse_int(request.arg("offset"), "offset", 0, 0, 2**31 - 1)
            limit = parse_int(request.arg("limit"), "limit", WORKLOGS_DEFAULT_LIMIT, 1, WORKLOGS_MAX_LIMIT)
            order = request.arg("orderBy")
            if order is not None and order not in ORDER_BY:
                raise BadRequest(f"Invalid value for 'orderBy': '{order}'. Allowed: {', '.join(ORDER_BY)}")
            issue_ids = {parse_int(v, "issueId", 0, 1, 2**63 - 1) for v in _multi(q.get("issueId"))}
            project_ids = {parse_int(v, "projectId", 0, 1, 2**63 - 1) for v in _multi(q.get("projectId"))}
        except BadRequest as exc:
            return self.error(400, str(exc))
        if self.updated_from_alone and set(q) - {"updatedFrom", "offset", "limit"}:
            updated_from = None  # "does not work in conjunction with other parameters" (see above)
        projects = {key for key, pid in self._projects.items() if pid in project_ids}
        found = [
            w
            for w in self.live()
            if (lo is None or w.start_date >= lo)
            and (hi is None or w.start_date <= hi)
            and (updated_from is None or w.updated >= updated_from)
            and (not issue_ids or w.issue_id in issue_ids)
            and (not project_ids or w.project in projects)
        ]
        found = _ordered(found, order)
        page = found[offset : offset + limit]
        url = f"{self._base(request)}{self.prefix}/4/worklogs"
        params = {k: v for k, v in q.items() if k not in ("offset", "limit")}
        metadata: dict[str, Any] = {"count": len(page), "offset": offset, "limit": limit}
        if offset + limit < len(found):
            metadata["next"] = f"{url}?{urlencode({**params, 'offset': offset + limit, 'limit': limit}, doseq=True)}"
        if offset > 0:
            metadata["previous"] = f"{url}?{urlencode({**params, 'offset': max(0, offset - limit), 'limit': limit}, doseq=True)}"
        own = f"{url}?{urlencode({**params, 'offset': offset, 'limit': limit}, doseq=True)}"
        return self._render(request, {"self": own, "metadata": metadata, "results": [w.body for w in page]})

    @route("POST", r"/4/worklogs/jira-to-tempo")
    def jira_to_tempo(self, request: Request) -> Response:
        """``JiraWorklogIdList`` -> the existing worklogs' id pairs, paged by offset/limit."""
        try:
            body = request.json()
        except (ValueError, UnicodeDecodeError):
            return self.error(400, "The request body is not valid JSON")
        ids = body.get("jiraWorklogIds") if isinstance(body, dict) else None
        if not isinstance(ids, list) or not ids or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
            return self.error(400, "'jiraWorklogIds' must be a non-empty array of integers")
        try:
            offset = parse_int(request.arg("offset"), "offset", 0, 0, 2**31 - 1)
            limit = parse_int(request.arg("limit"), "limit", WORKLOGS_DEFAULT_LIMIT, 1, WORKLOGS_MAX_LIMIT)
        except BadRequest as exc:
            return self.error(400, str(exc))
        live = {w.id for w in self.live()}
        found = [{"jiraWorklogId": i, "tempoWorklogId": i - JIRA_WORKLOG_ID_OFFSET} for i in dict.fromkeys(ids)]
        found = [pair for pair in found if pair["tempoWorklogId"] in live]
        page = found[offset : offset + limit]
        url = f"{TEMPO}/4/worklogs/jira-to-tempo"
        metadata: dict[str, Any] = {"count": len(page), "offset": offset, "limit": limit}
        if offset + limit < len(found):
            metadata["next"] = f"{url}?{urlencode({'offset': offset + limit, 'limit': limit})}"
        return self._render(
            request, {"self": f"{url}?{urlencode({'offset': offset, 'limit': limit})}", "metadata": metadata, "results": page}
        )

    @route("GET", r"/4/worklogs/(?P<id>[^/]+)")
    def worklog(self, request: Request) -> Response:
        raw = request.params["id"]
        worklog = self.data.by_id.get(int(raw)) if raw.isdigit() else None
        if worklog is None or self.deleted.get(worklog.id, datetime.max.replace(tzinfo=timezone.utc)) <= self.current_time():
            return self.error(404, f"Worklog with id {raw} does not exist")
        return self._render(request, worklog.body)

    # --- audit log -----------------------------------------------------------------------------

    def events(self) -> list[dict[str, Any]]:
        """Audit events up to ``now``, oldest first: Created, Updated (edited), Deleted."""
        now = self.current_time()
        out = []
        for w in self.data.worklogs:
            base = {
                "author": w.account_id,
                "entityId": str(w.id + (JIRA_WORKLOG_ID_OFFSET if self.audit_ids == "jira" else 0)),
                "entityType": "worklog",
                "parentId": str(w.issue_id),
                "worker": w.account_id,
            }
            out.append(
                {
                    **base,
                    "action": "Created",
                    "timestamp": w.created,
                    "changes": [{"field": "timeSpentSeconds", "previous": None, "new": str(w.body["timeSpentSeconds"])}],
                }
            )
            if w.updated > w.created:
                out.append(
                    {
                        **base,
                        "action": "Updated",
                        "timestamp": w.updated,
                        "changes": [{"field": "description", "previous": "", "new": w.body["description"]}],
                    }
                )
            if w.id in self.deleted:
                out.append(
                    {
                        **base,
                        "action": "Deleted",
                        "timestamp": self.deleted[w.id],
                        "changes": [{"field": "timeSpentSeconds", "previous": str(w.body["timeSpentSeconds"]), "new": None}],
                    }
                )
        out = [e for e in out if e["timestamp"] <= now]
        out.sort(key=lambda e: (e["timestamp"], int(e["entityId"]), e["action"]))
        return out

    @route("POST", r"/4/papertrail/search")
    def papertrail(self, request: Request) -> Response:
        try:
            body = request.json()
        except (ValueError, UnicodeDecodeError):
            return self.error(400, "The request body is not valid JSON")
        if not isinstance(body, dict):
            return self.error(400, "The request body must be a JSON object")
        try:
            if not body.get("from"):
                raise BadRequest("'from' is required")
            start = parse_instant(body["from"], "from")
            end = parse_instant(body["to"], "to") if body.get("to") else None
            if start < self.current_time() - PAPERTRAIL_RETENTION:
                raise BadRequest("'from' must be within the last 180 days")
            types = _enum_list(body, "entityType", ENTITY_TYPES)
            actions = _enum_list(body, "action", ACTIONS)
            authors = set(_str_list(body, "author"))
            workers = set(_str_list(body, "worker"))
            limit = parse_int(request.arg("limit"), "limit", PAPERTRAIL_DEFAULT_LIMIT, 1, PAPERTRAIL_MAX_LIMIT)
            offset = self._offset(request.query.get("nextPageToken", [None])[0], body)
        except BadRequest as exc:
            return self.error(400, str(exc))
        found = [
            e
            for e in self.events()
            if e["timestamp"] >= start
            and (end is None or e["timestamp"] <= end)
            and (not types or e["entityType"] in types)
            and (not actions or e["action"] in actions)
            and (not authors or e["author"] in authors)
            and (not workers or e["worker"] in workers)
        ]
        page = found[offset : offset + limit]
        metadata: dict[str, Any] = {"limit": limit}
        if offset + limit < len(found):
            token = _token(offset + limit, body)
            metadata["nextPageToken"] = token
            metadata["nextPageUrl"] = f"{TEMPO}/4/papertrail/search?{urlencode({'limit': limit, 'nextPageToken': token})}"
        results = [{**e, "timestamp": _stamp(e["timestamp"])} for e in page]
        return self._render(request, {"self": f"{TEMPO}/4/papertrail/search", "metadata": metadata, "results": results})

    @staticmethod
    def _offset(token: str | None, body: Mapping[str, Any]) -> int:
        if token in (None, ""):
            return 0
        try:
            text = str(token)
            offset, digest = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
            if isinstance(offset, int) and offset >= 0 and digest == _digest(body):
                return offset
        except (ValueError, TypeError, binascii.Error):
            pass
        raise BadRequest("The 'nextPageToken' is invalid or does not belong to this search")


def _token(offset: int, body: Mapping[str, Any]) -> str:
    """Opaque and bound to the search it pages (a token reused with other filters is a 400)."""
    raw = json.dumps([offset, _digest(body)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _digest(body: Mapping[str, Any]) -> str:
    return hashlib.sha1(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()[:12]


def _ordered(worklogs: list[TempoWorklog], order: str | None) -> list[TempoWorklog]:
    """Default: start date-time then id, ascending; ``orderBy``: that field, descending."""
    if order == "ID":
        return sorted(worklogs, key=lambda w: w.id, reverse=True)
    if order == "UPDATED":
        return sorted(worklogs, key=lambda w: (w.updated, w.id), reverse=True)
    key = lambda w: (w.start_date, w.start_time, w.id)  # noqa: E731
    return sorted(worklogs, key=key, reverse=order == "START_DATE_TIME")


def _multi(values: Sequence[str] | None) -> list[str]:
    """Array query parameters: repeated (``issueId=1&issueId=2``) or comma-separated."""
    return [part for value in values or () for part in value.split(",") if part]


def _str_list(body: Mapping[str, Any], name: str) -> list[str]:
    value = body.get(name)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BadRequest(f"'{name}' must be an array of strings")
    return value


def _enum_list(body: Mapping[str, Any], name: str, allowed: Iterable[str]) -> set[str]:
    values = _str_list(body, name)
    unknown = [v for v in values if v not in allowed]
    if unknown:
        raise BadRequest(f"Invalid value(s) for '{name}': {', '.join(unknown)}")
    return set(values)
