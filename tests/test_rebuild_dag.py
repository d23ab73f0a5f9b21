"""The rebuild DAG (issue #22) through Airflow: manual only, one mapped task per window in the
source's pool, and a run that re-embeds the history into a switched store, skipping a window
already done (a cleared or re-triggered rebuild resumes)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from tests.conftest import ROOT


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(ROOT / "dags" / "vector_sync.py"))


def test_the_rebuild_dag_is_manual_with_mapped_windows_in_the_sources_pool(dagbag):
    from airflow.sdk.definitions.mappedoperator import MappedOperator

    from vector_sync.sources import registered_sources

    for name in registered_sources():
        dag = dagbag.dags[f"vector_sync_rebuild_{name}"]
        assert dag.schedule is None and dag.max_active_runs == 1
        assert sorted(dag.task_ids) == ["copy_vectors", "finish", "plan", "rebuild_window"]
        window = dag.get_task("rebuild_window")
        assert isinstance(window, MappedOperator)
        assert window.pool == f"{name}_api" and window.retries == 5 and window.retry_exponential_backoff
        assert dag.get_task("finish").trigger_rule == "none_failed"
        assert window.upstream_task_ids == {"plan", "copy_vectors"}
        assert dag.get_task("finish").upstream_task_ids == {"rebuild_window"}
        assert set(dag.params) == {"reembed", "force", "window_days"}


def test_a_triggered_rebuild_re_embeds_the_history_in_windows_and_skips_one_already_done(
    airflow_env, dagbag, monkeypatch, tmp_path, workspace
):
    from vector_sync.airflow.backends import Runtime
    from vector_sync.airflow.rebuild import plan_rebuild, run_rebuild_window
    from vector_sync.models import Window
    from vector_sync.run import sync_window
    from vector_sync.status import NEEDS_REBUILD, source_status

    state, _ = airflow_env
    old = Runtime()
    sync_window(old.source("jira"), Window(workspace.start - timedelta(hours=1), workspace.anchor), old)
    chunk_ids = state.ledger.live_chunk_ids("jira")
    assert chunk_ids

    # The switch: another table, another embedder.
    monkeypatch.setenv("AIRFLOW_VAR_VECTOR_SYNC_CONFIG", json.dumps({"lancedb_uri": str(tmp_path / "switched"), "embedder": "hashing"}))
    new = Runtime()
    store, fingerprint = new.store(), new.embedder().fingerprint
    assert source_status("jira", new.state, store, fingerprint=fingerprint).health == NEEDS_REBUILD

    # A first attempt that ran one window before it stopped.
    windows = plan_rebuild("jira", {"window_days": 1})
    assert len(windows) >= 3 and {w["target"] for w in windows} == {f"{store.store_key}|{fingerprint}"}
    first = windows[0]
    run_rebuild_window("jira", first)
    assert new.state.rebuilds.progress("jira")["windows_done"] == 1
    [before] = first_window_runs(new.state, first)

    now = datetime.now(timezone.utc)
    run = dagbag.dags["vector_sync_rebuild_jira"].test(logical_date=now, run_after=now, run_conf={"window_days": 1})
    assert str(run.state) == "success"

    assert sorted(store.ids("jira:")) == new.state.ledger.live_chunk_ids("jira") == chunk_ids
    assert set(new.state.ledger.written_to("jira")) == {(store.store_key, fingerprint)}
    assert source_status("jira", new.state, store, fingerprint=fingerprint).health != NEEDS_REBUILD
    assert new.state.rebuilds.progress("jira") is None
    # The window done before was not run again: its run row (keyed by run id and window) is
    # the first attempt's, not rewritten by a second run.
    assert first_window_runs(new.state, first) == [before]


def first_window_runs(state, window: dict) -> list:
    run_id = f"rebuild__{datetime.fromisoformat(window['start']):%Y%m%dT%H%M%S}"
    return [(r.run_id, r.started_at, r.finished_at) for r in state.runs.recent("jira", limit=None) if r.run_id == run_id]


def test_the_command_triggers_the_dag_only_when_a_scheduler_runs(airflow_env, dagbag):
    """`vector-sync rebuild` hands a re-embedding to Airflow when a scheduler heartbeats (a run
    with the options as conf), else runs it itself (None)."""
    from airflow.jobs.job import Job
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from airflow.utils.state import JobState
    from sqlalchemy import delete, select

    from vector_sync.airflow.rebuild import trigger_rebuild

    now = datetime.now(timezone.utc)
    # Nothing to rebuild: no window to map, finish still runs (and the run writes the DAG to the DB).
    empty = dagbag.dags["vector_sync_rebuild_tempo"].test(logical_date=now, run_after=now)
    assert str(empty.state) == "success"
    assert {ti.task_id: str(ti.state) for ti in empty.get_task_instances()} == {
        "plan": "success",
        "copy_vectors": "success",
        "rebuild_window": "skipped",
        "finish": "success",
    }
    assert trigger_rebuild("tempo") is None  # no scheduler
    with create_session() as session:
        job = Job()
        job.job_type, job.state = "SchedulerJob", JobState.RUNNING
        session.add(job)
        session.commit()
        job_id = job.id
    try:
        run_id = trigger_rebuild("tempo", reembed=True)
        assert run_id is not None
        with create_session() as session:
            run = session.scalar(select(DagRun).where(DagRun.dag_id == "vector_sync_rebuild_tempo", DagRun.run_id == run_id))
            assert run is not None and run.conf == {"reembed": True, "force": False} and str(run.state) == "queued"
            session.delete(run)
    finally:
        with create_session() as session:
            session.execute(delete(Job).where(Job.id == job_id))
