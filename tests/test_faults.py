"""Fault injection: nothing lost, nothing duplicated, nothing silent.

For every registered source, through its real DAG (``dag.test``) against the sandbox:

1. rejected credentials fail the run at once (no retries) with an alert naming the connection;
2. the connection fixed, the same run is cleared while the sandbox serves a storm of
   transient faults (429 with Retry-After, 500, 503, a dropped connection, malformed JSON, a
   response slower than the client's timeout): it succeeds after retries, without another
   alert, and leaves exactly what a fault-free sync of the same window leaves — every vector
   (id, text, metadata, values), the ledger, ``last_sync``, no failed window.

Then, for the pipeline as a whole: the worker killed with SIGKILL in the middle of upsert,
the state database's connections terminated mid-run (PostgreSQL), and documents no API
should send but some will (a 1 MB message, empty text, invalid unicode, null fields).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pendulum
import pytest
import sqlalchemy as sa

from sandbox.server import Fault
from tests.alertkit import SmtpSink, first_failure, index_snapshot, make_world, slack_posts, source_dag, task_states
from tests.clusterkit import PG_ADMIN_URL, postgres_database
from tests.conftest import ANCHOR, ROOT
from tests.sourcekit import Backends, default_embedder
from vector_sync import alerts, pipeline
from vector_sync.airflow.bootstrap import connection_json, read_settings
from vector_sync.models import Document, Window
from vector_sync.sources import registered_sources
from vector_sync.sources.base import Source
from vector_sync.specs import source_settings

pytestmark = pytest.mark.airflow

CLIENT_TIMEOUT_S = 2  # set on every source connection here, so the slow response exceeds it
SLOW_RESPONSE_S = 3


def chaos(api: str) -> list[Fault]:
    """Transient faults, served in this order to the source's next requests."""
    return [
        Fault(api=api, kind="status", status=429, times=2, retry_after_s=1),
        Fault(api=api, kind="status", status=500, times=1),
        Fault(api=api, kind="status", status=503, times=1, retry_after_s=1),
        Fault(api=api, kind="reset", times=1),
        Fault(api=api, kind="malformed", times=1),
        Fault(api=api, kind="delay", times=1, delay_s=SLOW_RESPONSE_S),
    ]


def interval_end(name: str) -> datetime:
    """The last scheduled interval of ``name`` ending at or before the sample's anchor."""
    from airflow.sdk import CronDataIntervalTimetable
    from airflow.serialization.encoders import coerce_to_core_timetable

    timetable = coerce_to_core_timetable(CronDataIntervalTimetable(source_settings(name).schedule, timezone="UTC"))
    return timetable.infer_manual_data_interval(run_after=pendulum.instance(ANCHOR)).end


def run_window(name: str, end: datetime) -> Window:
    """The window a dag.test(logical_date=end) run syncs: the interval ending at ``end``, widened."""
    from airflow.sdk import CronDataIntervalTimetable
    from airflow.serialization.encoders import coerce_to_core_timetable

    settings = source_settings(name)
    interval = coerce_to_core_timetable(CronDataIntervalTimetable(settings.schedule, timezone="UTC")).infer_manual_data_interval(
        run_after=pendulum.instance(end)
    )
    return Window(interval.start, interval.end).widened(settings.overlap)


def reference(name: str, window: Window, sandbox, tmp_path) -> dict[str, Any]:
    """A fault-free sync of ``window`` by the library itself (same sandbox: documents carry
    its URL), into backends of its own."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VECTOR_SYNC_SANDBOX_URL", sandbox.url)
        settings = read_settings(ROOT / "airflow_settings.yaml")
        for entry in settings["connections"]:
            mp.setenv(f"AIRFLOW_CONN_{entry['conn_id'].upper()}", connection_json(entry))
        kit = Backends(tmp_path / f"reference-{name}", settings, embedder=default_embedder())
        kit.run(name, window, run_id="reference")
        snapshot = index_snapshot(kit.store, kit.state, name)
        snapshot["last_sync"] = kit.state.runs.last_sync(name)
        return snapshot


def landed(world, name: str) -> dict[str, Any]:
    snapshot = index_snapshot(world.store, world.state, name)
    snapshot["last_sync"] = world.state.runs.last_sync(name)
    return snapshot


def set_connection(monkeypatch, conn_id: str, **changes: Any) -> dict:
    """Change fields (or ``extra`` keys) of an env connection; returns the original."""
    var = f"AIRFLOW_CONN_{conn_id.upper()}"
    original = json.loads(os.environ[var])
    updated = {**original, **{k: v for k, v in changes.items() if k != "extra"}}
    if "extra" in changes:
        updated["extra"] = {**original.get("extra", {}), **changes["extra"]}
    monkeypatch.setenv(var, json.dumps(updated))
    return original


@pytest.fixture()
def world(airflow_db, sandbox, monkeypatch, tmp_path):
    with SmtpSink() as smtp:
        yield make_world(monkeypatch, sandbox, tmp_path, smtp)


# ----------------------------------------------------------------------------- API faults, every source


@pytest.mark.parametrize("name", registered_sources())
def test_rejected_credentials_then_a_fault_storm_then_exactly_the_fault_free_result(name, world, workspace, monkeypatch, tmp_path):
    conn_id = source_settings(name).conn_id
    end = interval_end(name)
    window = run_window(name, end)
    expected = reference(name, window, world.sandbox, tmp_path)
    assert expected["vectors"], f"pick a window with documents for {name}"

    # 1. Rejected credentials: fail at once, one alert naming the connection, the window failed.
    good = set_connection(monkeypatch, conn_id, password="rejected-token-123")
    run = source_dag(name).test(logical_date=end, run_after=end)
    assert str(run.state) == "failed"
    assert first_failure(run) == ("failed", 1), "a rejected credential must not be retried"
    (alert,) = slack_posts(world.sandbox, alerts.FAILURE)
    assert f"'{conn_id}'" in alert["text"] and "rejected-token-123" not in alert["text"]
    assert world.state.runs.failed_windows(name) and world.state.runs.open_failures(name)
    assert world.store.count(name) == 0

    # 2. Fixed, then cleared while the API misbehaves in every transient way.
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(good))
    # Jira's client waits 10 x 2^n s after a reset connection (capped by max_retry_delay_s, 30 s
    # by default): the same retries, without 20 s of waiting in the test.
    set_connection(monkeypatch, conn_id, extra={"timeout_s": CLIENT_TIMEOUT_S, "timeout": CLIENT_TIMEOUT_S, "max_retry_delay_s": 3})
    for fault in chaos(name):
        world.sandbox.faults.add(fault)
    world.sandbox.log.reset()
    started = time.monotonic()
    run = source_dag(name).test(logical_date=end, run_after=end)
    states = task_states(run)
    served = {status: world.sandbox.log.status_count(name, status) for status in (429, 500, 503, 0)}
    print(f"\nFAULTS {name}: run {run.state} in {time.monotonic() - started:.0f}s, fetch tries {states['fetch'][1]}, served {served}")
    assert str(run.state) == "success", states
    assert served == {429: 2, 500: 1, 503: 1, 0: 1}, "every injected fault was served"
    assert all(f.times == 0 for f in world.sandbox.faults._rules), "malformed and slow responses were served too"
    assert len(slack_posts(world.sandbox, alerts.FAILURE)) == 1, "retried faults do not alert"
    assert len(slack_posts(world.sandbox, alerts.RECOVERED)) == 1

    got = landed(world, name)
    assert got == expected, "the index and ledger differ from a fault-free sync"
    assert got["last_sync"] == window.end
    assert world.state.runs.failed_windows(name) == [] and world.state.runs.open_failures(name) == []
    runs = world.state.runs.recent(name)
    assert [(r.window_start, r.window_end, r.status) for r in runs] == [(window.start, window.end, "success")]


# ----------------------------------------------------------------------------- the worker killed mid-upsert

_KILLABLE_RUN = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    from vector_sync import pipeline
    from vector_sync.stores.lancedb import LanceDBStore

    pipeline.VECTORS_PER_UPSERT = 5  # several store writes, so the kill lands between two
    marker = Path(os.environ["KILL_MARKER"])
    original = LanceDBStore.upsert
    calls = []

    def upsert(self, records):
        written = original(self, records)
        calls.append(written)
        if len(calls) == 2:
            marker.write_text(str(sum(calls)))
            time.sleep(600)  # the test kills this process here
        return written

    LanceDBStore.upsert = upsert
    from datetime import datetime
    from vector_sync.airflow.dags import build_source_dag

    end = datetime.fromisoformat(sys.argv[1])
    build_source_dag("jira").test(logical_date=end, run_after=end)
    """
)


def test_worker_killed_mid_upsert_then_cleared(world, workspace, tmp_path):
    end = interval_end("jira")
    window = run_window("jira", end)
    expected = reference("jira", window, world.sandbox, tmp_path)
    marker = tmp_path / "killed-after"
    env = {**os.environ, "KILL_MARKER": str(marker), "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    worker = subprocess.Popen(
        [sys.executable, "-c", _KILLABLE_RUN, end.isoformat()],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 180
        while not marker.exists():
            assert worker.poll() is None, worker.stdout.read().decode()[-3000:]
            assert time.monotonic() < deadline, "the run never reached its second store write"
            time.sleep(0.2)
        os.kill(worker.pid, signal.SIGKILL)
    finally:
        if worker.poll() is None:
            os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=30)
    assert worker.returncode == -signal.SIGKILL

    written = int(marker.read_text())
    assert 0 < written == world.store.count("jira") < len(expected["vectors"]), "killed half way through the vectors"
    assert world.state.ledger.documents_of_source("jira") == [], "the ledger is written only after the store accepted everything"
    assert world.state.runs.last_sync("jira") is None

    run = source_dag("jira").test(logical_date=end, run_after=end)  # "Clear" of the killed run
    assert str(run.state) == "success"
    assert landed(world, "jira") == expected
    assert [r.status for r in world.state.runs.recent("jira")] == ["success"]


# ----------------------------------------------------------------------------- the state DB going away mid-run

OUTAGE_S = 2.0  # how long the state DB refuses connections, as during a restart


@pytest.fixture()
def pg_state_db():
    """A throwaway PostgreSQL database for the state tables, and an admin engine to cut it off."""
    if os.environ.get("VECTOR_SYNC_SKIP_POSTGRES") == "1":
        pytest.skip("VECTOR_SYNC_SKIP_POSTGRES=1")
    admin = sa.create_engine(sa.make_url(PG_ADMIN_URL), isolation_level="AUTOCOMMIT")
    try:
        with postgres_database("vs_faults") as url:
            yield admin, url
    finally:
        admin.dispose()


def test_state_db_restarted_mid_run(world, monkeypatch, tmp_path, pg_state_db):
    """Between filter_active_projects and embed, the state database goes away for a moment,
    as in a PostgreSQL restart: every connection is terminated (pg_terminate_backend) and new
    ones are refused (ALLOW_CONNECTIONS false) for OUTAGE_S, then it comes back. A real restart
    (pg_ctlcluster) would also break the other tests sharing this server, so it is simulated
    on this test's own database only."""
    from vector_sync.staging import Kind, StagedRun
    from vector_sync.state import StateStore

    admin, url = pg_state_db
    monkeypatch.setenv(
        "AIRFLOW_CONN_VECTOR_SYNC_DB",
        json.dumps({"conn_type": "postgres", "host": url.host, "port": url.port, "login": url.username, "schema": url.database}),
    )
    state = StateStore(url)
    state.migrate()
    state.projects.upsert([(p.key, p.name, p.is_active) for p in world.state.projects.all()])
    end = interval_end("jira")
    window = run_window("jira", end)
    expected = reference("jira", window, world.sandbox, tmp_path)
    staging_root = tmp_path / "data" / "staging"
    outage: dict[str, Any] = {}

    def restart_when_filtered() -> None:
        deadline = time.monotonic() + 120
        while not any(run.exists(Kind.FILTERED) for run in StagedRun.runs(staging_root, "jira")):
            if time.monotonic() > deadline:
                return
            time.sleep(0.05)
        with admin.connect() as conn:
            conn.exec_driver_sql(f'ALTER DATABASE "{url.database}" ALLOW_CONNECTIONS false')
            outage["terminated"] = len(
                conn.execute(
                    sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :db AND pid <> pg_backend_pid()"),
                    {"db": url.database},
                ).fetchall()
            )
            time.sleep(OUTAGE_S)
            conn.exec_driver_sql(f'ALTER DATABASE "{url.database}" ALLOW_CONNECTIONS true')
        outage["done"] = True

    restarter = threading.Thread(target=restart_when_filtered, daemon=True)
    restarter.start()
    run = source_dag("jira").test(logical_date=end, run_after=end)
    restarter.join(timeout=30)
    states = task_states(run)
    print(f"\nPOSTGRES: outage {outage}; run {run.state}; tries {states}")
    assert outage.get("done"), "the restart never happened"
    if str(run.state) != "success":  # failed loudly: alerted, then cleared
        assert slack_posts(world.sandbox, alerts.FAILURE)
        run = source_dag("jira").test(logical_date=end, run_after=end)
        assert str(run.state) == "success"
    else:
        assert states["embed"][1] > 1, "the step running during the outage was retried"
    got = index_snapshot(world.store, state, "jira")
    got["last_sync"] = state.runs.last_sync("jira")
    assert got == expected
    assert state.runs.failed_windows("jira") == [] and [r.status for r in state.runs.recent("jira")] == ["success"]
    assert world.state.ledger.documents_of_source("jira") == [], "everything went to the PostgreSQL state"


# ----------------------------------------------------------------------------- data no API should send


class OddSource(Source):
    """Documents shaped like the worst a real API sends: a 1 MB message, nothing but
    whitespace, null and missing optional fields, and (``unicode=True``) broken unicode: a
    lone surrogate, which any JSON decoder produces from a ``"\\ud83d"`` escape cut in half,
    plus NUL and a BOM."""

    name = "jira"  # the pipeline keys ledger rows by source name; any registered one works
    keep_unmapped = True

    def __init__(self, *args: Any, unicode: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.unicode = unicode

    def fetch(self, window: Window) -> Iterator[Document]:
        when = window.start + timedelta(minutes=1)
        base = dict(source="jira", url="https://example.com/x", updated_at=when, projects=("SUBS",))
        if self.unicode:
            yield Document(
                id="jira:UNI-1", title="bad \ud83d emoji", text="caf\u00e9 \ud800 broken \x00 nul \ufeff bom \U0001f600 ok", **base
            )
            return
        paragraph = "Subscriptions billing retries are capped at three attempts per invoice. "
        yield Document(id="jira:BIG-1", title="A 1 MB message", text=(paragraph * 15_000)[:1_000_000], **base)
        yield Document(id="jira:EMPTY-1", title="", text="   \n\t  ", **base)
        yield Document(
            id="jira:NULL-1",
            title=None,
            text="fields left null by the API",
            url=None,
            updated_at=when,  # type: ignore[arg-type]
            source="jira",
            projects=("SUBS", None),
            access_list=(None, "A@Example.com"),
            metadata={"status": None, "labels": []},
        )


def _sync_twice(source: Source, tmp_path) -> tuple[Backends, dict, dict]:
    kit = Backends(tmp_path)
    window = Window(ANCHOR - timedelta(hours=1), ANCHOR)
    settings = source_settings("jira")
    chunking = pipeline.ChunkSettings(settings.chunk_tokens, settings.chunk_overlap_tokens)
    runs = [
        pipeline.run_window(
            source, window, pipeline.staging.StagedRun(tmp_path / "staging", "jira", key), kit.state, kit.embedder, kit.store, chunking, key
        )
        for key in ("odd-1", "odd-2")
    ]
    return kit, runs[0], runs[1]


def _chunks_per_document(store) -> dict[str, int]:
    docs: dict[str, int] = {}
    for chunk_id in store.ids("jira:"):
        doc_id = chunk_id.rsplit("#", 1)[0]
        docs[doc_id] = docs.get(doc_id, 0) + 1
    return docs


def test_huge_empty_and_null_documents_are_indexed_or_skipped_never_fatal(tmp_path):
    kit, first, again = _sync_twice(OddSource(None, source_settings("jira")), tmp_path)
    assert first["fetched"] == 3 and first["empty"] == 1
    docs = _chunks_per_document(kit.store)
    assert docs["jira:BIG-1"] > 300  # ~190k tokens in chunks of <= 512
    assert "jira:EMPTY-1" not in docs and docs["jira:NULL-1"] == 1
    ledger = kit.state.ledger.entries(["jira:BIG-1", "jira:EMPTY-1", "jira:NULL-1"])
    assert ledger["jira:EMPTY-1"].chunk_count == 0 and ledger["jira:BIG-1"].chunk_count == docs["jira:BIG-1"]
    assert again["embedded"] == 0 and kit.store.count("jira") == sum(docs.values())


def test_broken_unicode_is_indexed_sanitized(tmp_path):
    kit, first, again = _sync_twice(OddSource(None, source_settings("jira"), unicode=True), tmp_path)
    assert first["fetched"] == 1 and _chunks_per_document(kit.store) == {"jira:UNI-1": 1}
    assert again["embedded"] == 0
