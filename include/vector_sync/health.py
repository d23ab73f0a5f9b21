"""Freshness watch: one alert when a source turns stale, failed or stuck, one when it recovers.

The ``vector_sync_health`` DAG calls :func:`check` every 15 minutes with every registered
source's status (``status.py``). What was already announced lives in one small table,
``vector_sync_health``, on the state database (created idempotently, SQLAlchemy Core,
SQLite and PostgreSQL alike), one row per source:

- ``incident_since`` is set when the source turns unhealthy and cleared when it recovers,
  so a source that stays stale for a day gets one alert, not 96.
- ``alerted_at`` is set only once the alert went out: a check that could not deliver it
  (Slack down) tries again on the next run instead of forgetting the incident.
- ``first_seen_at`` gives a source that has never run a grace period of its own staleness
  threshold, so deploying a new source does not page before its first run had a chance.
- ``stuck`` (the sync DAG gets no scheduled run, vector_sync.airflow.schedule) names the DAG and the
  cause: it is announced once even when the incident is already open as ``stale``, since a
  stale alert says nothing about why.

No Airflow here: sending is the caller's ``notify`` callable.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from vector_sync.state import UTCDateTime
from vector_sync.status import FAILED, HEALTHY, NEEDS_REBUILD, STALE, STUCK, SourceStatus

log = logging.getLogger(__name__)

UNHEALTHY = (STALE, FAILED, STUCK, NEEDS_REBUILD)

metadata = sa.MetaData()

health_table = sa.Table(
    "vector_sync_health",
    metadata,
    sa.Column("source", sa.String(50), primary_key=True),
    sa.Column("health", sa.String(16), nullable=False),  # as last checked
    sa.Column("first_seen_at", UTCDateTime(), nullable=False),
    sa.Column("last_checked_at", UTCDateTime(), nullable=False),
    sa.Column("incident_since", UTCDateTime(), nullable=True),  # open incident: unhealthy since
    sa.Column("incident_health", sa.String(16), nullable=True),  # what the opening alert said
    sa.Column("alerted_at", UTCDateTime(), nullable=True),  # the opening alert was delivered
    sa.Column("incidents", sa.Integer, nullable=False, server_default=sa.text("0")),
)


@dataclass(frozen=True)
class HealthEvent:
    """Something to announce: ``opened`` (turned stale/failed) or ``recovered``."""

    source: str
    kind: str  # opened | recovered
    health: str
    since: datetime | None
    status: SourceStatus


@dataclass(frozen=True)
class SourceHealth:
    source: str
    health: str
    first_seen_at: datetime
    last_checked_at: datetime
    incident_since: datetime | None
    incident_health: str | None
    alerted_at: datetime | None
    incidents: int


class HealthBook:
    """The ``vector_sync_health`` table on the state database's engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def migrate(self) -> None:
        try:
            metadata.create_all(self.engine, checkfirst=True)
        except sa.exc.DBAPIError:  # another process created it between check and create
            metadata.create_all(self.engine, checkfirst=True)

    def get(self, source: str) -> SourceHealth | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(health_table).where(health_table.c.source == source)).mappings().first()
        return SourceHealth(**row) if row else None

    def all(self) -> list[SourceHealth]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(health_table).order_by(health_table.c.source)).mappings().all()
        return [SourceHealth(**row) for row in rows]

    def _write(self, source: str, values: dict[str, Any], insert: bool) -> None:
        with self.engine.begin() as conn:
            if insert:
                conn.execute(health_table.insert().values(source=source, **values))
            else:
                conn.execute(health_table.update().where(health_table.c.source == source).values(**values))

    def mark_alerted(self, source: str, at: datetime) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                health_table.update()
                .where(health_table.c.source == source, health_table.c.incident_since.is_not(None))
                .values(alerted_at=at)
            )


def check(statuses: Iterable[SourceStatus], book: HealthBook, now: datetime | None = None) -> list[HealthEvent]:
    """Update the book with ``statuses``; return what must be announced (at most one event
    per source: its incident opened, is still unannounced, or ended)."""
    now = now or datetime.now(timezone.utc)
    events: list[HealthEvent] = []
    for status in statuses:
        row = book.get(status.source)
        first_seen = row.first_seen_at if row else now
        unhealthy = status.health in UNHEALTHY and not _in_grace(status, first_seen, now)
        values: dict[str, Any] = {"health": status.health, "last_checked_at": now}
        if row is None:
            values["first_seen_at"] = now
        if unhealthy:
            if row is None or row.incident_since is None:
                values.update(
                    incident_since=now, incident_health=status.health, alerted_at=None, incidents=(row.incidents if row else 0) + 1
                )
                events.append(HealthEvent(status.source, "opened", status.health, now, status))
            elif row.alerted_at is None:  # opened earlier, the alert never went out: try again
                if status.health == STUCK:
                    values["incident_health"] = STUCK
                events.append(HealthEvent(status.source, "opened", status.health, row.incident_since, status))
            elif status.health == STUCK and row.incident_health != STUCK:  # open as stale: now the cause is known
                values.update(incident_health=STUCK, alerted_at=None)
                events.append(HealthEvent(status.source, "opened", status.health, row.incident_since, status))
        elif row is not None and row.incident_since is not None:
            values.update(incident_since=None, incident_health=None, alerted_at=None)
            if row.alerted_at is not None:  # nobody heard of the incident: no recovery notice
                events.append(HealthEvent(status.source, "recovered", status.health, row.incident_since, status))
        book._write(status.source, values, insert=row is None)
    return events


def _in_grace(status: SourceStatus, first_seen: datetime, now: datetime) -> bool:
    """A source that never ran gets its own staleness threshold from when it was first seen
    (not a stuck schedule: that is why it would never run)."""
    never_ran = status.last_sync is None and status.last_run is None and status.health != STUCK
    return never_ran and now - first_seen <= timedelta(minutes=status.stale_after_minutes)


def run_check(
    statuses: Iterable[SourceStatus],
    book: HealthBook,
    notify: Callable[[HealthEvent], bool],
    now: datetime | None = None,
) -> dict[str, Any]:
    """:func:`check`, then ``notify`` each event; an opening alert that was delivered is marked
    so it is not sent again. Returns a summary for the task's XCom."""
    now = now or datetime.now(timezone.utc)
    statuses = list(statuses)
    events = check(statuses, book, now)
    sent: list[dict[str, Any]] = []
    for event in events:
        delivered = False
        try:
            delivered = bool(notify(event))
        except Exception:  # one source's alert must not stop the others
            log.exception("health alert for %s failed", event.source)
        if delivered and event.kind == "opened":
            book.mark_alerted(event.source, now)
        sent.append({"source": event.source, "kind": event.kind, "health": event.health, "delivered": delivered})
    return {
        "checked": {s.source: s.health for s in statuses},
        "events": sent,
        "unhealthy": sorted(s.source for s in statuses if s.health in UNHEALTHY),
        "healthy": sorted(s.source for s in statuses if s.health == HEALTHY),
    }
