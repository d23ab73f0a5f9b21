"""Sync state in SQL: one engine, its schema, and a repository per concern.

``StateStore`` is what callers hold: ``state.ledger`` (documents and chunks), ``state.runs``
(runs, ``last_sync``, failures), ``state.projects``, ``state.bm25`` (the BM25 statistics of
Pinecone's sparse vectors), ``state.pending_summaries`` (items to re-fetch until their summary
is ready) and ``state.rebuilds`` (a rebuild's windows) all share its engine.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from vector_sync.state.bm25 import TermStatsRepository
from vector_sync.state.ledger import Access, ChunkState, ChunkWrite, LedgerEntry, LedgerRepository, LedgerWrite
from vector_sync.state.pending import PendingSummaryRepository, SourcePendingSummaries
from vector_sync.state.projects import Project, ProjectRepository
from vector_sync.state.rebuilds import RebuildRepository, rebuild_windows_table
from vector_sync.state.runs import MAX_ERROR_CHARS, FailedWindow, RunRepository, SyncFailure, SyncRun
from vector_sync.state.schema import (
    IN_BATCH,
    RUN_FAILED,
    RUN_RUNNING,
    RUN_STATUSES,
    RUN_SUCCESS,
    SQLITE_BUSY_TIMEOUT_S,
    WRITE_BATCH,
    UTCDateTime,
    chunks_table,
    configure_sqlite,
    default_state_url,
    documents_table,
    failures_table,
    make_engine,
    metadata,
    migrate,
    pending_summaries_table,
    projects_table,
    runs_table,
    status_table,
)
from vector_sync.state.skips import SkipRepository, skips_table
from vector_sync.state.webhooks import WebhookRepository  # also registers its tables on ``metadata``

# What callers import from vector_sync.state (the repositories' records and the schema's names).
__all__ = [
    "Access",
    "ChunkState",
    "ChunkWrite",
    "FailedWindow",
    "IN_BATCH",
    "LedgerEntry",
    "LedgerRepository",
    "LedgerWrite",
    "MAX_ERROR_CHARS",
    "PendingSummaryRepository",
    "Project",
    "ProjectRepository",
    "RebuildRepository",
    "RUN_FAILED",
    "RUN_RUNNING",
    "RUN_STATUSES",
    "RUN_SUCCESS",
    "RunRepository",
    "SkipRepository",
    "SQLITE_BUSY_TIMEOUT_S",
    "SourcePendingSummaries",
    "StateStore",
    "SyncFailure",
    "SyncRun",
    "TermStatsRepository",
    "UTCDateTime",
    "WRITE_BATCH",
    "chunks_table",
    "configure_sqlite",
    "default_state_url",
    "documents_table",
    "failures_table",
    "make_engine",
    "metadata",
    "migrate",
    "pending_summaries_table",
    "projects_table",
    "rebuild_windows_table",
    "runs_table",
    "skips_table",
    "status_table",
]


class StateStore:
    """The state database. Thread-safe; one per process is enough.

    Args:
        url_or_engine: a database URL (``sqlite:///...``, ``postgresql+psycopg2://...``) or
            a ready ``Engine`` (e.g. from Airflow's ``PostgresHook``).
    """

    def __init__(self, url_or_engine: str | sa.URL | Engine) -> None:
        if isinstance(url_or_engine, Engine):
            self.engine = url_or_engine
            configure_sqlite(self.engine)
            self._owns_engine = False
        else:
            self.engine = make_engine(url_or_engine)
            self._owns_engine = True
        self.ledger = LedgerRepository(self.engine)
        self.runs = RunRepository(self.engine)
        self.projects = ProjectRepository(self.engine)
        self.bm25 = TermStatsRepository(self.engine)
        self.pending_summaries = PendingSummaryRepository(self.engine)
        self.skips = SkipRepository(self.engine)
        self.webhooks = WebhookRepository(self.engine)
        self.rebuilds = RebuildRepository(self.engine)

    def migrate(self) -> None:
        """Create missing tables, columns and indexes; idempotent (see ``schema.migrate``)."""
        migrate(self.engine)

    def close(self) -> None:
        if self._owns_engine:
            self.engine.dispose()

    def __enter__(self) -> StateStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"StateStore({self.engine.url.render_as_string(hide_password=True)!r})"
