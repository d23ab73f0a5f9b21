"""Jira Cloud REST v3 simulator and its sample data (projects, issues with ADF, comments).

``generate(ws)`` builds the data once per workspace; :class:`JiraSimulator` serves it under
``/rest/api/3`` (and the ``/rest/api/2`` / ``latest`` aliases, which answer plain text where
v3 answers ADF), so the real ``jira`` library and plain ``requests`` run against it unchanged.

Scale: ``ws.scale`` multiplies the issue count (:data:`ISSUES_PER_SCALE` per unit, about
3 comments each), so ``scale=40`` gives about 5,200 issues and 15,600 comments.

Choices where Jira's behaviour is undocumented or unconfirmed (each also sits next to its
constant below): search pages hold at most 100 issues (5,000 when only ids/keys are asked for),
embedded ``fields.comment`` holds the first 20 comments with the true ``total``, comment pages
hold at most 100, absolute JQL dates are read in the simulator's ``time_zone`` option.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import gc
import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import jsonschema

from sandbox import jql
from sandbox.server import Request, Response, Simulator, route
from sandbox.workspace import COMPANY, Person, Workspace

# --- sizes and vendor limits ---------------------------------------------------------------

# Issues per unit of ``ws.scale``: 130 at scale 1, so a full listing needs 2 pages of 100.
ISSUES_PER_SCALE = 130
# One issue carries this many comments, so comment paging (pages of 100) is exercised.
LONG_THREAD_COMMENTS = 130
# Regular issues get 0..6 comments: about 3 on average, as the benchmark expects.
MAX_COMMENTS_PER_ISSUE = 6
# Activity is guaranteed in every slot of this size over the last GUARANTEED_HOURS (window tests).
SLOT = timedelta(minutes=30)
GUARANTEED_HOURS = 4
# Exactly one issue is updated exactly this long before the anchor (a slot boundary, .000 ms).
BOUNDARY_OFFSET = timedelta(minutes=60)

# search/jql: "maxResults" defaults to 50; Jira returns "fewer items per page where a large
# number of fields are requested" and "max 5000 issues" for id/key-only requests. The sandbox
# caps at 100 with any field (what Jira Cloud has long returned for full issues) and at 5,000
# when only ids/keys are requested.
SEARCH_DEFAULT_MAX_RESULTS = 50
SEARCH_MAX_RESULTS_FIELDS = 100
SEARCH_MAX_RESULTS_IDS = 5000
# Search results embed at most 20 comments per issue in ``fields.comment`` (UNCONFIRMED: reported
# for the enhanced search, like its cut of changelogs to 40). ``total`` still counts them all, so
# a client knows to page the comment endpoint. GET issue applies the same cut here: that is the
# stricter reading, and a client that pages when total > len(comments) works with either.
EMBEDDED_COMMENTS = 20
# GET issue/{key}/comment: default and (Cloud's observed) maximum page size.
COMMENT_PAGE_DEFAULT = 100
COMMENT_PAGE_MAX = 100
# The enhanced search keeps a query's results; the sandbox caches this many recent queries.
QUERY_CACHE_SIZE = 256

# Self links are rendered with this placeholder and replaced per response with the URL the
# client used (host header + API version), so the same data serves any host and /2 or /3.
API = "{{api}}"

SERVER_VERSION = (1001, 0, 0)
GONE_MESSAGE = (
    "The requested API has been removed. Please migrate to the /rest/api/3/search/jql API. "
    "A full migration guideline is available at https://developer.atlassian.com/changelog/#CHANGE-2046"
)
NOT_AUTHENTICATED = "Client must be authenticated to access this resource."
ISSUE_NOT_FOUND = "Issue does not exist or you do not have permission to see it."
USER_NOT_FOUND = "Specified user does not exist or you do not have required permissions"
BAD_PAGE_TOKEN = "The provided next page token is invalid or expired."

_JSON = {"Content-Type": "application/json;charset=UTF-8"}
# POST search/jql's body: the spec's SearchAndReconcileRequestBean (descriptions cut; the
# simulator tests hold this equal to the vendored spec). No unknown keys and no nulls: the
# ``jira`` library's ``expand: null``, ``properties: null`` are refused here, as the schema says.
SEARCH_REQUEST_SCHEMA: dict[str, Any] = {
    "additionalProperties": False,
    "properties": {
        "expand": {"type": "string"},
        "fields": {"items": {"type": "string"}, "type": "array"},
        "fieldsByKeys": {"type": "boolean"},
        "jql": {"type": "string"},
        "maxResults": {"default": 50, "format": "int32", "type": "integer"},
        "nextPageToken": {"type": "string"},
        "properties": {"items": {"type": "string"}, "type": "array"},
        "reconcileIssues": {"items": {"format": "int64", "type": "integer"}, "type": "array"},
    },
    "type": "object",
}
INVALID_PAYLOAD = "Invalid request payload. Refer to the REST API documentation and try again."
_ISSUE_EXPAND = "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations"


# --- time helpers ------------------------------------------------------------------------------


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MS = timedelta(milliseconds=1)


def epoch_ms(moment: datetime) -> int:
    """Epoch milliseconds, in integer arithmetic (float timestamps can land 1 ms short)."""
    return (moment - _EPOCH) // _MS


def from_epoch_ms(ms: int) -> datetime:
    return _EPOCH + ms * _MS


def format_time(ms: int) -> str:
    """Jira's timestamp format: ``2026-11-18T09:15:23.123+0000`` (no colon in the offset)."""
    day, in_day = divmod(ms, 86_400_000)
    seconds, millis = divmod(in_day, 1000)
    minutes, second = divmod(seconds, 60)
    hour, minute = divmod(minutes, 60)
    return f"{_day(day)}T{hour:02d}:{minute:02d}:{second:02d}.{millis:03d}+0000"


@lru_cache(maxsize=4096)
def _day(day: int) -> str:
    return (datetime(1970, 1, 1) + timedelta(days=day)).strftime("%Y-%m-%d")


def parse_time(text: str) -> datetime:
    """Inverse of :func:`format_time` (also accepts ``+00:00``)."""
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f%z")


# --- the data ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class JiraIssue:
    """One issue. ``fields`` is the v3 field map without ``comment`` (built per request)."""

    id: int
    key: str
    project: str  # project key
    number: int
    created_ms: int
    updated_ms: int
    fields: dict[str, Any]
    comments: tuple[dict[str, Any], ...] = ()

    @property
    def updated(self) -> datetime:
        return from_epoch_ms(self.updated_ms)

    @property
    def created(self) -> datetime:
        return from_epoch_ms(self.created_ms)


@dataclass
class JiraData:
    """Generated Jira content. Treat as read-only: simulators copy before they mutate."""

    projects: list[dict[str, Any]]  # Jira project objects (self links use the API placeholder)
    users: dict[str, dict[str, Any]]  # accountId -> user object (UserDetails shape)
    issues: list[JiraIssue]  # ascending id
    by_key: dict[str, JiraIssue] = field(init=False, repr=False)
    by_id: dict[int, JiraIssue] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.by_key = {issue.key: issue for issue in self.issues}
        self.by_id = {issue.id: issue for issue in self.issues}

    @property
    def comment_count(self) -> int:
        return sum(len(issue.comments) for issue in self.issues)

    def updated_between(self, start: datetime, end: datetime) -> list[JiraIssue]:
        """Issues with start <= updated < end (the half-open window a sync run covers)."""
        lo, hi = epoch_ms(start), epoch_ms(end)
        return [issue for issue in self.issues if lo <= issue.updated_ms < hi]

    def long_thread(self) -> JiraIssue:
        """The issue with the most comments (for comment paging tests)."""
        return max(self.issues, key=lambda issue: len(issue.comments))


# Fictional content: per project, topics for summaries and sentences for bodies.
_TOPICS = {
    "SUBS": [
        "Proration on mid-cycle plan upgrades",
        "Renewal reminder emails sent twice",
        "Trial-to-paid conversion drops the coupon",
        "Grace period for failed card payments",
        "Seat-based pricing for team plans",
        "Annual downgrade keeps premium features",
        "Webhook retries for subscription.updated",
        "Dunning schedule configuration",
        "Pause subscription for up to 3 months",
        "Currency rounding on JPY renewals",
        "Cancel-at-period-end flag ignored",
        "Plan change preview shows wrong tax",
    ],
    "BC": [
        "Invoice PDF export times out",
        "Partial refund button disabled",
        "EU VAT ID validation",
        "Credit note numbering gaps",
        "Search customers by billing email",
        "Usage charges chart",
        "Payment method update form",
        "Ledger reconciliation report",
        "Audit log for manual adjustments",
        "Dark mode for the invoice list",
        "Bulk retry of failed charges",
        "Export payouts to CSV",
    ],
    "ARCH": [
        "Move 2019 invoices to cold storage",
        "Checksum mismatch on archived attachments",
        "Backfill customer ids in legacy records",
        "Retention policy for closed accounts",
        "Archive job exceeds the maintenance window",
        "Read-only mode for archived workspaces",
        "Glacier restore requests time out",
        "Legacy CSV export format",
        "Dedupe archived ledger entries",
        "Verify row counts after the migration",
    ],
}
_QUALIFIERS = [
    "",
    "",
    "",
    " for enterprise accounts",
    " in the EU region",
    " after the pricing API cutover",
    " on annual plans",
    " for reseller customers",
    " in the mobile checkout",
    " (follow-up)",
]
_CONTEXT = [
    "Customers on the {plan} plan report that {symptom} since the {release} release.",
    "Support escalated {n} tickets this week where {symptom}.",
    "During the {release} rollout we noticed that {symptom}.",
    "Finance flagged that {symptom} for about {n}% of {plan} accounts.",
    "Reproduced in staging: {symptom} when the account has more than {n} seats.",
]
_SYMPTOMS = {
    "SUBS": [
        "the renewal date moves by one day",
        "the prorated credit is applied twice",
        "trial accounts are charged before the trial ends",
        "the dunning email links to a dead page",
        "seat counts do not match the invoice",
    ],
    "BC": [
        "the invoice total differs from the ledger",
        "refunds stay pending for days",
        "the export spinner never stops",
        "tax lines are missing on credit notes",
        "the customer search returns archived accounts",
    ],
    "ARCH": [
        "archived PDFs fail the checksum",
        "restores take longer than the SLA",
        "legacy rows lose their customer id",
        "the migration job stalls at 80%",
        "row counts differ between source and archive",
    ],
}
_PLANS = ["Starter", "Team", "Business", "Enterprise"]
_RELEASES = ["2026.44", "2026.45", "2026.46", "billing-v3", "checkout-2"]
_STEPS = [
    "Create a subscription on the {plan} plan in staging",
    "Upgrade to the next plan mid-cycle",
    "Open the billing console as an admin",
    "Trigger the nightly invoice job",
    "Export the invoice as PDF",
    "Compare the totals with the ledger",
    "Run the archive job for October",
    "Restore one archived attachment",
]
_CRITERIA = [
    "Totals match the ledger to the cent",
    "A regression test covers the {plan} plan",
    "The customer gets exactly one email",
    "Metrics show no failed charges for 24 h",
    "The runbook is updated",
    "Row counts match after the migration",
]
_CODE = [
    (
        "python",
        "def prorate(amount_cents: int, days_left: int, days_in_cycle: int) -> int:\n"
        "    return round(amount_cents * days_left / days_in_cycle)",
    ),
    ("sql", "SELECT invoice_id, total_cents\nFROM invoices\nWHERE status = 'open' AND due_at < now();"),
    ("json", '{"event": "subscription.updated", "plan": "team", "seats": 12}'),
    ("bash", "make archive-verify MONTH=2019-10 DRY_RUN=1"),
    ("java", "BigDecimal credit = price.multiply(ratio).setScale(2, RoundingMode.HALF_EVEN);"),
]
_LINKS = [
    "https://wiki.example.com/billing/proration",
    "https://status.example.com/incidents/4412",
    "https://runbooks.example.com/archive/restore",
    "https://docs.example.com/api/subscriptions",
    "https://grafana.example.com/d/billing-overview",
]
_COMMENT_LINES = [
    "I can reproduce this on staging with a {plan} account.",
    "Root cause looks like the rounding in the proration step.",
    "Deployed a fix behind the feature flag, please verify.",
    "Verified on staging, the totals now match.",
    "This also affects the weekly finance export.",
    "Moving this to review, the migration script is ready.",
    "Customer confirmed the issue is gone after the {release} release.",
    "Can we get numbers on how many accounts are affected?",
    "Blocked until the ledger reconciliation finishes.",
    "Added a regression test and updated the runbook.",
]
_LABELS = [
    "billing",
    "proration",
    "dunning",
    "invoices",
    "tax",
    "migration",
    "archive",
    "customer-reported",
    "tech-debt",
    "q4",
    "api",
    "ui",
]
_TIME_ZONES = ["UTC", "Europe/Lisbon", "America/New_York", "Asia/Tokyo", "Europe/Berlin"]

_CATEGORIES = {
    "new": {"id": 2, "key": "new", "colorName": "blue-gray", "name": "To Do"},
    "indeterminate": {"id": 4, "key": "indeterminate", "colorName": "yellow", "name": "In Progress"},
    "done": {"id": 3, "key": "done", "colorName": "green", "name": "Done"},
}
_STATUSES = [
    ("10000", "To Do", "new"),
    ("3", "In Progress", "indeterminate"),
    ("10001", "In Review", "indeterminate"),
    ("10002", "Done", "done"),
]
_PRIORITIES = [("1", "Highest"), ("2", "High"), ("3", "Medium"), ("4", "Low"), ("5", "Lowest")]
_ISSUE_TYPES = [("10001", "Task"), ("10002", "Bug"), ("10003", "Story")]
_PROJECT_WEIGHTS = {"SUBS": 0.45, "BC": 0.35, "ARCH": 0.20}


def _avatars(kind: str, ident: str) -> dict[str, str]:
    sizes = ("48x48", "24x24", "16x16", "32x32")
    return {size: f"https://avatars.example.com/{kind}/{ident}/{size}.png" for size in sizes}


def _user(person: Person, index: int) -> dict[str, Any]:
    return {
        "self": f"{API}/user?accountId={person.account_id}",
        "accountId": person.account_id,
        "emailAddress": person.email,
        "avatarUrls": _avatars("user", person.account_id),
        "displayName": person.name,
        "active": True,
        "timeZone": _TIME_ZONES[index % len(_TIME_ZONES)],
        "accountType": "atlassian",
    }


def _project(index: int, key: str, name: str) -> dict[str, Any]:
    pid = str(10000 + index)
    return {
        "self": f"{API}/project/{pid}",
        "id": pid,
        "key": key,
        "name": name,
        "projectTypeKey": "software",
        "simplified": False,
        "avatarUrls": _avatars("project", pid),
    }


def _status(sid: str, name: str, category: str) -> dict[str, Any]:
    cat = _CATEGORIES[category]
    return {
        "self": f"{API}/status/{sid}",
        "description": "",
        "iconUrl": "https://jira.example.com/images/status.png",
        "name": name,
        "id": sid,
        "statusCategory": {"self": f"{API}/statuscategory/{cat['id']}", **cat},
    }


def _priority(pid: str, name: str) -> dict[str, Any]:
    return {
        "self": f"{API}/priority/{pid}",
        "iconUrl": f"https://jira.example.com/images/priority/{name.lower()}.svg",
        "name": name,
        "id": pid,
    }


def _issue_type(tid: str, name: str) -> dict[str, Any]:
    return {
        "self": f"{API}/issuetype/{tid}",
        "id": tid,
        "description": f"A {name.lower()}.",
        "iconUrl": f"https://jira.example.com/images/issuetype/{tid}.svg",
        "name": name,
        "subtask": False,
        "hierarchyLevel": 0,
    }


# --- ADF builders (Atlassian Document Format, what v3 returns for rich text) --------------------


def _text(text: str, *marks: dict[str, Any]) -> dict[str, Any]:
    node: dict[str, Any] = {"type": "text", "text": text}
    if marks:
        node["marks"] = list(marks)
    return node


def _link(text: str, href: str) -> dict[str, Any]:
    return _text(text, {"type": "link", "attrs": {"href": href}})


def _mention(person: Person) -> dict[str, Any]:
    return {"type": "mention", "attrs": {"id": person.account_id, "text": f"@{person.name}", "accessLevel": ""}}


def _para(*content: dict[str, Any]) -> dict[str, Any]:
    return {"type": "paragraph", "content": list(content)}


def _heading(text: str, level: int = 3) -> dict[str, Any]:
    return {"type": "heading", "attrs": {"level": level}, "content": [_text(text)]}


def _list(kind: str, items: Sequence[str]) -> dict[str, Any]:
    entries = [{"type": "listItem", "content": [_para(_text(item))]} for item in items]
    node: dict[str, Any] = {"type": kind, "content": entries}
    if kind == "orderedList":
        node["attrs"] = {"order": 1}
    return node


def _code(language: str, text: str) -> dict[str, Any]:
    return {"type": "codeBlock", "attrs": {"language": language}, "content": [_text(text)]}


def _doc(*content: dict[str, Any]) -> dict[str, Any]:
    return {"type": "doc", "version": 1, "content": list(content)}


class _Writer:
    """Writes ADF bodies from one seeded generator, fast enough for 5,000 issues in well under 2 s.

    ``random.choice``/``randint`` cost about a microsecond each, so picks go through one
    ``random()`` call. Each body starts with a paragraph written for it (naming its issue, so
    no two documents are identical) followed by a tail drawn from a pool of pre-built blocks
    (steps, criteria, code, links), which are shared read-only between documents.
    """

    POOL = 64

    def __init__(self, rng: Any, people: Sequence[Person]) -> None:
        self.random = rng.random
        self.rng = rng
        self.people = people
        self.description_tails = {p: [self._description_tail(p) for _ in range(self.POOL)] for p in _SYMPTOMS}
        self.comment_tails = [self._comment_tail(p) for p in _SYMPTOMS for _ in range(self.POOL // 4)]

    def pick(self, seq: Sequence[Any]) -> Any:
        return seq[int(self.random() * len(seq))]

    def between(self, lo: int, hi: int) -> int:
        """Uniform integer in [lo, hi]."""
        return lo + int(self.random() * (hi - lo + 1))

    def fill(self, template: str, project: str) -> str:
        pick = self.pick
        return template.format(plan=pick(_PLANS), release=pick(_RELEASES), n=self.between(2, 40), symptom=pick(_SYMPTOMS[project]))

    def person(self) -> Person:
        return self.pick(self.people)

    def _description_tail(self, project: str) -> list[dict[str, Any]]:
        r, blocks = self.random, []
        if r() < 0.6:
            steps = [self.fill(s, project) for s in self.rng.sample(_STEPS, self.between(2, 4))]
            blocks += [_heading("Steps to reproduce"), _list("orderedList", steps)]
        if r() < 0.6:
            criteria = [self.fill(c, project) for c in self.rng.sample(_CRITERIA, self.between(2, 3))]
            blocks += [_heading("Acceptance criteria"), _list("bulletList", criteria)]
        if r() < 0.4:
            blocks.append(_code(*self.pick(_CODE)))
        if r() < 0.5:
            blocks.append(
                _para(
                    _text("Background: "),
                    _link("design notes", self.pick(_LINKS)),
                    _text(" and "),
                    {"type": "inlineCard", "attrs": {"url": self.pick(_LINKS)}},
                )
            )
        return blocks

    def _comment_tail(self, project: str) -> list[dict[str, Any]]:
        roll = self.random()
        if roll < 0.15:
            return [_code(*self.pick(_CODE))]
        if roll < 0.3:
            return [_list("bulletList", [self.fill(c, project) for c in self.rng.sample(_CRITERIA, 2)])]
        if roll < 0.4:
            return [_para(_text("See "), _link("the dashboard", self.pick(_LINKS)), _text("."))]
        return []

    def description(self, project: str, key: str) -> dict[str, Any] | None:
        if self.random() < 0.08:
            return None  # Jira sends null for an empty description
        lead = _para(
            _text(f"{key}: " + self.fill(self.pick(_CONTEXT), project) + " "),
            _text("Impact: ", {"type": "strong"}),
            _text(self.pick(("high", "medium", "low")), {"type": "em"}),
            _text(". "),
            _mention(self.person()),
            _text(" can you take a look?"),
        )
        return _doc(lead, *self.pick(self.description_tails[project]))

    def comment_body(self, project: str) -> dict[str, Any]:
        line = _text(self.fill(self.pick(_COMMENT_LINES), project))
        lead = _para(_mention(self.person()), _text(" "), line) if self.random() < 0.3 else _para(line)
        tail = self.pick(self.comment_tails) if self.random() < 0.5 else []
        return _doc(lead, *tail)


# --- generation ----------------------------------------------------------------------------------


def _timeline(rng: Any, count: int, start_ms: int, anchor_ms: int) -> list[tuple[int, int]]:
    """(created_ms, updated_ms) per issue, with the guarantees the window tests rely on.

    Every 30-minute slot of the last 4 hours has an update; exactly one issue is updated exactly
    on a slot boundary (anchor - 60 min, .000 ms); no other update sits on a boundary.
    """
    slot_ms = int(SLOT.total_seconds() * 1000)
    r = rng.random
    times = []
    for _ in range(count):
        created = start_ms + int(r() * (anchor_ms - 2 - start_ms))
        # Skew updates towards the anchor: recent activity is what incremental syncs see.
        updated = anchor_ms - 1 - int((anchor_ms - 1 - created) * r() ** 1.5)
        times.append([created, updated])
    slots = GUARANTEED_HOURS * 60 // int(SLOT.total_seconds() // 60)
    chosen = rng.sample(range(count), min(count, slots + 1))
    for slot, index in enumerate(chosen[:slots]):
        lo = anchor_ms - (slot + 1) * slot_ms
        times[index][1] = rng.randint(lo + 1, lo + slot_ms - 1)
    boundary = chosen[-1] if len(chosen) > slots else None
    for index, pair in enumerate(times):
        if index == boundary:
            pair[1] = anchor_ms - int(BOUNDARY_OFFSET.total_seconds() * 1000)
        elif pair[1] % slot_ms == 0:
            pair[1] += 1 if pair[1] + 1 < anchor_ms else -1
        pair[0] = max(start_ms, min(pair[0], pair[1] - int(r() * 3_600_000)))
    return [(c, u) for c, u in times]


def _comments(
    writer: _Writer, users: Mapping[str, dict], project: str, issue_id: int, created_ms: int, updated_ms: int, count: int, next_id: int
) -> tuple[dict[str, Any], ...]:
    r = writer.random
    span = updated_ms - created_ms
    stamps = sorted(created_ms + int(r() * span) for _ in range(count))
    out = []
    for offset, stamp in enumerate(stamps):
        author = users[writer.person().account_id]
        edited = stamp if r() < 0.85 else stamp + int(r() * (updated_ms - stamp))
        cid = str(next_id + offset)
        out.append(
            {
                "self": f"{API}/issue/{issue_id}/comment/{cid}",
                "id": cid,
                "author": author,
                "body": writer.comment_body(project),
                "updateAuthor": author,
                "created": format_time(stamp),
                "updated": format_time(edited),
                "jsdPublic": True,
            }
        )
    return tuple(out)


def generate(ws: Workspace) -> JiraData:
    """Deterministic Jira content for ``ws``: ``ISSUES_PER_SCALE * ws.scale`` issues, ~3 comments each.

    The cyclic garbage collector is paused meanwhile: the data is acyclic trees of small dicts,
    and collection passes over the growing heap would cost more than building it.
    """
    paused = gc.isenabled()
    gc.disable()
    try:
        return _generate(ws)
    finally:
        if paused:
            gc.enable()


def _generate(ws: Workspace) -> JiraData:
    rng = ws.rng("jira")
    writer = _Writer(rng, ws.people)
    pick, between = writer.pick, writer.between
    users = {p.account_id: _user(p, i) for i, p in enumerate(ws.people)}
    projects = [_project(i, p.key, p.name) for i, p in enumerate(ws.projects)]
    project_by_key = {p["key"]: p for p in projects}
    keys = list(project_by_key)
    weights = [_PROJECT_WEIGHTS.get(k, 0.2) for k in keys]
    statuses = [_status(*s) for s in _STATUSES]
    priorities = [_priority(*p) for p in _PRIORITIES]
    types = [_issue_type(*t) for t in _ISSUE_TYPES]

    count = ISSUES_PER_SCALE * max(1, ws.scale)
    timeline = _timeline(rng, count, epoch_ms(ws.start), epoch_ms(ws.anchor))
    owners = rng.choices(keys, weights, k=count)
    long_thread = 3  # one early issue carries the long comment thread
    numbers = dict.fromkeys(keys, 0)
    next_comment = 100001
    issues = []
    for index, (created, updated) in enumerate(timeline):
        project = owners[index]
        numbers[project] += 1
        issue_id = 20001 + index
        key = f"{project}-{numbers[project]}"
        flavour = project if project in _SYMPTOMS else "SUBS"
        n_comments = LONG_THREAD_COMMENTS if index == long_thread else between(0, MAX_COMMENTS_PER_ISSUE)
        comments = _comments(writer, users, flavour, issue_id, created, updated, n_comments, next_comment)
        next_comment += n_comments
        labels = sorted({pick(_LABELS) for _ in range(between(0, 3))})
        fields = {
            "summary": pick(_TOPICS[flavour]) + pick(_QUALIFIERS),
            "description": writer.description(flavour, key),
            "status": pick(statuses),
            "assignee": None if writer.random() < 0.15 else users[writer.person().account_id],
            "reporter": users[writer.person().account_id],
            "priority": pick(priorities),
            "labels": labels,
            "issuetype": pick(types),
            "project": project_by_key[project],
            "created": format_time(created),
            "updated": format_time(updated),
        }
        issues.append(JiraIssue(issue_id, key, project, numbers[project], created, updated, fields, comments))
    return JiraData(projects=projects, users=users, issues=issues)


def malformed_issue(data: JiraData, ws: Workspace) -> JiraIssue:
    """An issue whose payload is broken (no summary, ``updated`` not a date), for skip-and-count tests.

    Search still finds it by its (internal) update time 45 minutes before the anchor, in an active
    project, so a connector's window query returns it.
    """
    project = next(p for p in ws.projects if p.is_active).key
    number = 1 + max((i.number for i in data.issues if i.project == project), default=0)
    updated = epoch_ms(ws.anchor - timedelta(minutes=45)) + 321
    base = data.issues[0].fields
    fields = {
        "description": "this payload is deliberately broken",
        "status": base["status"],
        "project": next(p for p in data.projects if p["key"] == project),
        "created": "yesterday-ish",
        "updated": "not-a-date",
        "labels": None,
    }
    return JiraIssue(max(data.by_id) + 1, f"{project}-{number}", project, number, updated - 1, updated, fields)


# --- ADF to text, for the v2 aliases (v2 sends wiki-markup strings where v3 sends ADF) ------------


def adf_to_text(node: Any) -> str:
    """A plain-text rendering of an ADF document (close to what v2's wiki markup reads like)."""
    if node is None or isinstance(node, str):
        return node or ""
    kind = node.get("type")
    if kind == "text":
        return node.get("text", "")
    if kind == "mention":
        return node.get("attrs", {}).get("text", "")
    if kind == "inlineCard":
        return node.get("attrs", {}).get("url", "")
    if kind == "hardBreak":
        return "\n"
    parts = [adf_to_text(child) for child in node.get("content", [])]
    if kind in ("bulletList", "orderedList"):
        bullet = "# " if kind == "orderedList" else "* "
        return "\n".join(bullet + part for part in parts)
    if kind in ("doc", "listItem"):
        return "\n".join(parts)
    if kind == "codeBlock":
        return "{code}\n" + "".join(parts) + "\n{code}"
    if kind == "heading":
        return f"h{node.get('attrs', {}).get('level', 3)}. " + "".join(parts)
    return "".join(parts)


# --- fields: definitions and selection ----------------------------------------------------------

# (id, name, schema, clauseNames, navigable, orderable, searchable)
_FIELD_DEFS: list[tuple[str, str, dict[str, str] | None, list[str], bool, bool, bool]] = [
    ("issuekey", "Key", None, ["id", "issue", "issuekey", "key"], True, False, False),
    ("summary", "Summary", {"type": "string", "system": "summary"}, ["summary"], True, True, True),
    ("description", "Description", {"type": "string", "system": "description"}, ["description"], True, True, True),
    ("status", "Status", {"type": "status", "system": "status"}, ["status"], True, False, True),
    ("assignee", "Assignee", {"type": "user", "system": "assignee"}, ["assignee"], True, True, True),
    ("reporter", "Reporter", {"type": "user", "system": "reporter"}, ["reporter"], True, True, True),
    ("priority", "Priority", {"type": "priority", "system": "priority"}, ["priority"], True, True, True),
    ("labels", "Labels", {"type": "array", "items": "string", "system": "labels"}, ["labels"], True, True, True),
    ("issuetype", "Issue Type", {"type": "issuetype", "system": "issuetype"}, ["issuetype", "type"], True, True, True),
    ("project", "Project", {"type": "project", "system": "project"}, ["project"], True, False, True),
    ("created", "Created", {"type": "datetime", "system": "created"}, ["created", "createdDate"], True, False, True),
    ("updated", "Updated", {"type": "datetime", "system": "updated"}, ["updated", "updatedDate"], True, False, True),
    # Not navigable: "*navigable" (the old search default) leaves comments out.
    ("comment", "Comment", {"type": "comments-page", "system": "comment"}, ["comment"], False, True, True),
]
FIELD_NAMES = {fid: name for fid, name, *_ in _FIELD_DEFS}
_ISSUE_FIELDS = [fid for fid, *_ in _FIELD_DEFS if fid != "issuekey"]
_NAVIGABLE = [fid for fid, _n, _s, _c, nav, *_ in _FIELD_DEFS if nav and fid != "issuekey"]
# The spec promises its largest pages (5,000) "when requesting `id` or `key` only": `issuekey`
# (what the jira library rewrites `key` into) is a field like any other here.
_ID_ONLY = {"id", "key"}


def field_definitions() -> list[dict[str, Any]]:
    out = []
    for fid, name, schema, clauses, navigable, orderable, searchable in _FIELD_DEFS:
        item: dict[str, Any] = {
            "id": fid,
            "key": fid,
            "name": name,
            "custom": False,
            "orderable": orderable,
            "navigable": navigable,
            "searchable": searchable,
            "clauseNames": clauses,
        }
        if schema:
            item["schema"] = schema
        out.append(item)
    return out


def field_tokens(values: Iterable[str] | str | None) -> list[str]:
    """The entries of a ``fields`` parameter: repeated parameters and comma lists, flattened."""
    if isinstance(values, str):
        values = [values]
    return [t.strip() for v in (values or []) if v for t in str(v).split(",") if t.strip()]


def select_fields(values: Iterable[str] | str | None, default: str) -> tuple[list[str], bool]:
    """(field ids to return, id_only) for a ``fields`` parameter.

    Accepts repeated parameters and comma lists, ``*all``, ``*navigable`` and ``-field``
    exclusions. Unknown fields are ignored, as Jira does.
    """
    tokens = field_tokens(values) or [default]
    include: list[str] = []
    exclude = set()
    for token in tokens:
        if token.startswith("-"):
            exclude.add(token[1:])
        elif token == "*all":
            include += _ISSUE_FIELDS
        elif token == "*navigable":
            include += _NAVIGABLE
        elif token in FIELD_NAMES and token != "issuekey":
            include.append(token)
    chosen = [f for f in dict.fromkeys(include) if f not in exclude]
    id_only = not chosen and all(t.lstrip("-") in _ID_ONLY for t in tokens)
    return chosen, id_only


# --- the simulator ---------------------------------------------------------------------------------


class _Index:
    """An immutable snapshot of the issues one simulator serves, with the JQL catalog lookups."""

    def __init__(self, issues: Iterable[JiraIssue], projects: Sequence[dict[str, Any]]) -> None:
        self.issues = sorted(issues, key=lambda i: i.id)
        self.by_id = {i.id: i for i in self.issues}
        self.by_key = {i.key.upper(): i for i in self.issues}
        self.projects = {}
        for p in projects:
            for alias in (p["key"], p["id"], p["name"]):
                self.projects[alias.upper()] = p["key"]

    def project_key(self, value: str) -> str | None:
        return self.projects.get(value.strip().upper())

    def issue_id(self, value: str) -> int | None:
        value = value.strip()
        if value.isdigit():
            return int(value) if int(value) in self.by_id else None
        issue = self.by_key.get(value.upper())
        return issue.id if issue else None

    def find(self, id_or_key: str) -> JiraIssue | None:
        issue_id = self.issue_id(id_or_key)
        return self.by_id.get(issue_id) if issue_id is not None else None


def _sort_value(issue: JiraIssue, name: str) -> Any:
    if name == "updated":
        return issue.updated_ms
    if name == "created":
        return issue.created_ms
    if name == "project":
        return issue.project
    if name == "id":
        return issue.id
    return (issue.project, issue.number)  # key: project key, then number (SUBS-2 < SUBS-10)


def _int_param(raw: Any, name: str, default: int) -> int:
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise jql.JqlError(f"The value '{raw}' is not a valid number for the parameter '{name}'.") from None


class JiraSimulator(Simulator):
    """Jira Cloud REST v3 (with v2 aliases) over :func:`generate`'s data.

    Options: ``malformed=True`` adds :func:`malformed_issue`; ``time_zone`` (IANA name, default
    ``"UTC"``) is the API user's zone, in which absolute JQL dates are read.
    Mutations for tests (this simulator only; the workspace data is not touched):
    :meth:`touch`, :meth:`add_comment`, :meth:`delete`.
    """

    name = "jira"
    _V = r"/rest/api/(?P<v>2|3|latest)"

    def __init__(self, workspace: Workspace, **options: Any) -> None:
        super().__init__(workspace, **options)
        self.data: JiraData = workspace.data("jira")
        self.time_zone = ZoneInfo(options.get("time_zone", "UTC"))
        issues = list(self.data.issues)
        if options.get("malformed"):
            issues.append(malformed_issue(self.data, workspace))
        self._index = _Index(issues, self.data.projects)
        self._results: OrderedDict[str, list[JiraIssue]] = OrderedDict()
        self._results_lock = threading.Lock()
        self._comment_ids = 1 + max((int(c["id"]) for i in issues for c in i.comments), default=100000)
        self.is_last_early = bool(options.get("is_last_early", False))

    # --- dialect hooks ---------------------------------------------------------------------

    def authorize(self, request: Request) -> Response | None:
        """HTTP Basic (any email, API token as password) or Bearer; serverInfo is also anonymous."""
        header = request.headers.get("Authorization") or ""
        if header.startswith("Basic "):
            try:
                email, _, secret = base64.b64decode(header[6:]).decode("utf-8").partition(":")
            except (binascii.Error, UnicodeDecodeError):
                email, secret = "", ""
            if email and secret == self.token:
                return None
        elif request.bearer() == self.token:
            return None
        elif not header and request.path.endswith("/serverInfo"):
            return None
        return self.error(401, NOT_AUTHENTICATED)

    def error(self, status: int, message: str) -> Response:
        return Response(status, {"errorMessages": [message], "errors": {}})

    def rate_limited(self, retry_after_s: int, request: Request) -> Response:
        """429 with Retry-After and Jira's X-RateLimit-* headers (what the jira library logs)."""
        limiter = self.sandbox.rate_limits.get(self.name) if self.sandbox else None
        capacity = int(limiter.capacity) if limiter else 100
        fill = max(1, int(limiter.refill_per_s)) if limiter else 10
        reset = datetime.now(timezone.utc) + timedelta(seconds=retry_after_s)
        headers = {
            "Retry-After": str(retry_after_s),
            "X-RateLimit-Limit": str(capacity),
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-FillRate": str(fill),
            "X-RateLimit-Interval-Seconds": "1",
            "X-RateLimit-Reset": reset.strftime("%Y-%m-%dT%H:%MZ"),
            "RateLimit-Reason": "jira-burst-based",
        }
        return Response(429, {"errorMessages": ["Rate limit exceeded."], "errors": {}}, headers)

    # --- rendering ---------------------------------------------------------------------------

    def _api_url(self, request: Request) -> str:
        return f"{self._base_url(request)}/rest/api/{request.params.get('v', '3')}"

    def _base_url(self, request: Request) -> str:
        host = request.headers.get("Host")
        if host:
            return f"http://{host}{self.prefix}"
        return self.sandbox.base_url(self.name) if self.sandbox else self.prefix

    def _ok(self, request: Request, payload: Any) -> Response:
        """JSON with self links pointing at the URL (host, API version) the client used."""
        text = json.dumps(payload, separators=(",", ":")).replace(API, self._api_url(request))
        return Response(200, text, dict(_JSON))

    def _v2(self, request: Request) -> bool:
        return request.params.get("v") in ("2", "latest")

    def _comment_json(self, comment: dict[str, Any], v2: bool) -> dict[str, Any]:
        return {**comment, "body": adf_to_text(comment["body"])} if v2 else comment

    def _issue_json(self, issue: JiraIssue, wanted: Sequence[str], v2: bool, expand: str = "") -> dict[str, Any]:
        out: dict[str, Any] = {"expand": _ISSUE_EXPAND, "id": str(issue.id), "self": f"{API}/issue/{issue.id}", "key": issue.key}
        fields = {}
        for name in wanted:
            if name == "comment":
                fields["comment"] = self._embedded_comments(issue, v2)
            elif name in issue.fields:
                value = issue.fields[name]
                fields[name] = adf_to_text(value) if v2 and name == "description" and value else value
        out["fields"] = fields
        if "names" in expand.split(","):
            out["names"] = {name: FIELD_NAMES[name] for name in wanted}
        return out

    def _embedded_comments(self, issue: JiraIssue, v2: bool) -> dict[str, Any]:
        shown = issue.comments[:EMBEDDED_COMMENTS]
        return {
            "comments": [self._comment_json(c, v2) for c in shown],
            "self": f"{API}/issue/{issue.id}/comment",
            "maxResults": EMBEDDED_COMMENTS,
            "total": len(issue.comments),
            "startAt": 0,
        }

    # --- search ------------------------------------------------------------------------------

    def results(self, jql_text: str | None) -> list[JiraIssue]:
        """Issues matching a JQL string, in its order. Cached per string until data changes."""
        key = (jql_text or "").strip()
        index = self._index
        with self._results_lock:
            cached = self._results.get(key)
            if cached is not None:
                self._results.move_to_end(key)
                return cached
        query = jql.parse(key)
        if not query.bounded:
            raise jql.JqlError(jql.UNBOUNDED_MESSAGE)
        matches = jql.compile_filter(query, index, self.time_zone)
        found = jql.sort_records([i for i in index.issues if matches(i)], query.order_by, _sort_value)
        with self._results_lock:
            if index is self._index:  # don't cache answers computed from a replaced snapshot
                self._results[key] = found
                while len(self._results) > QUERY_CACHE_SIZE:
                    self._results.popitem(last=False)
        return found

    @staticmethod
    def page_token(offset: int, jql_text: str | None) -> str:
        """Opaque, stable token: the next offset bound to a hash of the query it belongs to."""
        raw = json.dumps([offset, _query_hash(jql_text)]).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @staticmethod
    def _offset(token: Any, jql_text: str | None) -> int:
        if token in (None, ""):  # an empty or null token is page one
            return 0
        try:
            text = str(token)
            offset, qhash = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
            if isinstance(offset, int) and offset >= 0 and qhash == _query_hash(jql_text):
                return offset
        except (ValueError, TypeError, binascii.Error):
            pass
        raise jql.JqlError(BAD_PAGE_TOKEN)

    def _search(self, request: Request, params: Mapping[str, Any]) -> Response:
        jql_text = params.get("jql")
        wanted, id_only = select_fields(params.get("fields"), default="id")
        expand = params.get("expand") or ""
        expand = ",".join(expand) if isinstance(expand, list) else str(expand)
        try:
            found = self.results(jql_text)
            offset = self._offset(params.get("nextPageToken"), jql_text)
            size = _int_param(params.get("maxResults"), "maxResults", SEARCH_DEFAULT_MAX_RESULTS)
        except jql.JqlError as exc:
            return self.error(400, str(exc))
        if size < 0:
            return self.error(400, "The maxResults parameter must be greater than or equal to 0.")
        size = min(size or SEARCH_DEFAULT_MAX_RESULTS, SEARCH_MAX_RESULTS_IDS if id_only else SEARCH_MAX_RESULTS_FIELDS)
        page = found[offset : offset + size]
        v2 = self._v2(request)
        if id_only and not expand:
            # The enhanced search's default (fields=id) answers bare ids; asking for the key adds it.
            with_key = "key" in field_tokens(params.get("fields"))
            issues = [{"id": str(i.id), "self": f"{API}/issue/{i.id}", "key": i.key} if with_key else {"id": str(i.id)} for i in page]
        else:
            issues = [self._issue_json(i, wanted, v2, expand) for i in page]
        body: dict[str, Any] = {"issues": issues}
        end = offset + len(page)
        if end < len(found):
            body["nextPageToken"] = self.page_token(end, jql_text)
        # The token is what marks a next page ("not included in the response for the last
        # page"); ``is_last_early`` makes isLast claim the end while a token still follows.
        body["isLast"] = end >= len(found) or self.is_last_early
        if "names" in expand.split(","):
            body["names"] = {name: FIELD_NAMES[name] for name in wanted}
        return self._ok(request, body)

    @route("GET", _V + r"/search/jql")
    def search_get(self, request: Request) -> Response:
        q = request.query
        params = {name: q[name][0] for name in ("jql", "nextPageToken", "maxResults", "expand") if name in q}
        if "fields" in q:
            params["fields"] = q["fields"]
        return self._search(request, params)

    @route("POST", _V + r"/search/jql")
    def search_post(self, request: Request) -> Response:
        try:
            body = request.json()
        except (ValueError, UnicodeDecodeError):
            return self.error(400, "Unexpected character in the request body: it must be a JSON object.")
        if not isinstance(body, dict):
            return self.error(400, "The request body must be a JSON object.")
        problem = next(jsonschema.Draft7Validator(SEARCH_REQUEST_SCHEMA).iter_errors(body), None)
        if problem is not None:
            where = ".".join(str(p) for p in problem.absolute_path) or "body"
            return self.error(400, f"{INVALID_PAYLOAD} ({where}: {problem.message})")
        return self._search(request, body)

    @route("POST", _V + r"/search/approximate-count")
    def approximate_count(self, request: Request) -> Response:
        body = request.json() if request.body else {}
        try:
            return self._ok(request, {"count": len(self.results((body or {}).get("jql")))})
        except (jql.JqlError, AttributeError) as exc:
            return self.error(400, str(exc))

    @route("GET", _V + r"/search")
    def search_removed_get(self, request: Request) -> Response:
        return self.error(410, GONE_MESSAGE)

    @route("POST", _V + r"/search")
    def search_removed_post(self, request: Request) -> Response:
        return self.error(410, GONE_MESSAGE)

    # --- issues and comments -----------------------------------------------------------------

    @route("GET", _V + r"/issue/(?P<issue>[^/]+)")
    def issue(self, request: Request) -> Response:
        issue = self._index.find(request.params["issue"])
        if issue is None:
            return self.error(404, ISSUE_NOT_FOUND)
        wanted, _ = select_fields(request.query.get("fields"), default="*all")
        return self._ok(request, self._issue_json(issue, wanted, self._v2(request), request.arg("expand") or ""))

    @route("GET", _V + r"/issue/(?P<issue>[^/]+)/comment")
    def comments(self, request: Request) -> Response:
        issue = self._index.find(request.params["issue"])
        if issue is None:
            return self.error(404, ISSUE_NOT_FOUND)
        try:
            start = max(0, _int_param(request.arg("startAt"), "startAt", 0))
            size = _int_param(request.arg("maxResults"), "maxResults", COMMENT_PAGE_DEFAULT)
        except jql.JqlError as exc:
            return self.error(400, str(exc))
        size = min(size if size > 0 else COMMENT_PAGE_DEFAULT, COMMENT_PAGE_MAX)
        order = (request.arg("orderBy") or "created").replace(" ", "").lower()
        if order not in ("created", "+created", "-created"):
            return self.error(400, "orderBy parameter can take only the following values: created, -created, +created.")
        ordered = issue.comments[::-1] if order == "-created" else issue.comments
        v2 = self._v2(request)
        page = [self._comment_json(c, v2) for c in ordered[start : start + size]]
        return self._ok(request, {"startAt": start, "maxResults": size, "total": len(issue.comments), "comments": page})

    # --- instance, users, projects -------------------------------------------------------------

    @route("GET", _V + r"/serverInfo")
    def server_info(self, request: Request) -> Response:
        base = self._base_url(request)
        return Response(
            200,
            {
                "baseUrl": base,
                "displayUrl": base,
                "version": ".".join(map(str, SERVER_VERSION)) + "-SNAPSHOT",
                "versionNumbers": list(SERVER_VERSION),
                "deploymentType": "Cloud",
                "buildNumber": 100300,
                "buildDate": "2026-11-02T03:14:15.000+0000",
                "serverTime": format_time(epoch_ms(datetime.now(timezone.utc))),
                "scmInfo": "9b1c5e0d3f5a4c2e8d7f6a5b4c3d2e1f0a9b8c7d",
                "serverTitle": f"{COMPANY} Jira",
            },
        )

    @route("GET", _V + r"/field")
    def fields(self, request: Request) -> Response:
        return Response(200, field_definitions())

    @route("GET", _V + r"/myself")
    def myself(self, request: Request) -> Response:
        person = self._caller(request)
        user = {
            **self.data.users[person.account_id],
            "timeZone": str(self.time_zone),
            "locale": "en_US",
            "expand": "groups,applicationRoles",
        }
        return self._ok(request, user)

    def _caller(self, request: Request) -> Person:
        header = request.headers.get("Authorization") or ""
        if header.startswith("Basic "):
            email = base64.b64decode(header[6:]).decode("utf-8", "replace").partition(":")[0]
            for person in self.workspace.people:
                if person.email == email:
                    return person
        return self.workspace.people[0]

    @route("GET", _V + r"/user")
    def user(self, request: Request) -> Response:
        account_id = request.arg("accountId")
        if not account_id:
            return self.error(400, "The query parameter 'accountId' is required.")
        user = self.data.users.get(account_id)
        if user is None:
            return self.error(404, USER_NOT_FOUND)
        return self._ok(request, {**user, "locale": "en_US", "expand": "groups,applicationRoles"})

    def _project_json(self, project: dict[str, Any]) -> dict[str, Any]:
        return {
            "expand": "description,lead,issueTypes,url,projectKeys,permissions,insight",
            **project,
            "style": "classic",
            "isPrivate": False,
            "properties": {},
        }

    @route("GET", _V + r"/project")
    def projects(self, request: Request) -> Response:
        return self._ok(request, [self._project_json(p) for p in self.data.projects])

    @route("GET", _V + r"/project/search")
    def project_search(self, request: Request) -> Response:
        try:
            start = max(0, _int_param(request.arg("startAt"), "startAt", 0))
            size = max(1, min(_int_param(request.arg("maxResults"), "maxResults", 50), 100))
        except jql.JqlError as exc:
            return self.error(400, str(exc))
        values = self.data.projects[start : start + size]
        return self._ok(
            request,
            {
                "self": f"{API}/project/search?startAt={start}&maxResults={size}",
                "maxResults": size,
                "startAt": start,
                "total": len(self.data.projects),
                "isLast": start + size >= len(self.data.projects),
                "values": [self._project_json(p) for p in values],
            },
        )

    # --- mutations for tests -------------------------------------------------------------------

    def _replace(self, issues: Iterable[JiraIssue]) -> None:
        with self.lock:
            self._index = _Index(issues, self.data.projects)
            with self._results_lock:
                self._results.clear()

    def issue_by_key(self, key: str) -> JiraIssue:
        issue = self._index.find(key)
        if issue is None:
            raise KeyError(key)
        return issue

    def touch(self, key: str, when: datetime, summary: str | None = None) -> JiraIssue:
        """Simulate an edit: ``updated`` becomes ``when`` (and the summary changes if given)."""
        with self.lock:
            issue = self.issue_by_key(key)
            ms = epoch_ms(when)
            fields = {**issue.fields, "updated": format_time(ms)}
            if summary is not None:
                fields["summary"] = summary
            new = dataclasses.replace(issue, updated_ms=ms, fields=fields)
            self._replace([new if i.id == issue.id else i for i in self._index.issues])
            return new

    def add_comment(self, key: str, when: datetime, text: str, author: Person | None = None) -> dict[str, Any]:
        """Simulate a new comment (which also bumps the issue's ``updated``, as in Jira)."""
        with self.lock:
            issue = self.issue_by_key(key)
            user = self.data.users[(author or self.workspace.people[0]).account_id]
            cid = str(self._comment_ids)
            self._comment_ids += 1
            stamp = format_time(epoch_ms(when))
            comment = {
                "self": f"{API}/issue/{issue.id}/comment/{cid}",
                "id": cid,
                "author": user,
                "body": _doc(_para(_text(text))),
                "updateAuthor": user,
                "created": stamp,
                "updated": stamp,
                "jsdPublic": True,
            }
            new = dataclasses.replace(
                issue, comments=issue.comments + (comment,), updated_ms=epoch_ms(when), fields={**issue.fields, "updated": stamp}
            )
            self._replace([new if i.id == issue.id else i for i in self._index.issues])
            return comment

    def delete(self, key: str) -> None:
        """Simulate a deleted issue: gone from search, GET answers 404."""
        with self.lock:
            issue = self.issue_by_key(key)
            self._replace([i for i in self._index.issues if i.id != issue.id])


def _query_hash(jql_text: str | None) -> str:
    return hashlib.sha1((jql_text or "").strip().encode("utf-8")).hexdigest()[:12]
