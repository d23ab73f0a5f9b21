"""A real Airflow with the webhook receivers, for the webhook end-to-end test and the freshness
benchmark: api-server (the plugin mounted), scheduler (LocalExecutor) and dag-processor as
subprocesses on a fresh PostgreSQL metadata DB, the sandbox in this process wired as `make up`
wires it (``sandbox.webhooks.wire_webhooks``), the embedded state and index in ``data``.

Only the events DAGs named are unpaused: the interval DAGs (the safety net) would sync the same
items and hide what the webhooks did.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
import sqlalchemy as sa

from sandbox import build_sandbox
from sandbox.webhooks import wire_webhooks
from tests.clusterkit import postgres_database
from tests.conftest import ROOT
from tests.processkit import Proc, clean_env, free_port, http_ok, wait_for
from vector_sync.airflow.bootstrap import connection_json, projects_from, read_settings
from vector_sync.state import StateStore

BIN = Path(sys.executable).parent
STARTUP_TIMEOUT_S = 240


@dataclass
class HooksAirflow:
    sandbox: Any
    engine: sa.Engine
    state: StateStore
    env: dict[str, str]
    procs: list[Proc]

    def run(self, *args: str, timeout_s: float = 300) -> subprocess.CompletedProcess:
        return subprocess.run(args, env=self.env, cwd=ROOT, capture_output=True, text=True, timeout=timeout_s)

    def change(self, **body: Any) -> dict:
        """A change in the sandbox, which sends its vendor's signed webhook."""
        response = requests.post(f"{self.sandbox.url}/_sandbox/changes", data=json.dumps(body), timeout=30)
        assert response.status_code == 200, response.text
        return response.json()

    def runs(self, dag_id: str) -> list[tuple]:
        with self.engine.connect() as conn:
            return [
                tuple(r) for r in conn.execute(sa.text("SELECT run_id, state FROM dag_run WHERE dag_id = :d ORDER BY id"), {"d": dag_id})
            ]


@contextlib.contextmanager
def _sandbox_url(url: str) -> Iterator[None]:
    """``VECTOR_SYNC_SANDBOX_URL``, which the settings file's connections are resolved with."""
    saved = os.environ.get("VECTOR_SYNC_SANDBOX_URL")
    os.environ["VECTOR_SYNC_SANDBOX_URL"] = url
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("VECTOR_SYNC_SANDBOX_URL", None)
        else:
            os.environ["VECTOR_SYNC_SANDBOX_URL"] = saved


@contextlib.contextmanager
def airflow_with_webhooks(workspace: Any, home: Path, data: Path, events_dags: tuple[str, ...]) -> Iterator[HooksAirflow]:
    procs: list[Proc] = []
    with postgres_database("vs_hooks") as metadata_url, build_sandbox(workspace) as sandbox, _sandbox_url(sandbox.url):
        settings = read_settings(ROOT / "airflow_settings.yaml")
        api_port = free_port()
        env = clean_env("AIRFLOW", "VECTOR_SYNC")
        env.update(
            {
                "AIRFLOW_HOME": str(home),
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata_url.render_as_string(hide_password=False),
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
        engine = sa.create_engine(metadata_url, poolclass=sa.pool.NullPool)
        state = StateStore(f"sqlite:///{data / 'vector_sync.db'}")
        box = HooksAirflow(sandbox, engine, state, env, procs)
        migrated = box.run(str(BIN / "airflow"), "db", "migrate")
        assert migrated.returncode == 0, migrated.stdout[-2000:] + migrated.stderr[-2000:]
        with engine.begin() as conn:
            conn.execute(
                sa.text("INSERT INTO slot_pool (pool, slots, description, include_deferred) VALUES (:pool, :slots, '', false)"),
                [{"pool": p["pool_name"], "slots": int(p["pool_slot"])} for p in settings["pools"]],
            )
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
                names = [dag_id for dag_id in events_dags]
                with engine.connect() as conn:
                    found = conn.execute(sa.text("SELECT count(*) FROM asset WHERE name IN :names").bindparams(sa.bindparam("names", expanding=True)), {"names": names}).scalar()  # fmt: skip
                return found == len(names)

            wait_for("the events DAGs' assets to be parsed", parsed, STARTUP_TIMEOUT_S, procs)
            for dag_id in events_dags:
                unpaused = box.run(str(BIN / "airflow"), "dags", "unpause", dag_id)
                assert unpaused.returncode == 0, unpaused.stderr[-2000:]
            yield box
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                proc.wait_or_kill()
            engine.dispose()
