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
    ),
    "notion": SourceSettings(
        name="notion",
        schedule="15 * * * *",
        overlap=timedelta(minutes=10),
        stale_after=timedelta(minutes=120),
        deadline=timedelta(minutes=60),
        pool="notion_api",
        conn_id="notion_default",
    ),
    "tempo": SourceSettings(
        name="tempo",
        schedule="*/30 * * * *",
        overlap=timedelta(minutes=10),
        stale_after=timedelta(minutes=120),
        deadline=timedelta(minutes=45),
        pool="tempo_api",
        conn_id="tempo_default",
    ),
}


def source_settings(name: str, overrides: Mapping[str, Any] | None = None) -> SourceSettings:
    try:
        base = SOURCE_SETTINGS[name]
    except KeyError:
        raise ValueError(f"unknown source '{name}'; known: {', '.join(sorted(SOURCE_SETTINGS))}") from None
    return base.with_overrides(overrides)
