"""Verified webhook events waiting for their targeted sync, and per-source receipt counters.

The receiver writes an event once (``(source, event_id)`` is unique: a vendor's retry or a
replay adds nothing) and answers; the source's events DAG then claims everything pending in
one statement, syncs the named documents and marks them done, so a burst of events drains in
one run. A run that fails leaves its claim undone: the next run claims those events again.

Rejected requests store no event, only a count and the time of the last one, for status.
A Notion subscription's one-time ``verification_token`` (sent unsigned, before any secret
exists) is kept in ``webhook_handshakes`` for the operator to copy into the connection.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from vector_sync.state.schema import _ID, _ZERO, UTCDateTime, dialect_insert, metadata

webhook_events_table = sa.Table(
    "webhook_events",
    metadata,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("source", sa.String(50), nullable=False),
    sa.Column("event_id", sa.String(255), nullable=False),
    sa.Column("kind", sa.String(100), nullable=False),
    sa.Column("document_id", sa.String(512), nullable=False),
    sa.Column("deleted", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("received_at", UTCDateTime(), nullable=False),
    sa.Column("claimed_by", sa.String(250), nullable=True),  # the events DAG run working on it
    sa.Column("done_at", UTCDateTime(), nullable=True),
    sa.UniqueConstraint("source", "event_id", "document_id", name="uq_webhook_events_source_event_document"),
    sa.Index("ix_webhook_events_source_done", "source", "done_at"),
)

webhook_rejections_table = sa.Table(
    "webhook_rejections",
    metadata,
    sa.Column("source", sa.String(50), primary_key=True),
    sa.Column("rejected", sa.Integer, nullable=False, server_default=_ZERO),
    sa.Column("last_reason", sa.String(255), nullable=True),
    sa.Column("last_at", UTCDateTime(), nullable=True),
)

webhook_handshakes_table = sa.Table(
    "webhook_handshakes",
    metadata,
    sa.Column("source", sa.String(50), primary_key=True),
    sa.Column("token", sa.String(255), nullable=False),
    sa.Column("received_at", UTCDateTime(), nullable=False),
)


@dataclass(frozen=True)
class PendingChange:
    """A claimed event's effect: sync ``document_id``, or delete it when ``deleted``."""

    event_id: str
    kind: str
    document_id: str
    deleted: bool
    received_at: datetime


@dataclass(frozen=True)
class WebhookStats:
    source: str
    received: int
    pending: int
    rejected: int
    last_received_at: datetime | None
    last_rejected_reason: str | None


class WebhookRepository:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add(self, source: str, changes: Sequence[object], received_at: datetime) -> int:
        """Store ``changes`` (``vector_sync.webhooks.ItemChange``); returns how many were new."""
        t = webhook_events_table
        rows = [
            {
                "source": source,
                "event_id": c.event_id,
                "kind": c.kind,
                "document_id": c.document_id,
                "deleted": c.deleted,
                "received_at": received_at,
            }
            for c in changes
        ]
        if not rows:
            return 0
        with self.engine.begin() as conn:
            insert = dialect_insert(conn)
            stmt = insert(t).on_conflict_do_nothing(index_elements=["source", "event_id", "document_id"])
            return sum(conn.execute(stmt, row).rowcount for row in rows)

    def claim(self, source: str, run_id: str) -> list[PendingChange]:
        """Take every event not done yet (a failed run's claims included), oldest first."""
        t = webhook_events_table
        pending = sa.and_(t.c.source == source, t.c.done_at.is_(None))
        with self.engine.begin() as conn:
            conn.execute(sa.update(t).where(pending).values(claimed_by=run_id))
            rows = conn.execute(
                sa.select(t.c.event_id, t.c.kind, t.c.document_id, t.c.deleted, t.c.received_at)
                .where(pending, t.c.claimed_by == run_id)
                .order_by(t.c.id)
            ).all()
        return [PendingChange(*row) for row in rows]

    def done(self, source: str, run_id: str, at: datetime) -> int:
        """Mark the events ``run_id`` claimed as done; returns how many."""
        t = webhook_events_table
        with self.engine.begin() as conn:
            result = conn.execute(
                sa.update(t).where(t.c.source == source, t.c.claimed_by == run_id, t.c.done_at.is_(None)).values(done_at=at)
            )
        return result.rowcount

    def reject(self, source: str, reason: str, at: datetime) -> None:
        t = webhook_rejections_table
        with self.engine.begin() as conn:
            insert = dialect_insert(conn)
            stmt = insert(t).values(source=source, rejected=1, last_reason=reason[:255], last_at=at)
            stmt = stmt.on_conflict_do_update(
                index_elements=["source"],
                set_={"rejected": t.c.rejected + 1, "last_reason": stmt.excluded.last_reason, "last_at": stmt.excluded.last_at},
            )
            conn.execute(stmt)

    def save_handshake(self, source: str, token: str, at: datetime) -> None:
        t = webhook_handshakes_table
        with self.engine.begin() as conn:
            insert = dialect_insert(conn)
            stmt = insert(t).values(source=source, token=token[:255], received_at=at)
            conn.execute(stmt.on_conflict_do_update(index_elements=["source"], set_={"token": stmt.excluded.token, "received_at": at}))

    def handshake(self, source: str) -> str | None:
        t = webhook_handshakes_table
        with self.engine.connect() as conn:
            return conn.execute(sa.select(t.c.token).where(t.c.source == source)).scalar()

    def stats(self, source: str) -> WebhookStats:
        t, r = webhook_events_table, webhook_rejections_table
        with self.engine.connect() as conn:
            received, pending, last = conn.execute(
                sa.select(
                    sa.func.count(sa.distinct(t.c.event_id)),
                    sa.func.count(sa.distinct(sa.case((t.c.done_at.is_(None), t.c.event_id)))),
                    sa.func.max(t.c.received_at),
                ).where(t.c.source == source)
            ).one()
            rejected = conn.execute(sa.select(r.c.rejected, r.c.last_reason).where(r.c.source == source)).first()
        last_at = UTCDateTime().process_result_value(last, self.engine.dialect) if last is not None else None
        return WebhookStats(
            source, int(received), int(pending), int(rejected[0]) if rejected else 0, last_at, rejected[1] if rejected else None
        )

    def status_json(self, source: str, now: datetime) -> dict[str, Any]:
        """What status shows: events received / rejected / pending and the last event's age."""
        stats = self.stats(source)
        age = (now - stats.last_received_at).total_seconds() if stats.last_received_at else None
        return {
            "received": stats.received,
            "rejected": stats.rejected,
            "pending": stats.pending,
            "last_event_at": stats.last_received_at.isoformat() if stats.last_received_at else None,
            "last_event_age_s": round(age, 1) if age is not None else None,
            "last_rejected_reason": stats.last_rejected_reason,
        }

    def forget_done(self, older_than: timedelta, now: datetime) -> int:
        """Drop done events older than ``older_than`` (their ids only guard against replays,
        and a replay that old is refused by its timestamp anyway)."""
        t = webhook_events_table
        with self.engine.begin() as conn:
            return conn.execute(sa.delete(t).where(t.c.done_at.is_not(None), t.c.done_at < now - older_than)).rowcount
