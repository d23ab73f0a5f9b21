"""The CLI's plain-SQL reader of Airflow's metadata DB sees what Airflow's own ORM sees.

``search``, ``status`` and ``projects list`` read the Variable ``vector_sync_config``, the backend
connections and each sync DAG's schedule without importing Airflow
(``vector_sync.cli.metadata``); here both readers look at the same rows, written through
Airflow's models (an encrypted Variable, a connection, a DAG whose next date a manual run
holds, a heartbeating scheduler).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from vector_sync.cli.metadata import AirflowMetadata

DAG_ID = "vector_sync_cli_probe"  # no real DAG's id: other tests' rows stay untouched
CONN_ID = "vector_sync_cli_probe_conn"
VARIABLE = "vector_sync_cli_probe_variable"


@pytest.fixture()
def rows(airflow_db):
    from airflow.jobs.job import Job
    from airflow.models import Connection, Variable
    from airflow.models.dag import DagModel
    from airflow.models.dagbundle import DagBundleModel
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import delete

    now = datetime.now(timezone.utc).replace(microsecond=0)
    held = now - timedelta(minutes=60)
    Variable.set(VARIABLE, json.dumps({"embedder": "hashing"}))
    with create_session() as session:
        session.add(DagBundleModel(name="cli-probe-bundle"))
        session.flush()
        session.add(DagModel(dag_id=DAG_ID, bundle_name="cli-probe-bundle", is_paused=False, next_dagrun=held))
        session.add(Connection(conn_id=CONN_ID, conn_type="http", host="example.com", password="probe-secret"))
        session.flush()
        session.add(
            DagRun(
                dag_id=DAG_ID,
                run_id=f"manual__{held.isoformat()}",
                logical_date=held,
                run_after=held,
                data_interval=(held - timedelta(minutes=30), held),
                run_type="manual",
                state="success",
            )
        )
        job = Job(job_type="SchedulerJob")
        job.state = "running"
        job.latest_heartbeat = now
        session.add(job)
    yield
    Variable.delete(VARIABLE)
    with create_session() as session:
        session.execute(delete(DagRun).where(DagRun.dag_id == DAG_ID))
        session.execute(delete(DagModel).where(DagModel.dag_id == DAG_ID))
        session.execute(delete(DagBundleModel).where(DagBundleModel.name == "cli-probe-bundle"))
        session.execute(delete(Connection).where(Connection.conn_id == CONN_ID))
        session.execute(delete(Job).where(Job.id == job.id))


def test_plain_reader_agrees_with_airflow(rows):
    from vector_sync.airflow.schedule import facts_from_metadata

    meta = AirflowMetadata.locate()
    assert meta.migrated
    assert json.loads(meta.variable(VARIABLE)) == {"embedder": "hashing"}
    assert meta.variable("vector_sync_cli_no_such_variable") is None
    assert meta.connection_ids([CONN_ID, "no_such_conn"]) == {CONN_ID}
    plain = meta.schedule_facts([DAG_ID, "vector_sync_no_such_dag"])
    assert plain == facts_from_metadata([DAG_ID, "vector_sync_no_such_dag"])
    assert set(plain) == {DAG_ID} and plain[DAG_ID].holder is not None and plain[DAG_ID].scheduler_alive


def test_an_unmigrated_home_is_said_so_and_left_empty(tmp_path, monkeypatch):
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    meta = AirflowMetadata.locate()
    assert not meta.migrated
    assert list(tmp_path.iterdir()) == []
