"""The pending_summaries table: items indexed before their summary was ready, kept across runs.

A Fireflies transcript listed while its summary is processing is indexed without it; the next
runs' windows no longer reach its meeting, so the source re-fetches it by id until the summary
is done. The list must outlive the process (each Airflow task is one), hence a table.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from vector_sync.state.schema import pending_summaries_table, upsert


@dataclass(frozen=True)
class PendingSummaryRepository:
    """Reads and writes of ``pending_summaries``, per source."""

    engine: Engine

    def ids(self, source: str) -> dict[str, datetime]:
        """Pending item id -> its time (a meeting's start), oldest first."""
        c = pending_summaries_table.c
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(c.item_id, c.item_at).where(c.source == source).order_by(c.item_at, c.item_id))
            return {item_id: item_at for item_id, item_at in rows}

    def add(self, source: str, item_id: str, item_at: datetime) -> None:
        """Note an item as pending; noting it again keeps when it was first noted."""
        row = {"source": source, "item_id": item_id, "item_at": item_at, "noted_at": datetime.now(timezone.utc)}
        with self.engine.begin() as conn:
            upsert(conn, pending_summaries_table, [row], keys=["source", "item_id"], update=["item_at"])

    def discard(self, source: str, item_id: str) -> None:
        c = pending_summaries_table.c
        with self.engine.begin() as conn:
            conn.execute(pending_summaries_table.delete().where(c.source == source, c.item_id == item_id))

    def of(self, source: str) -> SourcePendingSummaries:
        """The pending items of one source (what ``FirefliesSource(pending=...)`` takes)."""
        return SourcePendingSummaries(self, source)


@dataclass(frozen=True)
class SourcePendingSummaries:
    """One source's pending items: the ``ids`` / ``add`` / ``discard`` a source calls."""

    repository: PendingSummaryRepository
    source: str

    def ids(self) -> dict[str, datetime]:
        return self.repository.ids(self.source)

    def add(self, item_id: str, item_at: datetime) -> None:
        self.repository.add(self.source, item_id, item_at)

    def discard(self, item_id: str) -> None:
        self.repository.discard(self.source, item_id)
