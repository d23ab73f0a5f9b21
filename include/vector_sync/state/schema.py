"""The state database: its tables, their idempotent migration, the engine, the shared upsert.

SQLAlchemy Core only, identical on SQLite (embedded default) and PostgreSQL (production).
The only dialect-specific statement is the upsert (``INSERT ... ON CONFLICT``), which both
databases spell the same way through their SQLAlchemy ``insert`` constructs.

Timestamps are aware UTC datetimes in and out. SQLite has no time zones, so values are
stored as naive UTC and given ``tzinfo=UTC`` again on read. PostgreSQL columns are
``timestamptz``, except ``vector_sync_status.last_sync``: that is the old system's table
(``TIMESTAMP`` without zone, read by ``SELECT source, last_sync FROM vector_sync_status``),
so it keeps its type and holds UTC wall-clock time.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.schema import CreateColumn

from vector_sync.models import utc

log = logging.getLogger(__name__)

# SQLite allows 999 bound parameters per statement on old builds; 500 keeps every IN list
# well below that and keeps PostgreSQL plans cheap.
IN_BATCH = 500
# Rows per executemany of an upsert: bounds memory, not correctness (one transaction anyway).
WRITE_BATCH = 1000
# Several Airflow task processes write the embedded SQLite file at once; wait, don't fail.
SQLITE_BUSY_TIMEOUT_S = 60

# ``sync_runs.status``; the column's server default is RUN_RUNNING.
RUN_RUNNING = "running"
RUN_SUCCESS = "success"
RUN_FAILED = "failed"
RUN_STATUSES = (RUN_RUNNING, RUN_SUCCESS, RUN_FAILED)


def default_state_url(data_dir: str | os.PathLike[str]) -> str:
    """The embedded state database: ``sqlite:///<data_dir>/vector_sync.db``."""
    return f"sqlite:///{Path(data_dir).expanduser().resolve() / 'vector_sync.db'}"


class UTCDateTime(sa.TypeDecorator):
    """Aware UTC datetimes on every backend (naive input is taken as UTC).

    ``timezone=False`` declares a zone-less column (the old ``vector_sync_status``): the
    value is bound as naive UTC so the database never converts it with its session zone.
    """

    impl = sa.DateTime
    cache_ok = True

    def __init__(self, timezone: bool = True) -> None:
        super().__init__(timezone=timezone)
        self.timezone = timezone

    def process_bind_param(self, value: Any, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}: {value!r}")
        value = utc(value)
        if dialect.name == "sqlite" or not self.timezone:
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):  # a value some other writer stored in SQLite as text
            value = datetime.fromisoformat(value)
        return utc(value)


_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite autoincrements INTEGER PKs only
_ZERO = sa.text("0")

metadata = sa.MetaData()

projects_table = sa.Table(
    "projects",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(255), nullable=False, server_default=""),
    sa.Column("is_active", sa.Boolean, nullable=False, server_default=sa.true()),
)

# The old system's table, unchanged, so its query and dashboards keep working.
status_table = sa.Table(
    "vector_sync_status",
    metadata,
    sa.Column("source", sa.String(50), primary_key=True),
    sa.Column("last_sync", UTCDateTime(timezone=False), nullable=False),
)

runs_table = sa.Table(
    "sync_runs",
    metadata,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("source", sa.String(50), nullable=False),
    sa.Column("run_id", sa.String(250), nullable=False),
    sa.Column("window_start", UTCDateTime(), nullable=False),
    sa.Column("window_end", UTCDateTime(), nullable=False),
    sa.Column("started_at", UTCDateTime(), nullable=False),
    sa.Column("finished_at", UTCDateTime(), nullable=True),
    sa.Column("duration_s", sa.Float, nullable=True),
    sa.Column("fetched", sa.Integer, nullable=False, default=0, server_default=_ZERO),
    sa.Column("filtered_out", sa.Integer, nullable=False, default=0, server_default=_ZERO),
    sa.Column("chunks", sa.Integer, nullable=False, default=0, server_default=_ZERO),
    sa.Column("embedded", sa.Integer, nullable=False, default=0, server_default=_ZERO),
    sa.Column("skipped_unchanged", sa.Integer, nullable=False, default=0, server_default=_ZERO),
    sa.Column("upserted", sa.Integer, nullable=False, default=0, server_default=_ZERO),
    sa.Column("deleted", sa.Integer, nullable=False, default=0, server_default=_ZERO),
    sa.Column("errors", sa.Integer, nullable=False, default=0, server_default=_ZERO),
    sa.Column("tokens", sa.Integer, nullable=False, default=0, server_default=_ZERO),
    sa.Column("cost_usd", sa.Float, nullable=False, default=0.0, server_default=_ZERO),
    sa.Column("status", sa.String(16), nullable=False, server_default=RUN_RUNNING),
    sa.Column("error_message", sa.Text, nullable=True),
    # A retried or cleared record step updates its row instead of adding one.
    sa.UniqueConstraint("source", "run_id", "window_start", name="uq_sync_runs_source_run_window"),
    sa.Index("ix_sync_runs_source_started", "source", "started_at"),
    sa.Index("ix_sync_runs_source_status_end", "source", "status", "window_end"),
)

failures_table = sa.Table(
    "sync_failures",
    metadata,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("source", sa.String(50), nullable=False),
    sa.Column("run_id", sa.String(250), nullable=False),
    sa.Column("task_id", sa.String(250), nullable=False),
    sa.Column("window_start", UTCDateTime(), nullable=True),
    sa.Column("window_end", UTCDateTime(), nullable=True),
    sa.Column("error_message", sa.Text, nullable=True),
    sa.Column("try_number", sa.Integer, nullable=False, default=1, server_default=sa.text("1")),
    sa.Column("occurred_at", UTCDateTime(), nullable=False),
    sa.Column("resolved_at", UTCDateTime(), nullable=True),
    sa.Index("ix_sync_failures_source_resolved", "source", "resolved_at"),
)

documents_table = sa.Table(
    "documents",
    metadata,
    sa.Column("id", sa.String(512), primary_key=True),
    sa.Column("source", sa.String(50), nullable=False, index=True),
    sa.Column("content_hash", sa.String(128), nullable=False),
    sa.Column("chunk_count", sa.Integer, nullable=False, default=0, server_default=_ZERO),
    sa.Column("fingerprint", sa.String(255), nullable=False, server_default=""),
    sa.Column("updated_at", UTCDateTime(), nullable=True),
    sa.Column("synced_at", UTCDateTime(), nullable=False),
    sa.Column("deleted", sa.Boolean, nullable=False, default=False, server_default=sa.false()),
    # The access the index holds for the document (Slack channel members, Fireflies privacy),
    # kept so the permission pass touches only what changed; NULL: unknown (written before
    # these columns existed), which the pass treats as changed.
    sa.Column("access_type", sa.String(32), nullable=True),
    sa.Column("access_list", sa.Text, nullable=True),  # JSON array of lower-case emails, sorted
    # Hash of the document without its access fields: an access change alone re-embeds nothing.
    sa.Column("body_hash", sa.String(128), nullable=True),
    # The vector store the document was last written to (``VectorStore.store_key``): a switch of
    # backend leaves the history behind, and status says so. NULL: written before it was recorded.
    sa.Column("store_key", sa.String(512), nullable=True),
)

chunks_table = sa.Table(
    "chunks",
    metadata,
    sa.Column("id", sa.String(600), primary_key=True),
    sa.Column("document_id", sa.String(512), nullable=False, index=True),
    sa.Column("content_hash", sa.String(128), nullable=False),
    sa.Column("fingerprint", sa.String(255), nullable=False, server_default=""),
    sa.Column("body_hash", sa.String(128), nullable=True),  # the chunk's hash without access fields
)


# BM25 statistics of a sparse-dense collection (one Pinecone index namespace): the chunk count
# and summed length, each term's document frequency, and each chunk's term set, so a delete or
# a re-upsert (which carry only ids, or the new text) can take the old terms back out exactly.
sparse_collections_table = sa.Table(
    "sparse_collections",
    metadata,
    sa.Column("collection", sa.String(255), primary_key=True),
    sa.Column("chunk_count", sa.BigInteger, nullable=False, default=0, server_default=_ZERO),
    sa.Column("total_length", sa.BigInteger, nullable=False, default=0, server_default=_ZERO),
)

sparse_terms_table = sa.Table(
    "sparse_terms",
    metadata,
    sa.Column("collection", sa.String(255), primary_key=True),
    sa.Column("term", sa.BigInteger, primary_key=True, autoincrement=False),  # uint32: beyond PostgreSQL's integer
    sa.Column("df", sa.BigInteger, nullable=False),
)

sparse_chunks_table = sa.Table(
    "sparse_chunks",
    metadata,
    sa.Column("collection", sa.String(255), primary_key=True),
    sa.Column("chunk_id", sa.String(600), primary_key=True),
    sa.Column("length", sa.Integer, nullable=False),
    sa.Column("terms", sa.LargeBinary, nullable=False),  # sorted distinct term indices, uint32 little-endian
)


# Items indexed while a part of them was still being produced upstream (a Fireflies transcript
# whose summary is processing), re-fetched by id each run until it is done; the listing's
# overlap alone would never see them again.
pending_summaries_table = sa.Table(
    "pending_summaries",
    metadata,
    sa.Column("source", sa.String(50), primary_key=True),
    sa.Column("item_id", sa.String(512), primary_key=True),
    sa.Column("item_at", UTCDateTime(), nullable=False),  # the meeting's start: the give-up age counts from it
    sa.Column("noted_at", UTCDateTime(), nullable=False),
)


# --- engine ----------------------------------------------------------------------------


def make_engine(url: str | sa.URL, **kwargs: Any) -> Engine:
    """An engine for ``url``; SQLite gets WAL, a busy timeout and its directory created."""
    url = sa.make_url(url)
    if url.get_backend_name() == "sqlite":
        database = url.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        connect_args = {"timeout": SQLITE_BUSY_TIMEOUT_S, **kwargs.pop("connect_args", {})}
        engine = sa.create_engine(url, connect_args=connect_args, **kwargs)
    else:
        kwargs.setdefault("pool_pre_ping", True)
        engine = sa.create_engine(url, **kwargs)
    configure_sqlite(engine)
    return engine


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_S * 1000}")
        # WAL: readers never block the writer; several task processes share one file.
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
    finally:
        cursor.close()


def configure_sqlite(engine: Engine) -> None:
    if engine.dialect.name == "sqlite" and not sa.event.contains(engine, "connect", _sqlite_on_connect):
        sa.event.listen(engine, "connect", _sqlite_on_connect)


# --- SQL the repositories share --------------------------------------------------------


def batches(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def unique(ids: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(ids))


def dialect_insert(conn: Connection) -> Any:
    """The dialect's ``insert`` construct, which has ``on_conflict_do_update``."""
    dialect = conn.dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:  # pragma: no cover - configuration error
        raise NotImplementedError(f"state store supports sqlite and postgresql, not {dialect}")
    return insert


def upsert(
    conn: Connection,
    table: sa.Table,
    rows: Sequence[Mapping[str, Any]],
    keys: Sequence[str],
    update: Sequence[str] | None = None,
    where: Any = None,
) -> None:
    """INSERT ... ON CONFLICT (keys) DO UPDATE, for SQLite and PostgreSQL.

    Rows repeating a key keep the last one: PostgreSQL refuses to update one row twice in a
    single statement. ``where`` (an expression over ``table`` and ``excluded``) guards the
    update, e.g. to never move a value backwards.
    """
    if not rows:
        return
    insert = dialect_insert(conn)
    deduped = list({tuple(row[k] for k in keys): row for row in rows}.values())
    columns = list(deduped[0])
    update = [c for c in (update if update is not None else columns) if c not in keys]
    for batch in batches(deduped, WRITE_BATCH):
        stmt = insert(table)
        excluded = stmt.excluded
        guard = where(table, excluded) if callable(where) else where
        if update:
            stmt = stmt.on_conflict_do_update(index_elements=list(keys), set_={c: excluded[c] for c in update}, where=guard)
        else:
            stmt = stmt.on_conflict_do_nothing(index_elements=list(keys))
        conn.execute(stmt, list(batch))


# --- migration -------------------------------------------------------------------------


def migrate(engine: Engine) -> None:
    """Create missing tables, columns and indexes. Idempotent and safe to run from many
    processes at once: losing a creation race to another process is not an error.

    Migrations are additive only: a new column needs a server default or to be nullable.
    """
    for table in metadata.sorted_tables:
        _tolerating_race(
            engine,
            lambda conn, t=table: t.create(conn, checkfirst=True),
            done=lambda insp, t=table: insp.has_table(t.name),
            what=f"table {table.name}",
        )
    for table in metadata.sorted_tables:
        with engine.connect() as conn:
            insp = sa.inspect(conn)
            existing_columns = {c["name"] for c in insp.get_columns(table.name)}
            existing_indexes = {i["name"] for i in insp.get_indexes(table.name)}
        for column in table.columns:
            if column.name not in existing_columns:
                _add_column(engine, table, column)
        for index in table.indexes:
            if index.name not in existing_indexes:
                _tolerating_race(
                    engine,
                    lambda conn, i=index: i.create(conn, checkfirst=True),
                    done=lambda insp, t=table, i=index: i.name in {x["name"] for x in insp.get_indexes(t.name)},
                    what=f"index {index.name}",
                )


def _add_column(engine: Engine, table: sa.Table, column: sa.Column) -> None:
    def add(conn: Connection) -> None:
        preparer = conn.dialect.identifier_preparer
        ddl = CreateColumn(column).compile(dialect=conn.dialect)
        conn.execute(sa.DDL(f"ALTER TABLE {preparer.format_table(table)} ADD COLUMN {ddl}"))
        log.info("state: added column %s.%s", table.name, column.name)

    _tolerating_race(
        engine,
        add,
        done=lambda insp: column.name in {c["name"] for c in insp.get_columns(table.name)},
        what=f"column {table.name}.{column.name}",
    )


def _tolerating_race(engine: Engine, create: Any, done: Any, what: str, attempts: int = 3) -> None:
    """Run ``create`` in its own transaction; if it fails because another process made
    the same object meanwhile ("already exists", or PostgreSQL's duplicate key in
    pg_type), check that the object is there and move on."""
    for attempt in range(1, attempts + 1):
        try:
            with engine.begin() as conn:
                create(conn)
            return
        except DBAPIError as exc:
            with engine.connect() as conn:
                if done(sa.inspect(conn)):
                    log.info("state: %s was created concurrently (%s)", what, exc.orig.__class__.__name__)
                    return
            if attempt == attempts:
                raise
