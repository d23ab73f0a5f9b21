"""Sync state in SQL: projects, the document/chunk ledger, run metrics, status and failures.

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

import json
import logging
import os
from dataclasses import dataclass, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, NamedTuple, Sequence

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
# A traceback is useful in the dashboard; a megabyte of one is not.
MAX_ERROR_CHARS = 10_000

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


# --- records ---------------------------------------------------------------------------


class Access(NamedTuple):
    """Who may see a document: ``("all", ())``, or a type and the emails it lists (lower-case,
    sorted, unique: ``normal`` makes every producer's form comparable)."""

    type: str
    emails: tuple[str, ...] = ()

    @classmethod
    def normal(cls, access_type: str | None, emails: Iterable[str] = ()) -> "Access":
        return cls(str(access_type or "all"), tuple(sorted({str(e).strip().lower() for e in emails if e and str(e).strip()})))


class Project(NamedTuple):
    key: str
    name: str
    is_active: bool


class LedgerEntry(NamedTuple):
    """What the ledger knows about a document already in the vector store."""

    content_hash: str
    chunk_count: int
    fingerprint: str
    deleted: bool
    body_hash: str | None = None
    access: Access | None = None  # None: not recorded yet


class LedgerWrite(NamedTuple):
    doc_id: str
    content_hash: str
    chunk_count: int
    fingerprint: str
    updated_at: datetime | None
    body_hash: str | None = None
    access: Access | None = None


class ChunkWrite(NamedTuple):
    chunk_id: str
    doc_id: str
    content_hash: str
    fingerprint: str
    body_hash: str | None = None


class ChunkState(NamedTuple):
    content_hash: str
    fingerprint: str
    body_hash: str | None = None


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
    _configure_sqlite(engine)
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


def _configure_sqlite(engine: Engine) -> None:
    if engine.dialect.name == "sqlite" and not sa.event.contains(engine, "connect", _sqlite_on_connect):
        sa.event.listen(engine, "connect", _sqlite_on_connect)


def _batches(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _unique(ids: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(ids))


def _clip(message: str | None) -> str | None:
    if message is None or len(message) <= MAX_ERROR_CHARS:
        return message
    return message[: MAX_ERROR_CHARS - 20] + "\n... [truncated]"


def _upsert(
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
    dialect = conn.dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:  # pragma: no cover - configuration error
        raise NotImplementedError(f"state store supports sqlite and postgresql, not {dialect}")
    deduped = list({tuple(row[k] for k in keys): row for row in rows}.values())
    columns = list(deduped[0])
    update = [c for c in (update if update is not None else columns) if c not in keys]
    for batch in _batches(deduped, WRITE_BATCH):
        stmt = insert(table)
        excluded = stmt.excluded
        guard = where(table, excluded) if callable(where) else where
        if update:
            stmt = stmt.on_conflict_do_update(
                index_elements=list(keys), set_={c: excluded[c] for c in update}, where=guard
            )
        else:
            stmt = stmt.on_conflict_do_nothing(index_elements=list(keys))
        conn.execute(stmt, list(batch))


# --- the store -------------------------------------------------------------------------


class StateStore:
    """All reads and writes of sync state. Thread-safe; one per process is enough.

    Args:
        url_or_engine: a database URL (``sqlite:///...``, ``postgresql+psycopg2://...``) or
            a ready ``Engine`` (e.g. from Airflow's ``PostgresHook``).
    """

    def __init__(self, url_or_engine: str | sa.URL | Engine) -> None:
        if isinstance(url_or_engine, Engine):
            self.engine = url_or_engine
            _configure_sqlite(self.engine)
            self._owns_engine = False
        else:
            self.engine = make_engine(url_or_engine)
            self._owns_engine = True

    def close(self) -> None:
        if self._owns_engine:
            self.engine.dispose()

    def __enter__(self) -> "StateStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"StateStore({self.engine.url.render_as_string(hide_password=True)!r})"

    # --- schema ------------------------------------------------------------------------

    def migrate(self) -> None:
        """Create missing tables, columns and indexes. Idempotent and safe to run from many
        processes at once: losing a creation race to another process is not an error.

        Migrations are additive only: a new column needs a server default or to be nullable.
        """
        for table in metadata.sorted_tables:
            self._tolerating_race(
                lambda conn, t=table: t.create(conn, checkfirst=True),
                done=lambda insp, t=table: insp.has_table(t.name),
                what=f"table {table.name}",
            )
        for table in metadata.sorted_tables:
            with self.engine.connect() as conn:
                insp = sa.inspect(conn)
                existing_columns = {c["name"] for c in insp.get_columns(table.name)}
                existing_indexes = {i["name"] for i in insp.get_indexes(table.name)}
            for column in table.columns:
                if column.name not in existing_columns:
                    self._add_column(table, column)
            for index in table.indexes:
                if index.name not in existing_indexes:
                    self._tolerating_race(
                        lambda conn, i=index: i.create(conn, checkfirst=True),
                        done=lambda insp, t=table, i=index: i.name in {x["name"] for x in insp.get_indexes(t.name)},
                        what=f"index {index.name}",
                    )

    def _add_column(self, table: sa.Table, column: sa.Column) -> None:
        def add(conn: Connection) -> None:
            preparer = conn.dialect.identifier_preparer
            ddl = CreateColumn(column).compile(dialect=conn.dialect)
            conn.execute(sa.DDL(f"ALTER TABLE {preparer.format_table(table)} ADD COLUMN {ddl}"))
            log.info("state: added column %s.%s", table.name, column.name)

        self._tolerating_race(
            add,
            done=lambda insp: column.name in {c["name"] for c in insp.get_columns(table.name)},
            what=f"column {table.name}.{column.name}",
        )

    def _tolerating_race(self, create: Any, done: Any, what: str, attempts: int = 3) -> None:
        """Run ``create`` in its own transaction; if it fails because another process made
        the same object meanwhile ("already exists", or PostgreSQL's duplicate key in
        pg_type), check that the object is there and move on."""
        for attempt in range(1, attempts + 1):
            try:
                with self.engine.begin() as conn:
                    create(conn)
                return
            except DBAPIError as exc:
                with self.engine.connect() as conn:
                    if done(sa.inspect(conn)):
                        log.info("state: %s was created concurrently (%s)", what, exc.orig.__class__.__name__)
                        return
                if attempt == attempts:
                    raise

    # --- projects ----------------------------------------------------------------------

    def upsert_projects(self, rows: Iterable[tuple[str, str, bool]]) -> int:
        """Insert or update projects from ``(key, name, is_active)``; returns how many."""
        values = [{"key": key, "name": name or "", "is_active": bool(active)} for key, name, active in rows]
        with self.engine.begin() as conn:
            _upsert(conn, projects_table, values, keys=["key"])
        return len({v["key"] for v in values})

    def active_projects(self) -> set[str]:
        with self.engine.connect() as conn:
            return set(conn.scalars(sa.select(projects_table.c.key).where(projects_table.c.is_active.is_(True))))

    def known_projects(self) -> dict[str, bool]:
        """Every project key and whether it is active."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(projects_table.c.key, projects_table.c.is_active))
            return {key: bool(active) for key, active in rows}

    def set_project_active(self, key: str, active: bool) -> bool:
        """Switch one project on or off; False when the key is unknown."""
        with self.engine.begin() as conn:
            stmt = projects_table.update().where(projects_table.c.key == key).values(is_active=bool(active))
            result = conn.execute(stmt)
            return result.rowcount > 0

    def list_projects(self) -> list[Project]:
        with self.engine.connect() as conn:
            c = projects_table.c
            rows = conn.execute(sa.select(c.key, c.name, c.is_active).order_by(c.key))
            return [Project(key, name, bool(active)) for key, name, active in rows]

    # --- ledger ------------------------------------------------------------------------

    def ledger(self, doc_ids: Iterable[str]) -> dict[str, LedgerEntry]:
        """Ledger entries of the given documents (unknown ids are absent)."""
        ids = _unique(doc_ids)
        c = documents_table.c
        out: dict[str, LedgerEntry] = {}
        with self.engine.connect() as conn:
            for batch in _batches(ids, IN_BATCH):
                query = sa.select(
                    c.id, c.content_hash, c.chunk_count, c.fingerprint, c.deleted, c.body_hash, c.access_type, c.access_list
                ).where(c.id.in_(batch))
                for doc_id, content_hash, chunk_count, fingerprint, deleted, body_hash, access_type, access_list in conn.execute(query):
                    access = _read_access(access_type, access_list)
                    out[doc_id] = LedgerEntry(content_hash, chunk_count, fingerprint, bool(deleted), body_hash, access)
        return out

    def chunk_hashes(self, doc_ids: Iterable[str]) -> dict[str, ChunkState]:
        """``chunk_id -> (content_hash, fingerprint)`` for every stored chunk of the documents."""
        ids = _unique(doc_ids)
        c = chunks_table.c
        out: dict[str, ChunkState] = {}
        with self.engine.connect() as conn:
            for batch in _batches(ids, IN_BATCH):
                query = sa.select(c.id, c.content_hash, c.fingerprint, c.body_hash).where(c.document_id.in_(batch))
                for chunk_id, content_hash, fingerprint, body_hash in conn.execute(query):
                    out[chunk_id] = ChunkState(content_hash, fingerprint, body_hash)
        return out

    def write_ledger(
        self,
        source: str,
        documents: Sequence[LedgerWrite | tuple],
        chunks: Sequence[ChunkWrite | tuple],
        removed_chunk_ids: Iterable[str],
        synced_at: datetime,
    ) -> None:
        """Record what the vector store now holds, in one transaction: upsert the documents
        (un-deleting them) and their chunks, and drop the rows of removed chunks.

        Call only after the store accepted the write, so a crash re-does work, never skips it.
        """
        synced_at = utc(synced_at)
        doc_rows = [
            {
                "id": w.doc_id,
                "source": source,
                "content_hash": w.content_hash,
                "chunk_count": int(w.chunk_count),
                "fingerprint": w.fingerprint or "",
                "updated_at": w.updated_at,
                "synced_at": synced_at,
                "deleted": False,
                "body_hash": w.body_hash,
                **_access_row(w.access),
            }
            for w in map(_as_ledger_write, documents)
        ]
        chunk_rows = [
            {
                "id": w.chunk_id,
                "document_id": w.doc_id,
                "content_hash": w.content_hash,
                "fingerprint": w.fingerprint or "",
                "body_hash": w.body_hash,
            }
            for w in map(_as_chunk_write, chunks)
        ]
        removed = _unique(removed_chunk_ids)
        with self.engine.begin() as conn:
            # Deletes first: a chunk both removed and written (a caller's mistake) survives.
            for batch in _batches(removed, IN_BATCH):
                conn.execute(chunks_table.delete().where(chunks_table.c.id.in_(batch)))
            _upsert(conn, documents_table, doc_rows, keys=["id"])
            _upsert(conn, chunks_table, chunk_rows, keys=["id"])

    def mark_deleted(self, doc_ids: Iterable[str], synced_at: datetime) -> int:
        """Flag documents deleted upstream and drop their chunk rows; returns documents flagged."""
        ids = _unique(doc_ids)
        synced_at = utc(synced_at)
        flagged = 0
        with self.engine.begin() as conn:
            for batch in _batches(ids, IN_BATCH):
                result = conn.execute(
                    documents_table.update()
                    .where(documents_table.c.id.in_(batch))
                    .values(deleted=True, chunk_count=0, synced_at=synced_at)
                )
                flagged += result.rowcount
                conn.execute(chunks_table.delete().where(chunks_table.c.document_id.in_(batch)))
        return flagged

    def set_access(self, doc_ids: Iterable[str], access: Access) -> int:
        """Record that the index now grants ``access`` to these documents (after the store's
        update); returns the live rows changed."""
        ids = _unique(doc_ids)
        values = _access_row(access)
        changed = 0
        with self.engine.begin() as conn:
            for batch in _batches(ids, IN_BATCH):
                stmt = documents_table.update().where(documents_table.c.id.in_(batch), documents_table.c.deleted.is_(False))
                changed += conn.execute(stmt.values(**values)).rowcount
        return changed

    def access_of_source(self, source: str) -> dict[str, tuple[Access | None, datetime | None]]:
        """Live documents of a source: ``id -> (recorded access or None, updated_at)``."""
        c = documents_table.c
        query = sa.select(c.id, c.access_type, c.access_list, c.updated_at).where(c.source == source, c.deleted.is_(False))
        with self.engine.connect() as conn:
            return {doc_id: (_read_access(kind, emails), updated) for doc_id, kind, emails, updated in conn.execute(query)}

    def documents_of_source(self, source: str, include_deleted: bool = False) -> list[str]:
        query = sa.select(documents_table.c.id).where(documents_table.c.source == source).order_by(documents_table.c.id)
        if not include_deleted:
            query = query.where(documents_table.c.deleted.is_(False))
        with self.engine.connect() as conn:
            return list(conn.scalars(query))

    def document_times(self, source: str) -> dict[str, datetime]:
        """Live documents of a source with their upstream ``updated_at`` (for pruning spans)."""
        query = sa.select(documents_table.c.id, documents_table.c.updated_at).where(
            documents_table.c.source == source, documents_table.c.deleted.is_(False)
        )
        with self.engine.connect() as conn:
            return {doc_id: updated for doc_id, updated in conn.execute(query)}

    def document_count(self, source: str | None = None) -> int:
        """Live (not deleted) documents, of one source or all."""
        query = sa.select(sa.func.count()).select_from(documents_table).where(documents_table.c.deleted.is_(False))
        if source is not None:
            query = query.where(documents_table.c.source == source)
        with self.engine.connect() as conn:
            return int(conn.scalar(query) or 0)

    # --- runs --------------------------------------------------------------------------

    def record_run(self, run: SyncRun) -> int:
        """Insert or update the run keyed by (source, run_id, window_start); returns its id."""
        row = {name: getattr(run, name) for name in _RUN_FIELDS}
        row["error_message"] = _clip(row["error_message"])
        keys = ["source", "run_id", "window_start"]
        c = runs_table.c
        with self.engine.begin() as conn:
            _upsert(conn, runs_table, [row], keys=keys)
            return int(
                conn.scalar(
                    sa.select(c.id).where(
                        c.source == run.source, c.run_id == run.run_id, c.window_start == run.window_start
                    )
                )
            )

    def runs(
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

    def last_run(self, source: str, status: str | None = None) -> SyncRun | None:
        found = self.runs(source, limit=1, status=status)
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
        end = current if current is not None else windows[0][0]
        for start, stop in windows:
            if start > end:
                break  # a gap: later windows start even later
            end = max(end, stop)
        if current is not None and end <= current:
            return current
        with self.engine.begin() as conn:
            # Guarded so a concurrent writer with an older view cannot move it backwards.
            _upsert(
                conn,
                status_table,
                [{"source": source, "last_sync": end}],
                keys=["source"],
                where=lambda table, excluded: table.c.last_sync < excluded.last_sync,
            )
            return conn.scalar(sa.select(status_table.c.last_sync).where(status_table.c.source == source))

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


# --- helpers ---------------------------------------------------------------------------


def _as_ledger_write(value: LedgerWrite | tuple) -> LedgerWrite:
    return value if isinstance(value, LedgerWrite) else LedgerWrite(*value)


def _as_chunk_write(value: ChunkWrite | tuple) -> ChunkWrite:
    return value if isinstance(value, ChunkWrite) else ChunkWrite(*value)


def _access_row(access: Access | None) -> dict[str, Any]:
    if access is None:
        return {"access_type": None, "access_list": None}
    access = Access.normal(*access)
    return {"access_type": access.type, "access_list": json.dumps(list(access.emails))}


def _read_access(access_type: str | None, access_list: str | None) -> Access | None:
    """The recorded access; None when unknown or unreadable (fail closed: the pass rewrites it)."""
    if access_type is None or access_list is None:
        return None
    try:
        emails = json.loads(access_list)
    except ValueError:
        return None
    return Access.normal(access_type, emails) if isinstance(emails, list) else None


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
