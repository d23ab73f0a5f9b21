"""Per-source settings, overridable by an Airflow Variable or the environment.

The defaults of every source live in its ``SourceSpec`` (``vector_sync.specs``, which also
reads a source's settings: ``source_settings``). Override any
field with the JSON Variable ``vector_sync_<source>`` (e.g.
``{"overlap_minutes": 10, "options": {"page_size": 50}}``); unknown keys and out-of-range values
are refused with a message naming the key, the allowed values and the Variable.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

from vector_sync.options import Option, check_options, is_cron


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
    options: Mapping[str, Any] = field(default_factory=dict)  # every declared key, defaults filled
    schema: Mapping[str, Option] = field(default_factory=dict, repr=False, compare=False)

    def option(self, key: str, default: Any = None) -> Any:
        return self.options.get(key, default)

    def with_overrides(self, overrides: Mapping[str, Any] | None) -> SourceSettings:
        """Apply a Variable's JSON: ``*_minutes`` keys for durations, ``options`` merged after
        checking them against the schema. ``ValueError`` names the bad key and the Variable."""
        if not overrides:
            return self
        where = f"(Variable vector_sync_{self.name})"
        changes: dict[str, Any] = {}
        for key, value in overrides.items():
            if key == "options":
                changes["options"] = {**self.options, **check_options(self.name, self.schema, value)}
            elif key.endswith("_minutes") and key[: -len("_minutes")] in _DURATIONS:
                changes[key[: -len("_minutes")]] = timedelta(minutes=_at_least(key, value, 0, f"of source '{self.name}' {where}"))
            elif key in _COUNTS:
                changes[key] = int(_at_least(key, value, _COUNTS[key], f"of source '{self.name}' {where}", whole=True))
            elif key in _TEXTS:
                if not isinstance(value, str) or not value or key == "schedule" and not is_cron(value):
                    kind = "a cron expression (UTC)" if key == "schedule" else "a non-empty string"
                    raise ValueError(f"setting '{key}' of source '{self.name}' must be {kind} {where}, got {value!r}")
                changes[key] = value
            else:
                raise ValueError(f"unknown setting '{key}' for source '{self.name}' {where}")
        return replace(self, **changes)


_DURATIONS = {"overlap", "stale_after", "deadline"}
_COUNTS = {"chunk_tokens": 1, "chunk_overlap_tokens": 0}  # key -> least value
_TEXTS = {"schedule", "pool", "conn_id"}


def _at_least(key: str, value: Any, low: float, where: str, whole: bool = False) -> float:
    """``value`` as a number >= ``low`` (an integer when ``whole``); else ``ValueError``."""
    kind = "an integer" if whole else "a number"
    try:
        number = float(value) if not isinstance(value, bool) else float("nan")
    except (TypeError, ValueError):
        number = float("nan")
    if not (math.isfinite(number) and number >= low) or (whole and not number.is_integer()):
        raise ValueError(f"setting '{key}' {where} must be {kind} >= {low:g}, got {value!r}")
    return number
