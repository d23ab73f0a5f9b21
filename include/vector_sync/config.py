"""Per-source settings in one table, overridable by an Airflow Variable or the environment.

Defaults come from the old system (schedules, staleness thresholds) and from the APIs'
documented limits. Override any field with the JSON Variable ``vector_sync_<source>``
(e.g. ``{"overlap_minutes": 10, "options": {"page_size": 50}}``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any, Mapping


@dataclass(frozen=True)
class SourceSettings:
    name: str
    schedule: str  # cron, read with CronDataIntervalTimetable in UTC
    overlap: timedelta  # re-scanned before each window start for late / eventually consistent data
    stale_after: timedelta  # health turns "stale" past this age (old system's thresholds)
    deadline: timedelta  # Deadline Alert: run not finished this long after being queued
    pool: str
    conn_id: str
    chunk_tokens: int = 512
    chunk_overlap_tokens: int = 64
    options: Mapping[str, Any] = field(default_factory=dict)

    def option(self, key: str, default: Any = None) -> Any:
        return self.options.get(key, default)

    def with_overrides(self, overrides: Mapping[str, Any] | None) -> "SourceSettings":
        """Apply a Variable's JSON: ``*_minutes`` keys for durations, ``options`` merged."""
        if not overrides:
            return self
        changes: dict[str, Any] = {}
        for key, value in overrides.items():
            if key == "options":
                changes["options"] = {**self.options, **value}
            elif key.endswith("_minutes") and key[: -len("_minutes")] in _DURATIONS:
                changes[key[: -len("_minutes")]] = timedelta(minutes=float(value))
            elif key in _PLAIN:
                changes[key] = value
            else:
                raise ValueError(f"unknown setting '{key}' for source '{self.name}' (Variable vector_sync_{self.name})")
        return replace(self, **changes)


_DURATIONS = {"overlap", "stale_after", "deadline"}
_PLAIN = {"schedule", "pool", "conn_id", "chunk_tokens", "chunk_overlap_tokens"}

SOURCE_SETTINGS: dict[str, SourceSettings] = {
    "slack": SourceSettings(
        name="slack",
        schedule="*/15 * * * *",
        overlap=timedelta(minutes=5),
        stale_after=timedelta(minutes=30),
        deadline=timedelta(minutes=30),
        pool="slack_api",
        conn_id="slack_api_default",
        chunk_tokens=400,
        chunk_overlap_tokens=40,
        options={
            "page_size": 200,  # history, replies and members pages (Slack recommends <= 200)
            "channel_page_size": 200,  # conversations.list (limit < 1000)
            # Replies and edits to parents up to this old are caught (history re-read per run).
            "lookback_days": 14,
            "auto_join": True,  # join public channels the bot is not in; else skip and count
            "include_bots": True,
            "workspace_domain": "",  # for permalinks, e.g. "lumenharbor.slack.com"; "": from auth.test
            "project_keys": [],  # known keys (the pipeline fills them); []: "subs-dev" -> SUBS
            "max_retries": 5,  # the SDK's retry handlers: 429 (Retry-After), 500/503, resets
            # Client-side pacing, method -> requests/minute ({}: none; the 429 retries remain).
            # Slack's tiers for an internal app: conversations.history / .replies / .join Tier 3
            # (50+/min), conversations.list Tier 2 (20+), conversations.members and users.info
            # Tier 4 (100+); commercially distributed non-Marketplace apps: 1/min on history and
            # replies. E.g. {"conversations.history": 50, "conversations.replies": 50}.
            "method_rpm": {},
            # vector_sync_permissions_slack: re-read channel privacy and private members, update
            # the indexed access in place (about one request per private channel per pass).
            "permissions_schedule": "40 * * * *",
        },
    ),
    "jira": SourceSettings(
        name="jira",
        schedule="*/30 * * * *",
        # Jira search is eventually consistent: re-scan a few minutes before each window.
        overlap=timedelta(minutes=5),
        stale_after=timedelta(minutes=60),
        deadline=timedelta(minutes=45),
        pool="jira_api",
        conn_id="jira_default",
        options={"page_size": 100, "comment_page_size": 100},
    ),
    "fireflies": SourceSettings(
        name="fireflies",
        schedule="0 * * * *",
        # Transcripts appear hours after the meeting and fromDate filters on the meeting date.
        overlap=timedelta(hours=12),
        stale_after=timedelta(minutes=120),
        deadline=timedelta(minutes=60),
        pool="fireflies_api",
        conn_id="fireflies_default",
        options={
            # transcripts(limit:) max is 50; lower it if pages of full transcripts time out.
            "page_size": 50,
            # "list": every field in the list query (1 request per 50 meetings: quotas count
            # requests); "detail": list ids, then transcript(id) each (smaller responses).
            "fetch_mode": "list",
            # Project tagging: [{key, name}] or keys; filled from the projects table at run time.
            "project_keys": [],
            # vector_sync_permissions_fireflies: re-read privacy and people (50 meetings a request).
            "permissions_schedule": "40 * * * *",
        },
    ),
    "notion": SourceSettings(
        name="notion",
        schedule="15 * * * *",
        overlap=timedelta(minutes=10),
        stale_after=timedelta(minutes=120),
        deadline=timedelta(minutes=60),
        pool="notion_api",
        conn_id="notion_default",
        # rps: Notion allows ~3 requests/s per integration, shared by the task's `workers`
        # threads (null or 0 turns the limiter off). max_depth: levels of nested blocks read.
        # project_keys / projects are filled from the projects table by the adapter.
        options={"page_size": 100, "block_page_size": 100, "workers": 8, "rps": 3.0, "burst": 1,
                 "max_depth": 8, "project_keys": []},
    ),
    "tempo": SourceSettings(
        name="tempo",
        schedule="*/30 * * * *",
        overlap=timedelta(minutes=10),
        stale_after=timedelta(minutes=120),
        deadline=timedelta(minutes=45),
        pool="tempo_api",
        conn_id="tempo_default",
        options={
            "page_size": 1000,  # /4/worklogs limit (default 50; 5000 is v4's documented maximum elsewhere)
            # Work dates read: from this day to the window end + future_days. updatedFrom does
            # the narrowing, so the range only has to hold edited and back-dated worklogs.
            "history_start": "2000-01-01",
            "future_days": 366,
            # Issues and people are named through this Jira connection (bulk JQL, cached per run).
            "jira_conn_id": "jira_default",
            "resolve_batch_size": 100,  # issue ids per `id in (...)` search (<= 100: one page)
            # Deleted worklogs come from papertrail, which keeps 180 days; older windows skip it.
            "deleted_lookback_days": 179,
            "deleted_page_size": 1000,  # papertrail limit: 1..1000
        },
    ),
}


def source_settings(name: str, overrides: Mapping[str, Any] | None = None) -> SourceSettings:
    try:
        base = SOURCE_SETTINGS[name]
    except KeyError:
        raise ValueError(f"unknown source '{name}'; known: {', '.join(sorted(SOURCE_SETTINGS))}") from None
    return base.with_overrides(overrides)
