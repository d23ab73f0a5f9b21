"""A real Airflow: api-server, scheduler (LocalExecutor), dag-processor and triggerer as
subprocesses of this test, on their own AIRFLOW_HOME and a fresh PostgreSQL metadata DB
(127.0.0.1:5432, one database per run, dropped after), with the connections pointing at a
sandbox and an SMTP server running in this process.

- ``make backfill SOURCE=jira FROM=... TO=...`` (``airflow backfill create``) over three
  intervals lands exactly the vectors and status of the same windows synced in-process.
- After `make demo`'s replays and `airflow dags test` replays, the scheduler (now creating
  scheduled runs, on 2-minute schedules) gives every sync DAG its next scheduled run within
  one interval plus a minute, contiguous with the replays; a replay of a future interval is
  refused.
- A Deadline Alert fires for real: the scheduler marks the deadline missed, the triggerer runs
  ``vector_sync.airflow.callbacks.deadline_missed``, and the late-run alert reaches Slack and email;
  backfill runs, all queued at once, miss their (tiny) deadlines without alerting.

``[scheduler] use_job_schedule = False`` keeps the scheduler from adding the latest
scheduled interval when the DAGs appear, so every run here is one the test asked for (until
the last test, which restarts it creating scheduled runs).
Why not SQLite: with five processes on one file, `airflow backfill create` fails with
"database is locked" (a read transaction upgraded to a write while the scheduler commits:
SQLite reports busy at once, whatever the busy timeout).
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from sandbox import build_sandbox
from sandbox.server import Fault
from tests.alertkit import ALERT_EMAIL, SmtpSink, index_snapshot, slack_posts, webhook_connection_json
from tests.conftest import ANCHOR, ROOT
from tests.processkit import Proc, clean_env, free_port, http_ok, wait_for
from vector_sync import alerts
from vector_sync.airflow.bootstrap import connection_json, projects_from, read_settings
from vector_sync.models import Window
from vector_sync.specs import source_settings
from vector_sync.state import StateStore

pytestmark = pytest.mark.airflow

BIN = Path(sys.executable).parent
INTERVAL = timedelta(minutes=30)
OVERLAP = source_settings("jira").overlap
FIRST = ANCHOR - 3 * INTERVAL  # logical dates (interval starts) 10:30, 11:00, 11:30
LAST = ANCHOR - INTERVAL
DEADLINE_S = 3  # tiny, so every run misses it
STARTUP_TIMEOUT_S = 180
RUN_TIMEOUT_S = 240


class Cluster:
    """The Airflow components, the sandbox and the SMTP server of this module."""

    def __init__(self, home: Path, data: Path, sandbox, smtp: SmtpSink, env: dict[str, str], metadata_url: sa.URL) -> None:
        self.home, self.data, self.sandbox, self.smtp, self.env = home, data, sandbox, smtp, env
        self.metadata = sa.create_engine(metadata_url, poolclass=sa.pool.NullPool)
        self.procs: list[Proc] = []
        self.state = StateStore(f"sqlite:///{data / 'vector_sync.db'}")

    def start(self, name: str, *args: str, env: dict[str, str] | None = None) -> Proc:
        log = self.home / f"{name}.log"
        popen = subprocess.Popen(
            [str(BIN / "airflow"), *args],
            env=env or self.env,
            cwd=self.home,
            stdout=log.open("a"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        proc = Proc(name, popen, log)
        self.procs.append(proc)
        return proc

    def stop_component(self, name: str) -> None:
        for proc in [p for p in self.procs if p.name == name]:
            proc.terminate()
            proc.wait_or_kill()
            self.procs.remove(proc)

    def scheduler_looks_alive(self) -> bool:
        """What ``sandbox.demo.scheduler_running`` reads (Airflow's ``Job.is_alive``): the latest
        scheduler job still "running" with a heartbeat within the health check's 30 s."""
        rows = self.query("SELECT state, latest_heartbeat FROM job WHERE job_type = 'SchedulerJob' ORDER BY latest_heartbeat DESC LIMIT 1")
        if not rows or rows[0][0] != "running":
            return False
        beat = rows[0][1] if rows[0][1].tzinfo else rows[0][1].replace(tzinfo=timezone.utc)
        return datetime.now(timezone.utc) - beat < timedelta(seconds=30)

    def cli(self, *args: str, timeout_s: float = 120, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(args, env=env or self.env, cwd=ROOT, capture_output=True, text=True, timeout=timeout_s)

    def query(self, sql: str, **params: Any) -> list[tuple]:
        with self.metadata.connect() as conn:
            return [tuple(row) for row in conn.execute(sa.text(sql), params)]

    def runs(self, dag_id: str) -> list[tuple]:
        return self.query(
            "SELECT run_id, run_type, state, backfill_id FROM dag_run WHERE dag_id = :dag_id ORDER BY logical_date NULLS LAST, id",
            dag_id=dag_id,
        )

    def stop(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            proc.wait_or_kill()


@pytest.fixture(scope="module")
def metadata_db():
    """A fresh PostgreSQL database for Airflow's metadata, dropped after the module."""
    from tests.clusterkit import postgres_database  # clusterkit imports this module's process helpers

    if os.environ.get("VECTOR_SYNC_SKIP_POSTGRES") == "1":
        pytest.skip("VECTOR_SYNC_SKIP_POSTGRES=1")
    with postgres_database("vs_airflow") as url:
        yield url


@pytest.fixture(scope="module")
def cluster(metadata_db, workspace, tmp_path_factory):
    home = tmp_path_factory.mktemp("airflow-home")
    data = tmp_path_factory.mktemp("vector-sync-data")
    plugins = tmp_path_factory.mktemp("no-plugins")  # this test is about scheduling, not the UI plugin
    (home / ".migrated").touch()  # what `make setup` checks before `make backfill`

    with build_sandbox(workspace) as sandbox, SmtpSink() as smtp, pytest.MonkeyPatch.context() as mp:
        mp.setenv("VECTOR_SYNC_SANDBOX_URL", sandbox.url)
        settings = read_settings(ROOT / "airflow_settings.yaml")
        api_port = free_port()
        env = clean_env("AIRFLOW", "VECTOR_SYNC")
        env.update(
            {
                "AIRFLOW_HOME": str(home),
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata_db.render_as_string(hide_password=False),
                "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
                "AIRFLOW__CORE__PARALLELISM": "4",
                "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
                "AIRFLOW__CORE__PLUGINS_FOLDER": str(plugins),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
                "AIRFLOW__API__HOST": "127.0.0.1",
                "AIRFLOW__API__PORT": str(api_port),
                "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{api_port}",
                "AIRFLOW__API__SECRET_KEY": secrets.token_hex(16),
                "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),  # shared: the scheduler signs, the api-server checks
                "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
                "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "10",
                "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
                "VECTOR_SYNC_DATA_DIR": str(data),
                "VECTOR_SYNC_SETTINGS_FILE": str(home / "no-settings.yaml"),
                "AIRFLOW_VAR_VECTOR_SYNC_ALERTS": json.dumps({"slack_channel": "#alerts", "email_to": [ALERT_EMAIL]}),
                # Parse time (dag-processor) and run time (tasks): every jira run's deadline is 3 s.
                "AIRFLOW_VAR_VECTOR_SYNC_JIRA": json.dumps({"deadline_minutes": DEADLINE_S / 60}),
            }
        )
        for entry in settings["connections"]:
            env[f"AIRFLOW_CONN_{entry['conn_id'].upper()}"] = connection_json(entry)
        env["AIRFLOW_CONN_SLACK_DEFAULT"] = webhook_connection_json(sandbox)
        env["AIRFLOW_CONN_SMTP_DEFAULT"] = smtp.connection_json()  # this test's SMTP server, not the file's

        box = Cluster(home, data, sandbox, smtp, env, metadata_db)
        migrated = box.cli(str(BIN / "airflow"), "db", "migrate", timeout_s=300)
        assert migrated.returncode == 0, migrated.stdout[-2000:] + migrated.stderr[-2000:]
        with box.metadata.begin() as conn:  # the settings file's pools, as `vector-sync settings load` would
            conn.execute(
                sa.text("INSERT INTO slot_pool (pool, slots, description, include_deferred) VALUES (:pool, :slots, :description, false)"),
                [
                    {"pool": p["pool_name"], "slots": int(p["pool_slot"]), "description": p.get("pool_description", "")}
                    for p in settings["pools"]
                ],
            )
        box.state.migrate()
        box.state.projects.upsert(projects_from(settings))
        try:
            api = box.start("api-server", "api-server", "--port", str(api_port))
            for name in ("scheduler", "dag-processor", "triggerer"):
                box.start(name, name)
            wait_for("the api-server", lambda: http_ok(f"http://127.0.0.1:{api_port}/api/v2/monitor/health"), STARTUP_TIMEOUT_S, box.procs)
            wait_for(
                "vector_sync_jira to be parsed and serialized",
                lambda: box.query("SELECT 1 FROM serialized_dag WHERE dag_id = 'vector_sync_jira'"),
                STARTUP_TIMEOUT_S,
                box.procs,
            )
            assert api.popen.poll() is None
            yield box
        finally:
            box.stop()
            box.metadata.dispose()


def in_process_reference(tmp_path: Path, sandbox, windows: list[Window]) -> tuple[dict, dict]:
    """The same windows synced by the library directly: chunk ids -> text, ledger."""
    from tests.sourcekit import Backends, default_embedder

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VECTOR_SYNC_SANDBOX_URL", sandbox.url)
        settings = read_settings(ROOT / "airflow_settings.yaml")
        for entry in settings["connections"]:
            mp.setenv(f"AIRFLOW_CONN_{entry['conn_id'].upper()}", connection_json(entry))
        kit = Backends(tmp_path, settings, embedder=default_embedder())
        for n, window in enumerate(windows):
            kit.run("jira", window, run_id=f"reference-{n}")
        return index_snapshot(kit.store, kit.state, "jira")


def test_make_backfill_runs_three_intervals_through_the_scheduler(cluster, tmp_path):
    frm, to = FIRST.isoformat(), LAST.isoformat()
    started = time.monotonic()
    result = cluster.cli(
        "make",
        "-s",
        "--no-print-directory",
        "-C",
        str(ROOT),
        "backfill",
        "SOURCE=jira",
        f"FROM={frm}",
        f"TO={to}",
        f"AIRFLOW_HOME={cluster.home}",  # the Makefile's own home is .airflow
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    def finished() -> list | None:
        runs = [r for r in cluster.runs("vector_sync_jira") if r[1] == "backfill"]
        return runs if len(runs) == 3 and all(r[2] in ("success", "failed") for r in runs) else None

    runs = wait_for("the backfill's three runs", finished, RUN_TIMEOUT_S, cluster.procs, interval_s=2)
    print(f"backfill of 3 intervals: {time.monotonic() - started:.0f}s")
    assert [r[2] for r in runs] == ["success"] * 3, "\n".join(p.tail() for p in cluster.procs)
    assert len({r[3] for r in runs}) == 1 and runs[0][3] is not None  # one backfill

    ends = [FIRST + INTERVAL, FIRST + 2 * INTERVAL, ANCHOR]
    windows = [Window(end - INTERVAL, end).widened(OVERLAP) for end in ends]
    state = cluster.state
    sync_runs = sorted(state.runs.recent("jira"), key=lambda r: r.window_start)
    assert [(r.window_start, r.window_end, r.status) for r in sync_runs] == [(w.start, w.end, "success") for w in windows]
    assert {r.run_id for r in sync_runs} == {r[0] for r in runs}
    assert state.runs.last_sync("jira") == ANCHOR and state.runs.failed_windows("jira") == [] and state.runs.open_failures("jira") == []

    from vector_sync.stores.lancedb import LanceDBStore

    store = LanceDBStore(str(cluster.data / "lancedb"))
    landed = index_snapshot(store, state, "jira")
    reference = in_process_reference(tmp_path, cluster.sandbox, windows)
    jira = cluster.sandbox.simulator("jira").data
    expected_docs = {f"jira:{i.key}" for i in jira.updated_between(windows[0].start, ANCHOR) if i.project in ("SUBS", "BC")}
    assert expected_docs and set(landed["ledger"]) == expected_docs
    assert landed == reference  # exactly the vectors and ledger of the same windows synced in-process
    assert len(landed["vectors"]) == sum(entry[1] for entry in landed["ledger"].values()) > 0

    late = [p for p in slack_posts(cluster.sandbox, alerts.LATE)]
    assert late == [], "backfill runs are queued together: their deadlines must not page"
    assert slack_posts(cluster.sandbox, alerts.FAILURE) == []
    # The deadlines were missed and their callbacks ran (and chose silence) in the triggerer.
    fired = wait_for(
        "the backfill runs' deadline callbacks",
        lambda: (
            (
                rows := cluster.query(
                    "SELECT c.state FROM deadline d JOIN callback c ON c.id = d.callback_id JOIN dag_run r ON r.id = d.dagrun_id "
                    "WHERE r.run_type = 'backfill' AND d.missed"
                )
            )
            and all(s in ("success", "failed") for (s,) in rows)
            and rows
        ),
        60,
        cluster.procs,
    )
    assert [s for (s,) in fired] == ["success"] * 3


def test_deadline_alert_fires_through_the_triggerer_for_a_slow_run(cluster):
    cluster.sandbox.faults.add(Fault(api="jira", kind="delay", delay_s=6, times=1))  # a slow API
    result = cluster.cli(str(BIN / "airflow"), "dags", "trigger", "vector_sync_jira", "--run-id", "manual__late_run")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]

    posts = wait_for("the late-run alert", lambda: slack_posts(cluster.sandbox, alerts.LATE), 120, cluster.procs)
    (post,) = posts
    assert "jira: run not finished 0.05 min after it was queued" in post["text"]
    assert "manual__late_run" in post["text"] and "State then:* " in post["text"]
    assert post["via"] == "chat.postMessage" and post["channel"] == "C0ALERTS"
    mail = wait_for("the late-run email", lambda: [m for m in cluster.smtp.mails if "[vector-sync late]" in m.subject], 30, cluster.procs)
    assert mail[0].recipients == [ALERT_EMAIL] and "manual__late_run" in mail[0].text

    state = wait_for(
        "the late run to finish",
        lambda: (
            (r := [s for run_id, _, s, _ in cluster.runs("vector_sync_jira") if run_id == "manual__late_run"])
            and r[0] in ("success", "failed")
            and r[0]
        ),
        RUN_TIMEOUT_S,
        cluster.procs,
        interval_s=2,
    )
    assert state == "success"  # late, not lost
    assert len(slack_posts(cluster.sandbox, alerts.LATE)) == 1


SHORT = timedelta(minutes=2)  # every sync DAG on */2 for the scheduling test: its runs come quickly


# The demo, five `airflow dags test` processes and two scheduled intervals of two minutes each:
# about 4 minutes on a quiet 2-core machine, longer under load.
@pytest.mark.timeout(600)
def test_after_the_demo_and_dags_test_replays_every_sync_dag_gets_its_scheduled_run(cluster):
    """Issue #15: the demo's runs (and ``airflow dags test DAG DATE``) held the logical date of
    the next scheduled run, and the scheduler skipped it ("run already exists") for up to two
    intervals, leaving a gap. Now they hold their interval's start, as a scheduled run would."""
    from vector_sync.sources import registered_sources

    names = list(registered_sources())
    dag_ids = [f"vector_sync_{n}" for n in names]
    env = {**cluster.env, "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "True"}
    for name in names:
        key = f"AIRFLOW_VAR_VECTOR_SYNC_{name.upper()}"
        env[key] = json.dumps({**json.loads(env.get(key) or "{}"), "schedule": f"*/{SHORT.seconds // 60} * * * *"})
    cluster.stop_component("scheduler")
    cluster.stop_component("dag-processor")
    cluster.start("dag-processor", "dag-processor", env=env)
    # A scheduler killed before it could record its exit still looks alive for a while (a recent
    # heartbeat); the demo would then replay through it. Wait until it no longer does.
    wait_for("the stopped scheduler to look stopped", lambda: not cluster.scheduler_looks_alive(), 90, cluster.procs, interval_s=2)

    # `make demo`'s replay path (one history replay and the latest interval per source) on this metadata DB.
    demo = cluster.cli(sys.executable, "-m", "sandbox.demo", "--port", str(free_port()), "--intervals", "1", env=env, timeout_s=600)
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    # `airflow dags test DAG DATE` with DATE on a boundary (the manual__…T00:30), the latest
    # complete interval, right before the scheduler starts, in parallel. With Airflow's own
    # semantics it holds DATE, the next scheduled run's logical date: that run is skipped (a gap).
    now = datetime.now(timezone.utc)
    boundary = now.replace(second=0, microsecond=0) - timedelta(minutes=now.minute % (SHORT.seconds // 60))
    tests = [
        subprocess.Popen(
            [str(BIN / "airflow"), "dags", "test", d, boundary.isoformat()],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for d in dag_ids
    ]
    for dag_id, proc in zip(dag_ids, tests):
        out, _ = proc.communicate(timeout=300)
        assert proc.returncode == 0, f"{dag_id}: {out[-3000:]}"
    future = (datetime.now(timezone.utc) + 5 * SHORT).isoformat()
    refused = cluster.cli(str(BIN / "airflow"), "dags", "test", "vector_sync_jira", future, env=env)
    assert refused.returncode != 0 and "refusing to replay" in refused.stdout + refused.stderr, (
        refused.stdout[-2000:] + refused.stderr[-2000:]
    )

    replayed = {
        d: cluster.query("SELECT max(data_interval_end) FROM dag_run WHERE dag_id = :d AND run_type = 'manual'", d=d)[0][0] for d in dag_ids
    }
    held = cluster.query(
        "SELECT dag_id, run_id FROM dag_run WHERE run_type = 'manual' AND logical_date IS NOT NULL AND logical_date <> data_interval_start"
    )
    assert held == [], "every replay holds its interval's start"

    started = datetime.now(timezone.utc)
    scheduler = cluster.start("scheduler", "scheduler", env=env)

    def first_scheduled() -> dict | None:
        rows = cluster.query(
            "SELECT DISTINCT ON (dag_id) dag_id, run_id, state, data_interval_start, queued_at FROM dag_run "
            "WHERE run_type = 'scheduled' AND dag_id IN (" + ", ".join(f"'{d}'" for d in dag_ids) + ") ORDER BY dag_id, logical_date"
        )
        found = {r[0]: r[1:] for r in rows}
        return found if len(found) == len(dag_ids) and all(r[1] in ("success", "failed") for r in found.values()) else None

    runs = wait_for(
        "a scheduled run of every sync DAG", first_scheduled, SHORT.total_seconds() + 60 + RUN_TIMEOUT_S, cluster.procs, interval_s=3
    )
    for dag_id, (run_id, state, interval_start, queued_at) in runs.items():
        print(f"{dag_id}: {run_id} queued {(queued_at - started).total_seconds():.0f}s after the scheduler started")
        assert state == "success", f"{dag_id} {run_id}\n{scheduler.tail()}"
        assert queued_at <= started + SHORT + timedelta(minutes=1), (
            f"{dag_id}: first scheduled run queued at {queued_at}, scheduler started {started}"
        )
        assert interval_start == replayed[dag_id] == boundary, (
            f"{dag_id}: the first scheduled run starts at {interval_start}, the replays ended at {replayed[dag_id]}"
        )
    # Until a DAG's first scheduled run, each parse makes the dag-processor propose the replayed
    # interval again (it counts only scheduled and backfill runs): one "run already exists" per
    # parse, and the scheduler moves past it at once. Reported, not asserted.
    print(f"'run already exists' lines: {scheduler.log.read_text(errors='replace').count('run already exists')}")
