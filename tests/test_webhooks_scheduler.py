"""Webhooks end to end through a real Airflow: api-server (with the plugin's receivers),
scheduler (LocalExecutor) and dag-processor as subprocesses, PostgreSQL metadata DB.

A change made in the sandbox (``POST /_sandbox/changes``) is sent signed to the receiver, which
stores it and adds an asset event; the scheduler runs ``vector_sync_jira_events``, and the new
text is found by ``vector-sync search``; a deletion makes the issue leave the index; a burst of
changes is coalesced into a few runs. Only the events DAGs are unpaused: the interval DAGs
(the safety net) would sync the same items and hide what the webhooks did.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa

from sandbox import build_sandbox
from sandbox.webhooks import wire_webhooks
from tests.conftest import ROOT
from tests.processkit import Proc, free_port, http_ok, wait_for
from vector_sync.airflow.bootstrap import connection_json, projects_from, read_settings
from vector_sync.state import StateStore

pytestmark = pytest.mark.airflow

BIN = Path(sys.executable).parent
STARTUP_TIMEOUT_S = 240
RUN_TIMEOUT_S = 180
EVENTS_DAGS = ("vector_sync_jira_events",)


@pytest.fixture(scope="module")
def metadata_db():
    from tests.clusterkit import postgres_database

    if os.environ.get("VECTOR_SYNC_SKIP_POSTGRES") == "1":
        pytest.skip("VECTOR_SYNC_SKIP_POSTGRES=1")
    with postgres_database("vs_hooks") as url:
        yield url


@pytest.fixture(scope="module")
def airflow(metadata_db, workspace, tmp_path_factory):
    home = tmp_path_factory.mktemp("airflow-home")
    data = tmp_path_factory.mktemp("vector-sync-data")
    procs: list[Proc] = []
    with build_sandbox(workspace) as sandbox, pytest.MonkeyPatch.context() as mp:
        mp.setenv("VECTOR_SYNC_SANDBOX_URL", sandbox.url)
        settings = read_settings(ROOT / "airflow_settings.yaml")
        api_port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "VECTOR_SYNC"))}
        env.update(
            {
                "AIRFLOW_HOME": str(home),
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata_db.render_as_string(hide_password=False),
                "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
                "AIRFLOW__CORE__PARALLELISM": "4",
                "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
                "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
                "AIRFLOW__API__HOST": "127.0.0.1",
                "AIRFLOW__API__PORT": str(api_port),
                "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{api_port}",
                "AIRFLOW__API__SECRET_KEY": secrets.token_hex(16),
                "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
                "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "10",
                "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
                "VECTOR_SYNC_DATA_DIR": str(data),
                "VECTOR_SYNC_SETTINGS_FILE": str(home / "no-settings.yaml"),
            }
        )
        for entry in settings["connections"]:
            env[f"AIRFLOW_CONN_{entry['conn_id'].upper()}"] = connection_json(entry)
        env.update(wire_webhooks(sandbox, f"http://127.0.0.1:{api_port}/vector-sync/webhooks"))  # what `make up` does
        engine = sa.create_engine(metadata_db, poolclass=sa.pool.NullPool)

        def run(*args: str, timeout_s: float = 300) -> subprocess.CompletedProcess:
            return subprocess.run(args, env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout_s)

        migrated = run(str(BIN / "airflow"), "db", "migrate")
        assert migrated.returncode == 0, migrated.stdout[-2000:] + migrated.stderr[-2000:]
        with engine.begin() as conn:
            conn.execute(
                sa.text("INSERT INTO slot_pool (pool, slots, description, include_deferred) VALUES (:pool, :slots, '', false)"),
                [{"pool": p["pool_name"], "slots": int(p["pool_slot"])} for p in settings["pools"]],
            )
        state = StateStore(f"sqlite:///{data / 'vector_sync.db'}")
        state.migrate()
        state.projects.upsert(projects_from(settings))
        try:
            for name, args in (
                ("api-server", ("api-server", "--port", str(api_port))),
                ("scheduler", ("scheduler",)),
                ("dag-processor", ("dag-processor",)),
            ):
                log = home / f"{name}.log"
                popen = subprocess.Popen([str(BIN / "airflow"), *args], env=env, cwd=home, stdout=log.open("a"), stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
                procs.append(Proc(name, popen, log))
            wait_for("the api-server", lambda: http_ok(f"http://127.0.0.1:{api_port}/api/v2/monitor/health"), STARTUP_TIMEOUT_S, procs)

            def parsed() -> bool:
                with engine.connect() as conn:
                    return bool(conn.execute(sa.text("SELECT 1 FROM asset WHERE name = 'vector_sync_jira_events'")).first())

            wait_for("the events DAGs and their assets to be parsed", parsed, STARTUP_TIMEOUT_S, procs)
            for dag_id in EVENTS_DAGS:
                unpaused = run(str(BIN / "airflow"), "dags", "unpause", dag_id)
                assert unpaused.returncode == 0, unpaused.stderr[-2000:]
            yield {"sandbox": sandbox, "engine": engine, "state": state, "run": run, "procs": procs}
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                proc.wait_or_kill()
            engine.dispose()


def change(sandbox, **body) -> dict:
    response = requests.post(f"{sandbox.url}/_sandbox/changes", data=json.dumps(body), timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def runs(airflow, dag_id: str = "vector_sync_jira_events") -> list[tuple]:
    with airflow["engine"].connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text("SELECT run_id, state FROM dag_run WHERE dag_id = :d ORDER BY id"), {"d": dag_id})]


def settled(airflow) -> bool:
    """Every event handled and no run queued or running."""
    return airflow["state"].webhooks.stats("jira").pending == 0 and all(state in ("success", "failed") for _, state in runs(airflow))


def search_hits(airflow, text: str) -> list[str]:
    found = airflow["run"](str(BIN / "vector-sync"), "search", text, "--source", "jira", "--all-access", "--mode", "keyword", "--json")
    assert found.returncode == 0, found.stderr[-2000:]
    return [hit["id"].rsplit("#", 1)[0] for hit in json.loads(found.stdout)["hits"]]


def test_an_edit_is_found_a_deletion_is_gone_and_a_burst_is_coalesced(airflow):
    sandbox = airflow["sandbox"]
    jira = sandbox.simulator("jira")
    keys = sorted(i.key for i in jira._index.issues if i.key.startswith("SUBS-"))[:10]

    started = time.monotonic()
    assert change(sandbox, source="jira", op="comment", key=keys[0], text="Quokka-77 release notes moved to the wiki.") == {"status": 200}
    wait_for(
        "the events run to index the comment",
        lambda: f"jira:{keys[0]}" in search_hits(airflow, "Quokka-77"),
        RUN_TIMEOUT_S,
        airflow["procs"],
        interval_s=2,
    )
    first_latency = time.monotonic() - started
    assert [state for _, state in runs(airflow)] == ["success"]

    assert change(sandbox, source="jira", op="delete", key=keys[0])["status"] == 200
    wait_for(
        "the deletion to leave the index", lambda: not search_hits(airflow, "Quokka-77"), RUN_TIMEOUT_S, airflow["procs"], interval_s=2
    )
    wait_for("the runs to settle", lambda: settled(airflow), RUN_TIMEOUT_S, airflow["procs"], interval_s=2)
    before = len(runs(airflow))

    # A burst: 27 changes to 9 issues within a few seconds.
    for n in range(3):
        for key in keys[1:]:
            change(sandbox, source="jira", op="comment", key=key, text=f"Burst note {n} for {key}: wallaby-{n}.")
    wait_for("the burst to be drained", lambda: settled(airflow) and airflow["state"].webhooks.stats("jira").received >= 29, RUN_TIMEOUT_S, airflow["procs"], interval_s=2)  # fmt: skip
    burst_runs = len(runs(airflow)) - before
    assert 1 <= burst_runs <= 5, runs(airflow)
    assert set(search_hits(airflow, "wallaby-2")) >= {f"jira:{k}" for k in keys[1:4]}
    print(f"first change searchable after {first_latency:.1f}s; burst of 27 events -> {burst_runs} runs")
