"""Sync runs and what follows from them: ``last_sync`` (the old status table) and failures."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timezone
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from vector_sync.models import utc
from vector_sync.state.schema import (
    RUN_FAILED,
    RUN_RUNNING,
    RUN_STATUSES,
    RUN_SUCCESS,
    failures_table,
    runs_table,
    status_table,
    upsert,
)

# A traceback is useful in the dashboard; a megabyte of one is not.
MAX_ERROR_CHARS = 10_000


class FailedWindow(NamedTuple):
    window_start: datetime
    window_end: datetime
    run_id: str


@dataclass(frozen=True)
class SyncRun:
    """One sync run's window and metrics: a row of ``sync_runs``."""

    source: str
    run_id: str
    window_start: datetime
    window_end: datetime
    started_at: datetime
    finished_at: datetime | None = None
    status: str = RUN_RUNNING
    fetched: int = 0
    filtered_out: int = 0
    chunks: int = 0
    embedded: int = 0
    skipped_unchanged: int = 0
    upserted: int = 0
    deleted: int = 0
    errors: int = 0
    tokens: int = 0
    cost_usd: float = 0.0
    duration_s: float | None = None  # defaults to finished_at - started_at
    error_message: str | None = None
    id: int | None = None  # set when read back

    def __post_init__(self) -> None:
        if self.status not in RUN_STATUSES:
            raise ValueError(f"run status must be one of {RUN_STATUSES}, not {self.status!r}")
        for name in ("window_start", "window_end", "started_at", "finished_at"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, utc(value))
        if self.window_end < self.window_start:
            raise ValueError(f"window ends before it starts: {self.window_start} > {self.window_end}")
        if self.duration_s is None and self.finished_at is not None:
            object.__setattr__(self, "duration_s", (self.finished_at - self.started_at).total_seconds())


@dataclass(frozen=True)
class SyncFailure:
    """A failed task try: a row of ``sync_failures``."""

    id: int
    source: str
    run_id: str
    task_id: str
    window_start: datetime | None
    window_end: datetime | None
    error_message: str | None
    try_number: int
    occurred_at: datetime
    resolved_at: datetime | None


_RUN_FIELDS = [f.name for f in fields(SyncRun) if f.name != "id"]
_FAILURE_FIELDS = [f.name for f in fields(SyncFailure)]


@dataclass(frozen=True)
class RunRepository:
    """Reads and writes of ``sync_runs``, ``vector_sync_status`` and ``sync_failures``."""

    engine: Engine

    def record(self, run: SyncRun) -> int:
        """Insert or update the run keyed by (source, run_id, window_start); returns its id."""
        row = {name: getattr(run, name) for name in _RUN_FIELDS}
        row["error_message"] = _clip(row["error_message"])
        keys = ["source", "run_id", "window_start"]
        c = runs_table.c
        with self.engine.begin() as conn:
            upsert(conn, runs_table, [row], keys=keys)
            return int(
                conn.scalar(sa.select(c.id).where(c.source == run.source, c.run_id == run.run_id, c.window_start == run.window_start))
            )

    def recent(
        self,
        source: str | None = None,
        since: datetime | None = None,
        limit: int | None = 100,
        status: str | None = None,
    ) -> list[SyncRun]:
        """Runs newest first (by ``started_at``), optionally of one source/status since a time."""
        c = runs_table.c
        query = sa.select(runs_table).order_by(c.started_at.desc(), c.id.desc())
        if source is not None:
            query = query.where(c.source == source)
        if since is not None:
            query = query.where(c.started_at >= since)
        if status is not None:
            query = query.where(c.status == status)
        if limit is not None:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            return [_run_from_row(row) for row in conn.execute(query).mappings()]

    def last(self, source: str, status: str | None = None) -> SyncRun | None:
        found = self.recent(source, limit=1, status=status)
        return found[0] if found else None

    # --- status ------------------------------------------------------------------------

    def last_sync(self, source: str) -> datetime | None:
        with self.engine.connect() as conn:
            return conn.scalar(sa.select(status_table.c.last_sync).where(status_table.c.source == source))

    def status_rows(self) -> list[tuple[str, datetime]]:
        """``(source, last_sync)`` newest first: the old system's status query."""
        t = status_table.c
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(t.source, t.last_sync).order_by(t.last_sync.desc(), t.source))
            return [(source, last_sync) for source, last_sync in rows]

    def advance_last_sync(self, source: str, window_start: datetime, window_end: datetime) -> datetime:
        """Move ``last_sync`` to the end of the latest contiguous successful window.

        From the current ``last_sync`` (or the earliest successful window when there is none)
        it extends to the end of every successful run (this window counts as one) starting
        at or before the current end: overlapping windows are contiguous, a failed window
        leaves a gap that holds ``last_sync`` until it is re-run. Never moves backwards.
        Returns the stored value.
        """
        if len(source) > 50:
            raise ValueError(f"source name longer than 50 characters: {source!r}")
        window_start, window_end = utc(window_start), utc(window_end)
        c = runs_table.c
        with self.engine.connect() as conn:
            current = conn.scalar(sa.select(status_table.c.last_sync).where(status_table.c.source == source))
            query = sa.select(c.window_start, c.window_end).where(c.source == source, c.status == RUN_SUCCESS)
            if current is not None:
                query = query.where(c.window_end > current)
            windows = list(conn.execute(query.order_by(c.window_start)))
        windows.append((window_start, window_end))
        windows.sort()
        end = _contiguous_end(current if current is not None else windows[0][0], windows)
        # Nothing after now has been synced, whatever a window claimed: a cursor in the future
        # would make every catch-up window end before it starts (issue #19).
        end = min(end, datetime.now(timezone.utc))
        if current is not None and end <= current:
            return current
        with self.engine.begin() as conn:
            # Guarded so a concurrent writer with an older view cannot move it backwards.
            upsert(
                conn,
                status_table,
                [{"source": source, "last_sync": end}],
                keys=["source"],
                where=lambda table, excluded: table.c.last_sync < excluded.last_sync,
            )
            return conn.scalar(sa.select(status_table.c.last_sync).where(status_table.c.source == source))

    def set_last_sync(self, source: str, value: datetime) -> datetime:
        """Put ``last_sync`` at ``value``, backwards too (``vector-sync cursor --set``: the
        operator's repair); never past now. Returns the stored value."""
        value = min(utc(value), datetime.now(timezone.utc))
        with self.engine.begin() as conn:
            upsert(conn, status_table, [{"source": source, "last_sync": value}], keys=["source"])
            return conn.scalar(sa.select(status_table.c.last_sync).where(status_table.c.source == source))

    def contiguous_success_end(self, source: str, now: datetime | None = None) -> datetime | None:
        """The end of the latest contiguous successful windows that end by ``now``, from the
        earliest successful window on (None without one): where ``last_sync`` belongs."""
        now = utc(now) if now is not None else datetime.now(timezone.utc)
        c = runs_table.c
        with self.engine.connect() as conn:
            windows = list(
                conn.execute(
                    sa.select(c.window_start, c.window_end)
                    .where(c.source == source, c.status == RUN_SUCCESS, c.window_end <= now)
                    .order_by(c.window_start)
                )
            )
        return _contiguous_end(windows[0][0], windows) if windows else None

    def failed_windows(self, source: str) -> list[FailedWindow]:
        """Failed windows not covered by successful runs started at or after the failure.

        Coverage may come from several successful runs together. One entry per window (the
        most recent failed run), oldest window first.
        """
        c = runs_table.c
        with self.engine.connect() as conn:
            failed = list(
                conn.execute(
                    sa.select(c.window_start, c.window_end, c.run_id, c.started_at)
                    .where(c.source == source, c.status == RUN_FAILED)
                    .order_by(c.started_at, c.id)
                )
            )
            if not failed:
                return []
            horizon = min(f.window_start for f in failed)
            successes = list(
                conn.execute(
                    sa.select(c.window_start, c.window_end, c.started_at)
                    .where(c.source == source, c.status == RUN_SUCCESS, c.window_end > horizon)
                    .order_by(c.window_start)
                )
            )
        latest: dict[tuple[datetime, datetime], FailedWindow] = {}
        for f in failed:
            later = [(s.window_start, s.window_end) for s in successes if s.started_at >= f.started_at]
            if not _covered(f.window_start, f.window_end, later):
                latest[(f.window_start, f.window_end)] = FailedWindow(f.window_start, f.window_end, f.run_id)
        return sorted(latest.values())

    # --- failures ----------------------------------------------------------------------

    def record_failure(
        self,
        source: str,
        run_id: str,
        task_id: str,
        window_start: datetime | None = None,
        window_end: datetime | None = None,
        error_message: str | None = None,
        try_number: int = 1,
        occurred_at: datetime | None = None,
    ) -> int:
        """Store one failed task try; returns its id."""
        row = {
            "source": source,
            "run_id": run_id,
            "task_id": task_id,
            "window_start": window_start,
            "window_end": window_end,
            "error_message": _clip(error_message),
            "try_number": int(try_number),
            "occurred_at": occurred_at if occurred_at is not None else datetime.now(timezone.utc),
        }
        with self.engine.begin() as conn:
            return int(conn.execute(failures_table.insert().values(**row)).inserted_primary_key[0])

    def open_failures(self, source: str | None = None) -> list[SyncFailure]:
        """Unresolved failures, oldest first."""
        c = failures_table.c
        query = sa.select(failures_table).where(c.resolved_at.is_(None)).order_by(c.occurred_at, c.id)
        if source is not None:
            query = query.where(c.source == source)
        with self.engine.connect() as conn:
            return [SyncFailure(**{k: row[k] for k in _FAILURE_FIELDS}) for row in conn.execute(query).mappings()]

    def resolve_failures(self, source: str, resolved_at: datetime, until: datetime | None = None) -> int:
        """Mark open failures of ``source`` resolved; with ``until``, only those whose window
        ended by then (e.g. the new ``last_sync``). Returns how many were resolved."""
        c = failures_table.c
        stmt = failures_table.update().where(c.source == source, c.resolved_at.is_(None))
        if until is not None:
            stmt = stmt.where(c.window_end.is_not(None), c.window_end <= until)
        with self.engine.begin() as conn:
            return conn.execute(stmt.values(resolved_at=utc(resolved_at))).rowcount


def _contiguous_end(end: datetime, windows: Sequence[tuple[datetime, datetime]]) -> datetime:
    """How far ``windows`` (sorted by start) reach from ``end`` without a gap."""
    for start, stop in windows:
        if start > end:
            break  # a gap: later windows start even later
        end = max(end, stop)
    return end


def _clip(message: str | None) -> str | None:
    if message is None or len(message) <= MAX_ERROR_CHARS:
        return message
    return message[: MAX_ERROR_CHARS - 20] + "\n... [truncated]"


def _run_from_row(row: Mapping[str, Any]) -> SyncRun:
    return SyncRun(**{name: row[name] for name in _RUN_FIELDS}, id=row["id"])


def _covered(start: datetime, end: datetime, windows: Sequence[tuple[datetime, datetime]]) -> bool:
    """Whether the union of ``windows`` covers [start, end)."""
    reach = start
    for w_start, w_end in sorted(windows):
        if reach >= end:
            break
        if w_start > reach:
            return False
        reach = max(reach, w_end)
    return reach >= end
