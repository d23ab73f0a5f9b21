"""One ``SourceSpec`` per source: its class, its client hook, its default settings and its
typed options, in one registry. The source list, the class and hook look-ups and the settings
all derive from ``REGISTRY``; a source joins the DAGs and the conformance suite by being here.

Only names and plain values: nothing is imported from the sources or hooks, so parsing a DAG
file stays cheap. Defaults come from the old system (schedules, staleness thresholds) and from
the APIs' documented limits.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from importlib import import_module
from typing import Any

from vector_sync.config import SourceSettings
from vector_sync.options import Option, defaults

# Options every source reads (the pipeline, the Airflow adapter, the maintenance DAGs).
COMMON_OPTIONS: dict[str, Option] = {
    "max_partitions": Option(int, 4, "mapped fetch tasks per window at most (Slack: channel groups)", min=1),
    # A time slice is never shorter than this: a scheduled window (minutes to a day) stays whole.
    "partition_min_hours": Option(float, 24, "shortest time slice of a split window (0: always split)", min=0),
    "initial_history_days": Option(float, 30, "how far a source's first catch-up run reaches back", min=0),
    "embed_batch_docs": Option(int, 2000, "documents per embed/upsert batch (a mapped task each)", min=1),
    "max_embed_batches": Option(int, 16, "embed/upsert batches per run at most (no thousands of tiny tasks)", min=1),
    "prune_max_share": Option(float, 0.2, "a prune deleting more than this share of the documents stops", min=0, max=1),
    "prune_schedule": Option(str, "0 3 * * 0", "when the prune DAG runs: Sundays 03:00", cron=True),
    # Filled from the projects table at run time (build_source); a Variable may preset keys.
    "project_keys": Option(list, [], "project keys to tag documents with (filled at run time)"),
    "projects": Option(list, [], "[{key, name, is_active}] (filled at run time)"),
}
# vector_sync_permissions_<source> exists for the sources that declare this option.
_PERMISSIONS_SCHEDULE = Option(str, "40 * * * *", "when the permission pass runs: hourly at :40", cron=True)


def _prune_history_days(days: int) -> Option:
    return Option(float, days, "days of history a prune lists (null: all; older documents are never pruned)", min=0, nullable=True)


def _page_size(default: int, most: int, what: str = "items per page") -> Option:
    return Option(int, default, what, min=1, max=most)


@dataclass(frozen=True)
class SourceSpec:
    """Everything registered about one source; ``settings`` holds every option's default."""

    source: str  # "module:Class" of the Source, imported only when a task runs
    hook: str  # "module:Class" of the Airflow hook that builds its client (``get_conn()``)
    settings: SourceSettings

    @classmethod
    def of(cls, source: str, hook: str, options: Mapping[str, Option], **settings: Any) -> SourceSpec:
        """A spec whose settings hold the common and the source's own options' defaults."""
        schema = {**COMMON_OPTIONS, **options}
        return cls(source, hook, SourceSettings(schema=schema, options=defaults(schema), **settings))

    @property
    def schema(self) -> Mapping[str, Option]:
        return self.settings.schema


REGISTRY: dict[str, SourceSpec] = {
    "jira": SourceSpec.of(
        "vector_sync.sources.jira:JiraSource",
        "vector_sync.hooks.jira:JiraHook",
        {
            "page_size": _page_size(100, 100, "issues per search page"),
            "comment_page_size": _page_size(100, 100, "comments per page"),
        },
        name="jira",
        schedule="*/30 * * * *",
        # Jira search is eventually consistent: re-scan a few minutes before each window.
        overlap=timedelta(minutes=5),
        stale_after=timedelta(minutes=60),
        deadline=timedelta(minutes=45),
        pool="jira_api",
        conn_id="jira_default",
    ),
    "slack": SourceSpec.of(
        "vector_sync.sources.slack:SlackSource",
        "vector_sync.hooks.slack:SlackClientHook",
        {
            # history, replies and members pages: Slack recommends <= 200, allows 999
            "page_size": _page_size(200, 999, "messages / members per page"),
            "channel_page_size": _page_size(200, 999, "channels per conversations.list page"),
            # Replies and edits to parents up to this old are caught (history re-read per run).
            "lookback_days": Option(float, 14, "days of history re-read for late replies and edits", min=0),
            "auto_join": Option(bool, True, "join public channels the bot is not in (else skip and count)"),
            "include_bots": Option(bool, True, "index bot messages"),
            "workspace_domain": Option(str, "", 'for permalinks, e.g. "acme.slack.com" ("": from auth.test)'),
            # Slack's tiers for an internal app: conversations.history / .replies / .join Tier 3
            # (50+/min), conversations.list Tier 2 (20+), conversations.members and users.info
            # Tier 4 (100+); commercially distributed non-Marketplace apps: 1/min on history and
            # replies. E.g. {"conversations.history": 50, "conversations.replies": 50}.
            "method_rpm": Option(dict, {}, "client-side pacing, method -> requests/minute ({}: none)"),
            "prune_history_days": _prune_history_days(90),
            # Re-read channel privacy and private members (about one request per private channel).
            "permissions_schedule": _PERMISSIONS_SCHEDULE,
        },
        name="slack",
        schedule="*/15 * * * *",
        overlap=timedelta(minutes=5),
        stale_after=timedelta(minutes=30),
        deadline=timedelta(minutes=30),
        pool="slack_api",
        conn_id="slack_api_default",
        chunk_tokens=400,
        chunk_overlap_tokens=40,
    ),
    "notion": SourceSpec.of(
        "vector_sync.sources.notion:NotionSource",
        "vector_sync.hooks.notion:NotionHook",
        {
            # Both search and block children accept at most 100 per page (400 validation_error above).
            "page_size": _page_size(100, 100, "pages per search page"),
            "block_page_size": _page_size(100, 100, "blocks per children page"),
            "workers": Option(int, 8, "threads reading pages' block trees", min=1),
            # Notion allows ~3 requests/s per integration, shared by the task's workers.
            "rps": Option(float, 3.0, "requests per second (null or 0: no limiter)", min=0, nullable=True),
            "burst": Option(int, 1, "requests the limiter lets through at once", min=1),
            # Nesting has no fixed depth; this bounds a page's walk instead (and a cycle stops it).
            "max_blocks": Option(int, 20000, "blocks read per page at most", min=1),
            "project_names": Option(dict, {}, "extra {key: name} to tag pages by project name"),
            "project_key_pattern": Option(str, "", 'regex of a project key when no project is known ("": `[A-Z][A-Z0-9]{1,9}`)'),
        },
        name="notion",
        schedule="15 * * * *",
        # Search indexing "is not immediate" and Notion gives no bound: a page searchable up to
        # this late after its edit is still found by the next run (README, Notion assumptions).
        overlap=timedelta(minutes=30),
        stale_after=timedelta(minutes=120),
        deadline=timedelta(minutes=60),
        pool="notion_api",
        conn_id="notion_default",
    ),
    "fireflies": SourceSpec.of(
        "vector_sync.sources.fireflies:FirefliesSource",
        "vector_sync.hooks.fireflies:FirefliesHook",
        {
            # transcripts(limit:) above 50 is answered with invalid_arguments; lower it if pages
            # of full transcripts time out.
            "page_size": _page_size(50, 50, "transcripts per page"),
            # "list": every field in the list query (1 request per 50 meetings: quotas count
            # requests); "detail": list ids, then transcript(id) each (smaller responses).
            "fetch_mode": Option(
                str, "list", "list: full transcripts in the listing; detail: one request each", choices=("list", "detail")
            ),
            "prune_history_days": _prune_history_days(365),
            "prune_confirm": Option(bool, True, "re-check each prune candidate with transcript(id)"),
            # A key lists its owner's meetings (Fireflies: other teammates' only through an admin
            # key): true lists each user's with transcripts(user_id:), an admin key required.
            "list_per_user": Option(bool, False, "list every teammate's meetings (admin key; requests x users)"),
            # Re-read privacy and people (50 meetings a request).
            "permissions_schedule": _PERMISSIONS_SCHEDULE,
        },
        name="fireflies",
        schedule="0 * * * *",
        # Transcripts appear hours after the meeting and fromDate filters on the meeting date.
        overlap=timedelta(hours=12),
        stale_after=timedelta(minutes=120),
        deadline=timedelta(minutes=60),
        pool="fireflies_api",
        conn_id="fireflies_default",
    ),
    "tempo": SourceSpec.of(
        "vector_sync.sources.tempo:TempoSource",
        "vector_sync.hooks.tempo:TempoHook",
        {
            # /4/worklogs defaults to 50 per page; its maximum is UNCONFIRMED (5,000 on other v4 listings).
            "page_size": _page_size(1000, 5000, "worklogs per page"),
            # Work dates from this day on are read: wide, because an edit or a back-dated entry
            # can touch a worklog of any age and only updatedFrom narrows the listing.
            "history_start": Option(str, "2000-01-01", "first work date read (yyyy-MM-dd)"),
            # Worklogs may be logged ahead (planned leave).
            "future_days": Option(int, 366, "work dates read past the window end", min=0),
            # Issues and people are named through this Jira connection (bulk JQL, cached per run).
            "jira_conn_id": Option(str, "jira_default", "Jira connection that names issues and people"),
            # search/jql pages hold 100 issues when fields are asked for: one batch, one request.
            "resolve_batch_size": _page_size(100, 100, "issue ids per `id in (...)` search (one page)"),
            # Papertrail refuses a `from` older than 180 days; a day of margin so our clock and
            # Tempo's need not agree. Older windows (backfills) skip deletions: pruning catches them.
            "deleted_lookback_days": Option(
                float, 179, "days of papertrail read for deletions (0 or null: the whole window)", min=0, nullable=True
            ),
            "deleted_page_size": _page_size(1000, 1000, "papertrail events per page (limit 1..1000)"),
        },
        name="tempo",
        schedule="*/30 * * * *",
        overlap=timedelta(minutes=10),
        stale_after=timedelta(minutes=120),
        deadline=timedelta(minutes=45),
        pool="tempo_api",
        conn_id="tempo_default",
    ),
}


def spec(name: str) -> SourceSpec:
    try:
        return REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown source '{name}'; known: {', '.join(sorted(REGISTRY))}") from None


def source_settings(name: str, overrides: Mapping[str, Any] | None = None) -> SourceSettings:
    """The defaults of source ``name`` (its ``SourceSpec``) with ``overrides`` applied."""
    return spec(name).settings.with_overrides(overrides)


def load(path: str) -> Any:
    """The class a ``"module:Class"`` path names (imported now, not at parse time)."""
    module_name, class_name = path.split(":")
    return getattr(import_module(module_name), class_name)


def options_table() -> str:
    """The README's options table (a test keeps the two equal): common keys once, then each
    source's own."""
    rows = ["| source | option | default | allowed | meaning |", "|---|---|---|---|---|"]
    owned = [("all", COMMON_OPTIONS)] + [
        (name, {k: o for k, o in s.schema.items() if k not in COMMON_OPTIONS}) for name, s in REGISTRY.items()
    ]
    for where, schema in owned:
        for key, option in schema.items():
            rows.append(f"| {where} | `{key}` | `{json.dumps(option.default)}` | {option.allowed()} | {option.doc} |")
    return "\n".join(rows) + "\n"
