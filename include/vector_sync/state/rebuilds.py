"""A rebuild's windows and which are done (``rebuild_windows``): what makes a re-embedding
rebuild resumable, and its progress readable by ``status``.

A rebuild is keyed by its source and its target, the store and embedder it writes for
(``"<store_key>|<fingerprint>"``): a retried task, a cleared run or a second trigger of the
same rebuild skips the windows already done, while a rebuild for another target starts afresh.
``finish`` removes the rows once the ledger and the store agree, so the next switch starts over.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from vector_sync.models import Window
from vector_sync.state.schema import UTCDateTime, metadata, upsert

rebuild_windows_table = sa.Table(
    "rebuild_windows",
    metadata,
    sa.Column("source", sa.String(50), primary_key=True),
    sa.Column("target", sa.String(800), primary_key=True),  # "<store_key>|<fingerprint>"
    sa.Column("window_start", UTCDateTime(), primary_key=True),
    sa.Column("window_end", UTCDateTime(), nullable=False),
    sa.Column("planned_at", UTCDateTime(), nullable=False),  # the rebuild's start: documents written since count as rebuilt
    sa.Column("done_at", UTCDateTime(), nullable=True),
)


def target_of(store_key: str | None, fingerprint: str) -> str:
    return f"{store_key or ''}|{fingerprint}"


@dataclass(frozen=True)
class RebuildRepository:
    """Reads and writes of ``rebuild_windows``."""

    engine: Engine

    def plan(self, source: str, target: str, windows: Sequence[Window], now: datetime | None = None) -> None:
        """Record the rebuild's windows; those recorded before keep their state, except a
        window that now reaches further (the last one, re-planned later), which is open again."""
        now = now or datetime.now(timezone.utc)
        rows = [
            {"source": source, "target": target, "window_start": w.start, "window_end": w.end, "planned_at": now, "done_at": None}
            for w in windows
        ]
        with self.engine.begin() as conn:
            upsert(
                conn,
                rebuild_windows_table,
                rows,
                keys=["source", "target", "window_start"],
                update=["window_end", "done_at"],
                where=lambda table, excluded: excluded.window_end > table.c.window_end,
            )

    def pending(self, source: str, target: str) -> list[Window]:
        """The rebuild's windows not done yet, oldest first."""
        c = rebuild_windows_table.c
        query = sa.select(c.window_start, c.window_end).where(c.source == source, c.target == target, c.done_at.is_(None))
        with self.engine.connect() as conn:
            return [Window(start, end) for start, end in conn.execute(query.order_by(c.window_start))]

    def mark_done(self, source: str, target: str, window: Window, now: datetime | None = None) -> None:
        c = rebuild_windows_table.c
        stmt = rebuild_windows_table.update().where(c.source == source, c.target == target, c.window_start == window.start)
        with self.engine.begin() as conn:
            conn.execute(stmt.values(done_at=now or datetime.now(timezone.utc)))

    def started_at(self, source: str, target: str) -> datetime | None:
        """When the rebuild was first planned: documents written since then were rebuilt."""
        c = rebuild_windows_table.c
        with self.engine.connect() as conn:
            return conn.scalar(sa.select(sa.func.min(c.planned_at)).where(c.source == source, c.target == target))

    def progress(self, source: str) -> dict[str, Any] | None:
        """``{"target", "windows_done", "windows_total"}`` of the source's rebuild under way
        (the latest planned), None when there is none."""
        c = rebuild_windows_table.c
        query = (
            sa.select(c.target, sa.func.count(), sa.func.count(c.done_at), sa.func.min(c.planned_at))
            .where(c.source == source)
            .group_by(c.target)
            .order_by(sa.func.min(c.planned_at).desc())
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        target, total, done, planned = row
        return {"target": target, "windows_done": int(done), "windows_total": int(total), "started_at": planned.isoformat()}

    def finish(self, source: str, target: str) -> int:
        """Forget the rebuild's windows (it is complete); returns the rows removed."""
        c = rebuild_windows_table.c
        with self.engine.begin() as conn:
            return conn.execute(rebuild_windows_table.delete().where(c.source == source, c.target == target)).rowcount
