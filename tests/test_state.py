"""The state store on SQLite (embedded) and PostgreSQL (production), with the same tests.

PostgreSQL runs get a fresh database per test session (dropped afterwards) and a fresh
schema per test, so parallel runs never collide. An unreachable server fails the
``postgres`` cases unless ``VECTOR_SYNC_SKIP_POSTGRES=1``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.statekit import backend, pg_database, store  # noqa: F401 - fixtures
from vector_sync import state as state_mod
from vector_sync.state import (
    RUN_FAILED,
    RUN_SUCCESS,
    ChunkState,
    FailedWindow,
    LedgerEntry,
    LedgerWrite,
    Project,
    StateStore,
    SyncRun,
    default_state_url,
    schema,
)

TABLES = {"projects", "vector_sync_status", "sync_runs", "sync_failures", "documents", "chunks", "pending_summaries"}
OLD_STATUS_QUERY = "SELECT source, last_sync FROM vector_sync_status ORDER BY last_sync DESC;"

T0 = datetime(2026, 11, 20, 0, 0, tzinfo=timezone.utc)
STEP = timedelta(minutes=15)
OVERLAP = timedelta(minutes=5)


def table_names(store: StateStore) -> set[str]:
    with store.engine.connect() as conn:
        return set(sa.inspect(conn).get_table_names())


def window(n: int) -> tuple[datetime, datetime]:
    """The n-th 15-minute data interval, widened by the 5-minute overlap like the DAGs do."""
    return T0 + n * STEP - OVERLAP, T0 + (n + 1) * STEP


def run(n: int, status: str = RUN_SUCCESS, run_id: str | None = None, source: str = "slack", **kw) -> SyncRun:
    start, end = window(n)
    started = end + timedelta(minutes=1) + kw.pop("delay", timedelta(0))
    return SyncRun(
        source=source,
        run_id=run_id or f"scheduled__{(T0 + n * STEP).isoformat()}",
        window_start=start,
        window_end=end,
        started_at=started,
        finished_at=started + timedelta(seconds=42) if status != "running" else None,
        status=status,
        error_message="boom" if status == RUN_FAILED else None,
        **kw,
    )


def assert_utc(value: datetime) -> None:
    assert isinstance(value, datetime)
    assert value.tzinfo is not None and value.utcoffset() == timedelta(0), value


# --- schema --------------------------------------------------------------------------------


def test_default_state_url(tmp_path):
    assert default_state_url(tmp_path) == f"sqlite:///{tmp_path.resolve()}/vector_sync.db"
    assert default_state_url("/var/data") == "sqlite:////var/data/vector_sync.db"


def test_sqlite_uses_wal_and_busy_timeout(tmp_path):
    with StateStore(default_state_url(tmp_path / "new" / "dir")) as s:  # directory is created
        s.migrate()
        with s.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 30_000


def test_migrate_is_idempotent(backend):
    with backend.store() as s:
        s.migrate()
        s.projects.upsert([("SUBS", "Subscriptions", True)])
        s.migrate()
        s.migrate()
        assert TABLES <= table_names(s)
        assert s.projects.known() == {"SUBS": True}


def test_concurrent_migrate_from_threads(backend):
    """Several processes' first task create the schema at the same moment."""
    stores = [backend.store() for _ in range(4)]
    barrier = threading.Barrier(len(stores))
    errors: list[BaseException] = []

    def go(s: StateStore) -> None:
        try:
            barrier.wait()
            s.migrate()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=go, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    try:
        assert not errors, errors
        assert TABLES <= table_names(stores[0])
        stores[0].projects.upsert([("A", "a", True)])
        assert stores[1].projects.active() == {"A"}
    finally:
        for s in stores:
            s.close()


def test_concurrent_migrate_from_processes(backend):
    code = "import sys; from vector_sync.state import StateStore; StateStore(sys.argv[1]).migrate()"
    url = backend.url_with().render_as_string(hide_password=False)
    include_dir = str(Path(state_mod.__file__).parents[2])  # include/vector_sync/state/__init__.py
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([include_dir, os.environ.get("PYTHONPATH", "")])}
    procs = [subprocess.Popen([sys.executable, "-c", code, url], stderr=subprocess.PIPE, text=True, env=env) for _ in range(3)]
    results = [(p.wait(120), p.stderr.read()) for p in procs]
    assert all(rc == 0 for rc, _ in results), results
    with backend.store() as s:
        assert TABLES <= table_names(s)


def test_migrate_tolerates_losing_the_creation_race(store, monkeypatch):
    """Force the race deterministically: every CREATE runs as if the check had said 'absent'."""
    create_table, create_index = sa.Table.create, sa.Index.create
    monkeypatch.setattr(sa.Table, "create", lambda self, bind, checkfirst=False: create_table(self, bind, checkfirst=False))
    monkeypatch.setattr(sa.Index, "create", lambda self, bind, checkfirst=False: create_index(self, bind, checkfirst=False))
    store.migrate()  # every CREATE fails with "already exists"; each is recognised as done
    # And a real failure is still raised: a DDL error for an object that does not appear.
    with pytest.raises(sa.exc.DBAPIError):
        schema._tolerating_race(store.engine, lambda conn: conn.execute(sa.text("CREATE TABLE")), done=lambda insp: False, what="x")


def test_migrate_adopts_old_status_table_and_adds_missing_columns(backend):
    """The old system's table is reused as is; an older sync_runs gains its new columns."""
    old = sa.MetaData()
    sa.Table(
        "sync_runs",
        old,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("source", sa.String(50), nullable=False),
        sa.Column("run_id", sa.String(250), nullable=False),
        sa.Column("window_start", state_mod.UTCDateTime(), nullable=False),
        sa.Column("window_end", state_mod.UTCDateTime(), nullable=False),
        sa.Column("started_at", state_mod.UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.UniqueConstraint("source", "run_id", "window_start"),
    )
    engine = sa.create_engine(backend.url_with())
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE vector_sync_status (source VARCHAR(50) PRIMARY KEY, last_sync TIMESTAMP NOT NULL)")
        conn.exec_driver_sql("INSERT INTO vector_sync_status VALUES ('jira', '2025-10-11 08:30:00')")
        old.create_all(conn)
        conn.exec_driver_sql(
            "INSERT INTO sync_runs (source, run_id, window_start, window_end, started_at, status) VALUES "
            "('jira', 'old', '2025-10-11 08:00:00', '2025-10-11 08:30:00', '2025-10-11 08:31:00', 'success')"
        )
    engine.dispose()

    with backend.store() as s:
        s.migrate()
        with s.engine.connect() as conn:
            columns = {c["name"] for c in sa.inspect(conn).get_columns("sync_runs")}
        assert {"tokens", "cost_usd", "errors", "skipped_unchanged", "error_message"} <= columns
        [old_run] = s.runs.recent("jira")
        assert old_run.tokens == 0 and old_run.cost_usd == 0.0 and old_run.finished_at is None
        assert s.runs.last_sync("jira") == datetime(2025, 10, 11, 8, 30, tzinfo=timezone.utc)
        start = datetime(2025, 10, 11, 8, 25, tzinfo=timezone.utc)
        end = datetime(2025, 10, 11, 9, 0, tzinfo=timezone.utc)
        s.runs.record(SyncRun("jira", "new", start, end, end, end, RUN_SUCCESS, tokens=7))
        assert s.runs.advance_last_sync("jira", start, end) == end


# --- status --------------------------------------------------------------------------------


def test_old_system_status_query_keeps_working(store):
    for n, source in enumerate(["slack", "jira", "notion"]):
        start, end = window(n)
        store.runs.record(run(n, source=source))
        store.runs.advance_last_sync(source, start, end)
    with store.engine.connect() as conn:
        rows = conn.exec_driver_sql(OLD_STATUS_QUERY).all()
    assert [source for source, _ in rows] == ["notion", "jira", "slack"]
    # The column holds UTC wall-clock time (the old TIMESTAMP has no zone).
    raw = rows[0][1] if isinstance(rows[0][1], datetime) else datetime.fromisoformat(rows[0][1])
    assert raw.replace(tzinfo=timezone.utc) == window(2)[1]
    assert store.runs.status_rows() == [("notion", window(2)[1]), ("jira", window(1)[1]), ("slack", window(0)[1])]


def test_last_sync_is_end_of_contiguous_successful_windows(store):
    def record_and_advance(r: SyncRun) -> datetime:
        store.runs.record(r)
        return store.runs.advance_last_sync(r.source, r.window_start, r.window_end)

    assert record_and_advance(run(0)) == window(0)[1]
    store.runs.record(run(1, RUN_FAILED))  # the gap: its record step never advances
    assert record_and_advance(run(2)) == window(0)[1]
    assert record_and_advance(run(3)) == window(0)[1]
    assert store.runs.last_sync("slack") == window(0)[1]
    assert store.runs.failed_windows("slack") == [FailedWindow(*window(1), run(1).run_id)]

    # Clearing the failed run re-runs the same window: it jumps over every later success.
    assert record_and_advance(run(1, RUN_SUCCESS, delay=timedelta(hours=2))) == window(3)[1]
    assert store.runs.failed_windows("slack") == []
    assert [r.status for r in store.runs.recent("slack", limit=None)].count(RUN_FAILED) == 0

    # Never backwards: a late re-run of an old window leaves it where it is.
    assert record_and_advance(run(0, run_id="manual__again", delay=timedelta(hours=3))) == window(3)[1]
    assert store.runs.status_rows() == [("slack", window(3)[1])]


def test_last_sync_starts_at_earliest_successful_window(store):
    store.runs.record(run(5, RUN_FAILED))
    store.runs.record(run(7))  # not contiguous with 6, which has not run yet
    store.runs.record(run(6))
    assert store.runs.advance_last_sync("slack", *window(6)) == window(7)[1]
    assert store.runs.failed_windows("slack") == [FailedWindow(*window(5), run(5).run_id)]


def test_last_sync_counts_the_given_window_even_before_it_is_recorded(store):
    assert store.runs.advance_last_sync("tempo", *window(0)) == window(0)[1]
    assert store.runs.advance_last_sync("tempo", *window(1)) == window(1)[1]


def test_failed_windows(store):
    store.runs.record(run(1, RUN_FAILED, run_id="a"))
    store.runs.record(run(1, RUN_FAILED, run_id="b", delay=timedelta(minutes=5)))  # failed twice
    store.runs.record(run(3, RUN_FAILED))
    # Window 3 re-synced by two later manual runs that together cover it.
    start, end = window(3)
    middle = start + (end - start) / 2
    later = end + timedelta(hours=1)
    store.runs.record(SyncRun("slack", "m1", start - timedelta(minutes=1), middle, later, later, RUN_SUCCESS))
    store.runs.record(SyncRun("slack", "m2", middle, end, later, later, RUN_SUCCESS))
    # A success that happened *before* a failure does not cover it.
    store.runs.record(run(5, RUN_SUCCESS, run_id="first"))
    store.runs.record(run(5, RUN_FAILED, run_id="rerun", delay=timedelta(hours=1)))
    store.runs.record(run(8, RUN_FAILED, source="jira"))

    assert store.runs.failed_windows("slack") == [FailedWindow(*window(1), "b"), FailedWindow(*window(5), "rerun")]
    assert store.runs.failed_windows("jira") == [FailedWindow(*window(8), run(8).run_id)]
    assert store.runs.failed_windows("notion") == []


# --- runs ----------------------------------------------------------------------------------


def test_record_run_upserts_on_source_run_and_window(store):
    running = run(0, status="running")
    first_id = store.runs.record(running)
    done = replace(
        running,
        status=RUN_SUCCESS,
        finished_at=running.started_at + timedelta(seconds=90),
        duration_s=None,
        fetched=10,
        filtered_out=2,
        chunks=30,
        embedded=25,
        skipped_unchanged=5,
        upserted=25,
        deleted=1,
        tokens=1234,
        cost_usd=0.0025,
    )
    assert store.runs.record(done) == first_id  # retried record step: same row
    assert store.runs.record(done) == first_id
    [row] = store.runs.recent("slack")
    assert row == replace(done, id=first_id, duration_s=90.0)
    assert row.duration_s == 90.0

    other_id = store.runs.record(run(1, RUN_FAILED))
    assert other_id != first_id
    with store.engine.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(state_mod.runs_table)) == 2
    assert store.runs.last("slack").run_id == run(1).run_id
    assert store.runs.last("slack", status=RUN_SUCCESS).id == first_id
    assert store.runs.last("jira") is None
    assert [r.id for r in store.runs.recent()] == [other_id, first_id]
    assert [r.id for r in store.runs.recent(since=run(1).started_at)] == [other_id]
    assert len(store.runs.recent(limit=1)) == 1
    assert store.runs.recent(source="slack", status=RUN_FAILED)[0].error_message == "boom"


def test_sync_run_validates():
    with pytest.raises(ValueError):
        replace(run(0), status="done")
    with pytest.raises(ValueError):
        SyncRun("slack", "r", T0, T0 - STEP, T0)


def test_long_error_messages_are_clipped(store):
    store.runs.record(replace(run(0, RUN_FAILED), error_message="x" * 50_000))
    assert len(store.runs.last("slack").error_message) <= state_mod.MAX_ERROR_CHARS


# --- projects ------------------------------------------------------------------------------


def test_project_activity(store):
    assert store.projects.active() == set()
    assert store.projects.upsert([("SUBS", "Subscriptions", True), ("BC", "Beauchamp", True), ("OLD", "Legacy", False)]) == 3
    assert store.projects.active() == {"SUBS", "BC"}
    assert store.projects.known() == {"SUBS": True, "BC": True, "OLD": False}

    assert store.projects.set_active("BC", False) is True
    assert store.projects.set_active("NOPE", True) is False
    assert store.projects.active() == {"SUBS"}

    store.projects.upsert([("OLD", "Legacy renamed", True)])
    assert store.projects.all() == [
        Project("BC", "Beauchamp", False),
        Project("OLD", "Legacy renamed", True),
        Project("SUBS", "Subscriptions", True),
    ]


def test_pending_summaries_per_source(backend):
    """Noted, re-noted, listed oldest first per source, discarded; read back by a new connection
    (the next run's task) as aware UTC."""
    later, earlier = T0 + timedelta(hours=5), T0 - timedelta(days=1)
    with backend.store() as s:
        s.migrate()
        meetings = s.pending_summaries.of("fireflies")
        meetings.add("tr-later", later)
        meetings.add("tr-earlier", earlier)
        s.pending_summaries.add("other", "tr-later", T0)  # another source's item of the same id
        meetings.add("tr-later", later)  # listed again while still processing: one row
        meetings.discard("tr-unknown")
        with s.engine.connect() as conn:
            t = schema.pending_summaries_table
            first_noted = conn.execute(sa.select(t.c.noted_at).where(t.c.source == "fireflies", t.c.item_id == "tr-later")).scalar_one()
    with backend.store() as s:
        assert list(s.pending_summaries.ids("fireflies").items()) == [("tr-earlier", earlier), ("tr-later", later)]
        assert all(at.tzinfo == timezone.utc for at in s.pending_summaries.ids("fireflies").values())
        assert s.pending_summaries.ids("other") == {"tr-later": T0}
        s.pending_summaries.of("fireflies").add("tr-later", later + timedelta(minutes=1))
        with s.engine.connect() as conn:
            row = conn.execute(sa.select(t.c.item_at, t.c.noted_at).where(t.c.source == "fireflies", t.c.item_id == "tr-later")).one()
        assert row == (later + timedelta(minutes=1), first_noted)  # the time moves, when it was first noted stays
        s.pending_summaries.of("fireflies").discard("tr-later")
        assert s.pending_summaries.ids("fireflies") == {"tr-earlier": earlier}
        assert s.pending_summaries.ids("other") == {"tr-later": T0}


# --- ledger --------------------------------------------------------------------------------


def test_ledger_round_trip_and_chunk_removal(store):
    synced = T0 + timedelta(hours=1)
    store.ledger.write(
        "jira",
        [
            LedgerWrite("jira:SUBS-1", "h1", 3, "fp1", T0),
            ("jira:SUBS-2", "h2", 1, "fp1", T0 + timedelta(minutes=1)),  # plain tuples work too
        ],
        [
            ("jira:SUBS-1#0", "jira:SUBS-1", "c10", "fp1"),
            ("jira:SUBS-1#1", "jira:SUBS-1", "c11", "fp1"),
            ("jira:SUBS-1#2", "jira:SUBS-1", "c12", "fp1"),
            ("jira:SUBS-2#0", "jira:SUBS-2", "c20", "fp1"),
        ],
        removed_chunk_ids=[],
        synced_at=synced,
    )
    assert store.ledger.entries(["jira:SUBS-1", "jira:SUBS-2", "jira:NOPE-9"]) == {
        "jira:SUBS-1": LedgerEntry("h1", 3, "fp1", False),
        "jira:SUBS-2": LedgerEntry("h2", 1, "fp1", False),
    }
    assert store.ledger.chunk_hashes(["jira:SUBS-1"]) == {
        "jira:SUBS-1#0": ChunkState("c10", "fp1"),
        "jira:SUBS-1#1": ChunkState("c11", "fp1"),
        "jira:SUBS-1#2": ChunkState("c12", "fp1"),
    }

    # SUBS-1 shrinks to one changed chunk: chunks #1 and #2 leave the store and the ledger.
    store.ledger.write(
        "jira",
        [LedgerWrite("jira:SUBS-1", "h1b", 1, "fp2", T0 + timedelta(hours=2))],
        [("jira:SUBS-1#0", "jira:SUBS-1", "c10b", "fp2")],
        removed_chunk_ids=["jira:SUBS-1#1", "jira:SUBS-1#2"],
        synced_at=synced + timedelta(hours=2),
    )
    assert store.ledger.entries(["jira:SUBS-1"]) == {"jira:SUBS-1": LedgerEntry("h1b", 1, "fp2", False)}
    assert store.ledger.chunk_hashes(["jira:SUBS-1", "jira:SUBS-2"]) == {
        "jira:SUBS-1#0": ChunkState("c10b", "fp2"),
        "jira:SUBS-2#0": ChunkState("c20", "fp1"),
    }
    assert store.ledger.documents_of_source("jira") == ["jira:SUBS-1", "jira:SUBS-2"]
    assert store.ledger.document_count("jira") == 2 and store.ledger.document_count("slack") == 0

    # Deleted upstream: flagged, chunk rows gone, no longer counted.
    assert store.ledger.mark_deleted(["jira:SUBS-2", "jira:NEVER-SEEN"], synced_at=synced) == 1
    assert store.ledger.entries(["jira:SUBS-2"]) == {"jira:SUBS-2": LedgerEntry("h2", 0, "fp1", True)}
    assert store.ledger.chunk_hashes(["jira:SUBS-2"]) == {}
    assert store.ledger.documents_of_source("jira") == ["jira:SUBS-1"]
    assert store.ledger.documents_of_source("jira", include_deleted=True) == ["jira:SUBS-1", "jira:SUBS-2"]
    assert store.ledger.document_count() == 1

    # It comes back: written again, it is live again.
    store.ledger.write(
        "jira", [LedgerWrite("jira:SUBS-2", "h2", 1, "fp1", T0)], [("jira:SUBS-2#0", "jira:SUBS-2", "c20", "fp1")], [], synced
    )
    assert store.ledger.entries(["jira:SUBS-2"])["jira:SUBS-2"].deleted is False
    assert store.ledger.document_count("jira") == 2


def test_write_ledger_is_one_transaction(store):
    store.ledger.write("slack", [LedgerWrite("slack:1", "h", 1, "fp", T0)], [("slack:1#0", "slack:1", "c", "fp")], [], T0)
    with pytest.raises(Exception):
        store.ledger.write(
            "slack",
            [LedgerWrite("slack:2", "h", 1, "fp", T0)],
            [("slack:2#0", "slack:2", None, "fp")],  # NOT NULL violation after the document upsert
            ["slack:1#0"],
            T0,
        )
    assert store.ledger.entries(["slack:2"]) == {}
    assert set(store.ledger.chunk_hashes(["slack:1"])) == {"slack:1#0"}


def test_ledger_lookup_of_10000_ids_is_batched(store):
    n = 10_000
    docs = [LedgerWrite(f"slack:{i}", f"h{i}", 2, "fp", T0) for i in range(n)]
    chunk_rows = [(f"slack:{i}#{j}", f"slack:{i}", f"c{i}.{j}", "fp") for i in range(n) for j in range(2)]
    store.ledger.write("slack", docs, chunk_rows, [], T0)

    statements: list[int] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        statements.append(len(parameters) if parameters else 0)

    sa.event.listen(store.engine, "before_cursor_execute", count)
    try:
        ids = [d.doc_id for d in docs] + ["slack:missing"]
        began = time.perf_counter()
        ledger = store.ledger.entries(ids)
        hashes = store.ledger.chunk_hashes(ids)
        elapsed = time.perf_counter() - began
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", count)
    assert len(ledger) == n and ledger["slack:9999"] == LedgerEntry("h9999", 2, "fp", False)
    assert len(hashes) == 2 * n and hashes["slack:42#1"] == ChunkState("c42.1", "fp")
    assert max(statements) <= state_mod.IN_BATCH
    assert len(statements) == 2 * ((n + 1 + state_mod.IN_BATCH - 1) // state_mod.IN_BATCH)
    assert elapsed < 10, f"10,000-id lookups took {elapsed:.1f}s"


def test_concurrent_writers(backend):
    """Task processes of several sources write at once: no 'database is locked'."""
    with backend.store() as s:
        s.migrate()
    stores = [backend.store() for _ in range(4)]
    errors: list[BaseException] = []

    def work(k: int, s: StateStore) -> None:
        try:
            source = ["slack", "jira", "notion", "tempo"][k]
            for n in range(10):
                docs = [LedgerWrite(f"{source}:{n}:{i}", "h", 1, "fp", T0) for i in range(50)]
                s.ledger.write(source, docs, [(f"{d.doc_id}#0", d.doc_id, "c", "fp") for d in docs], [], T0)
                s.runs.record(run(n, source=source))
                s.runs.advance_last_sync(source, *window(n))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k, s)) for k, s in enumerate(stores)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    try:
        assert not errors, errors
        assert stores[0].ledger.document_count() == 4 * 10 * 50
        assert {src: ls for src, ls in stores[0].runs.status_rows()} == {src: window(9)[1] for src in ["slack", "jira", "notion", "tempo"]}
    finally:
        for s in stores:
            s.close()


# --- failures ------------------------------------------------------------------------------


def test_failures_record_and_resolve(store):
    a = store.runs.record_failure("slack", "r1", "fetch", *window(1), "HTTP 500", try_number=1, occurred_at=T0 + timedelta(hours=1))
    b = store.runs.record_failure("slack", "r2", "upsert", *window(4), "timeout", try_number=3, occurred_at=T0 + timedelta(hours=2))
    c = store.runs.record_failure("jira", "r3", "fetch", error_message="401", occurred_at=T0)
    assert len({a, b, c}) == 3
    assert [f.id for f in store.runs.open_failures()] == [c, a, b]
    [first, second] = store.runs.open_failures("slack")
    assert (first.task_id, first.try_number, first.error_message, first.resolved_at) == ("fetch", 1, "HTTP 500", None)
    assert (second.window_start, second.window_end) == window(4)

    resolved_at = T0 + timedelta(hours=3)
    assert store.runs.resolve_failures("slack", resolved_at, until=window(2)[1]) == 1  # only windows synced by then
    assert [f.id for f in store.runs.open_failures("slack")] == [b]
    assert store.runs.resolve_failures("slack", resolved_at) == 1
    assert store.runs.resolve_failures("slack", resolved_at) == 0
    assert [f.id for f in store.runs.open_failures()] == [c]
    with store.engine.connect() as conn:
        assert conn.scalar(sa.select(state_mod.failures_table.c.resolved_at).where(state_mod.failures_table.c.id == a)) == resolved_at


# --- time zones ----------------------------------------------------------------------------


@pytest.mark.parametrize("session_timezone", [None, "America/New_York"])
def test_timestamps_are_aware_utc_in_and_out(backend, session_timezone):
    with backend.store(session_timezone=session_timezone) as s:
        s.migrate()
        plus_two = timezone(timedelta(hours=2))
        start = datetime(2026, 3, 29, 2, 30, tzinfo=plus_two)  # an instant given in +02:00
        end = datetime(2026, 3, 29, 1, 0)  # naive: taken as UTC
        r = SyncRun("notion", "r", start, end, end, end + timedelta(seconds=3), RUN_SUCCESS)
        s.runs.record(r)
        [back] = s.runs.recent("notion")
        for value in (back.window_start, back.window_end, back.started_at, back.finished_at):
            assert_utc(value)
        assert back.window_start == datetime(2026, 3, 29, 0, 30, tzinfo=timezone.utc)
        assert back.window_end == datetime(2026, 3, 29, 1, 0, tzinfo=timezone.utc)
        assert back.duration_s == 3.0

        last = s.runs.advance_last_sync("notion", start, end)
        assert_utc(last)
        assert last == s.runs.last_sync("notion") == datetime(2026, 3, 29, 1, 0, tzinfo=timezone.utc)
        [(_, status_value)] = s.runs.status_rows()
        assert_utc(status_value)
        with s.engine.connect() as conn:  # the zone-less column holds UTC wall time
            raw = conn.exec_driver_sql(OLD_STATUS_QUERY).one()[1]
        raw = raw if isinstance(raw, datetime) else datetime.fromisoformat(raw)
        assert raw == datetime(2026, 3, 29, 1, 0)

        fid = s.runs.record_failure("notion", "r", "embed", start, end, "x", occurred_at=start)
        [failure] = s.runs.open_failures("notion")
        assert failure.id == fid
        assert_utc(failure.occurred_at) and failure.occurred_at == start
        assert_utc(failure.window_start)
        assert s.runs.failed_windows("notion") == []
        assert s.runs.recent(since=datetime(2026, 3, 29, 2, 59, tzinfo=plus_two)) == [back]  # 00:59 UTC
        assert s.runs.recent(since=datetime(2026, 3, 29, 1, 1)) == []


@pytest.mark.parametrize("backend", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
def test_psycopg3_driver(backend):
    with backend.store(driver="psycopg") as s:
        s.migrate()
        s.runs.record(run(0))
        assert s.runs.advance_last_sync("slack", *window(0)) == window(0)[1]
        assert_utc(s.runs.last("slack").window_start)
        s.ledger.write("slack", [LedgerWrite("slack:1", "h", 1, "fp", T0)], [("slack:1#0", "slack:1", "c", "fp")], [], T0)
        assert s.ledger.entries(["slack:1"]) == {"slack:1": LedgerEntry("h", 1, "fp", False)}
