"""Skipped items per run: which ones and why, not only how many (``errors`` of a run).

A source skips a malformed or vanished item and counts it under a reason
(``models.FetchStats``); each fetch part stores its reasons with their counts and the first
``MAX_SKIPPED_ITEMS`` items of each, so ``vector-sync status`` and the page can say what a
run's ``errors`` were without anyone reading task logs. Keyed by (source, run, part, reason):
a retried fetch part replaces its rows, parallel parts never write the same row.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from vector_sync.models import MAX_SKIPPED_ITEMS
from vector_sync.state.schema import _ID, UTCDateTime, metadata, upsert

skips_table = sa.Table(
    "sync_skips",
    metadata,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("source", sa.String(50), nullable=False),
    sa.Column("run_id", sa.String(250), nullable=False),
    sa.Column("part", sa.Integer, nullable=False),
    sa.Column("reason", sa.String(200), nullable=False),
    sa.Column("total", sa.Integer, nullable=False),  # items skipped for this reason
    sa.Column("named_items", sa.Text, nullable=False),  # JSON list of item descriptions, the first MAX_SKIPPED_ITEMS
    sa.Column("recorded_at", UTCDateTime(), nullable=False),
    sa.UniqueConstraint("source", "run_id", "part", "reason", name="uq_sync_skips_source_run_part_reason"),
)


@dataclass(frozen=True)
class SkipRepository:
    """Reads and writes of ``sync_skips``."""

    engine: Engine

    def record(self, source: str, run_id: str, part: int, reasons: Mapping[str, int], items: Iterable[Mapping[str, str]] = ()) -> int:
        """Store one fetch part's skips: ``reasons`` (reason -> count) and ``items``
        (``{"reason", "item"}``, the first ``MAX_SKIPPED_ITEMS`` per reason kept). Returns
        how many reasons were stored."""
        kept: dict[str, list[str]] = {}
        for entry in items:
            listed = kept.setdefault(str(entry["reason"]), [])
            if len(listed) < MAX_SKIPPED_ITEMS:
                listed.append(str(entry["item"]))
        now = datetime.now(timezone.utc)
        rows = [
            {
                "source": source,
                "run_id": run_id,
                "part": int(part),
                "reason": str(reason)[:200],
                "total": int(count),
                "named_items": json.dumps(kept.get(str(reason), [])),
                "recorded_at": now,
            }
            for reason, count in reasons.items()
            if count
        ]
        with self.engine.begin() as conn:
            upsert(conn, skips_table, rows, keys=["source", "run_id", "part", "reason"])
        return len(rows)

    def of_run(self, source: str, run_id: str) -> list[dict[str, Any]]:
        """``[{"reason", "count", "items"}]`` of a run, its parts added up, most frequent
        reason first; ``items`` the first ``MAX_SKIPPED_ITEMS`` in part order."""
        c = skips_table.c
        query = sa.select(c.reason, c.total, c.named_items).where(c.source == source, c.run_id == run_id).order_by(c.part, c.reason)
        merged: dict[str, dict[str, Any]] = {}
        with self.engine.connect() as conn:
            for reason, count, items in conn.execute(query):
                entry = merged.setdefault(reason, {"reason": reason, "count": 0, "items": []})
                entry["count"] += int(count)
                room = MAX_SKIPPED_ITEMS - len(entry["items"])
                entry["items"].extend(json.loads(items)[:room])
        return sorted(merged.values(), key=lambda e: (-e["count"], e["reason"]))
