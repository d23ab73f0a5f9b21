"""End to end through Airflow: dag.test() runs of each source DAG against the sandbox,
asserting what landed in LanceDB and what the state tables say."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from tests.conftest import ANCHOR
from tests.sourcekit import ACTIVE, dag_for, stored_documents
from vector_sync.sources import registered_sources

pytestmark = pytest.mark.airflow

JIRA_INTERVAL = timedelta(minutes=30)


def test_jira_three_consecutive_intervals_then_clear_and_rerun(airflow_env, workspace):
    state, store = airflow_env
    dag = dag_for("jira")
    overlap = timedelta(minutes=5)
    ends = [ANCHOR - 2 * JIRA_INTERVAL, ANCHOR - JIRA_INTERVAL, ANCHOR]
    for end in ends:
        run = dag.test(logical_date=end, run_after=end)
        assert str(run.state) == "success"

    data = workspace.data("jira")
    first_start = ends[0] - JIRA_INTERVAL - overlap
    expected = {f"jira:{i.key}" for i in data.updated_between(first_start, ANCHOR) if i.project in ACTIVE}
    inactive = {f"jira:{i.key}" for i in data.updated_between(first_start, ANCHOR) if i.project not in ACTIVE}
    assert expected and inactive, "the sample must have active and inactive activity in these intervals"
    docs = stored_documents(store, "jira")
    assert set(docs) == expected
    ledger = state.ledger.entries(sorted(expected))
    for doc_id, indexes in docs.items():
        assert indexes == set(range(ledger[doc_id].chunk_count)), doc_id

    runs = state.runs.recent("jira")
    assert len(runs) == 3 and {r.status for r in runs} == {"success"}
    assert sorted((r.window_start, r.window_end) for r in runs) == [(e - JIRA_INTERVAL - overlap, e) for e in ends]
    assert state.runs.last_sync("jira") == ANCHOR
    assert sum(r.filtered_out for r in runs) >= len(inactive)

    count = store.count("jira")
    rerun = dag.test(logical_date=ends[-1], run_after=ends[-1])  # the same run id again, as "Clear" in the UI
    assert str(rerun.state) == "success"
    latest = state.runs.recent("jira", limit=1)[0]
    assert latest.embedded == 0 and latest.skipped_unchanged > 0
    assert store.count("jira") == count
    assert set(stored_documents(store, "jira")) == expected
    assert len(state.runs.recent("jira")) == 3  # the cleared run updated its row, no duplicate


def test_wrong_credentials_fail_at_once_and_are_recorded(airflow_env, monkeypatch, sandbox):
    import json
    import os

    state, _ = airflow_env
    conn = json.loads(os.environ["AIRFLOW_CONN_JIRA_DEFAULT"])
    monkeypatch.setenv("AIRFLOW_CONN_JIRA_DEFAULT", json.dumps({**conn, "password": "wrong-token"}))
    end = ANCHOR - timedelta(hours=6)  # an interval no other test runs
    run = dag_for("jira").test(logical_date=end, run_after=end)
    assert str(run.state) == "failed"
    ti = next(t for t in run.get_task_instances() if t.task_id == "plan")
    assert str(ti.state) == "failed" and ti.try_number == 1  # the first API call; no retries spent on a bad credential
    failures = state.runs.open_failures("jira")
    assert failures and "jira_default" in failures[0].error_message
    assert "wrong-token" not in failures[0].error_message
    assert state.runs.failed_windows("jira")


@pytest.mark.parametrize("name", [n for n in registered_sources()])
def test_every_source_dag_lands_exactly_its_windows(name, airflow_env, monkeypatch, sandbox, workspace):
    """Two consecutive scheduled intervals, then the last one cleared and re-run: the index
    holds exactly the sample's documents changed in those windows (minus inactive projects),
    read from the workspace's ground truth, never from the source under test; chunk ids match
    the ledger, status and runs are recorded, nothing re-embeds."""
    from airflow.serialization.encoders import coerce_to_core_timetable

    from sandbox.demo import last_intervals
    from tests.sourcekit import FAST, ground_truth, kept
    from vector_sync.models import Window
    from vector_sync.specs import source_settings

    state, store = airflow_env
    if name in FAST:  # request pacing is tested on its own; it only slows this test down
        monkeypatch.setenv(f"AIRFLOW_VAR_VECTOR_SYNC_{name.upper()}", json.dumps(FAST[name]))
    dag = dag_for(name)
    intervals = last_intervals(coerce_to_core_timetable(dag.timetable), ANCHOR, 2)
    for _, end in intervals:
        run = dag.test(logical_date=end, run_after=end)
        assert str(run.state) == "success", f"{name} run ending {end} failed"

    overlap = source_settings(name).overlap
    truth: dict[str, tuple[str, ...]] = {}
    for start, end in intervals:
        truth.update(ground_truth(name, workspace, sandbox, Window(start, end).widened(overlap)))
    expected = {doc_id for doc_id, projects in truth.items() if kept(projects)}
    assert expected, f"the sample has no {name} activity in the last two intervals"
    docs = stored_documents(store, name)
    assert set(docs) == expected
    ledger = state.ledger.entries(sorted(expected))
    assert all(indexes == set(range(ledger[d].chunk_count)) for d, indexes in docs.items())
    runs = state.runs.recent(name)
    assert len(runs) == 2 and {r.status for r in runs} == {"success"}
    assert state.runs.last_sync(name) == intervals[-1][1]

    count = store.count(name)
    end = intervals[-1][1]
    assert str(dag.test(logical_date=end, run_after=end).state) == "success"
    assert state.runs.recent(name, limit=1)[0].embedded == 0
    assert store.count(name) == count and len(state.runs.recent(name)) == 2


def test_a_replayed_long_window_fetches_in_named_time_slices(airflow_env, workspace):
    """A 3-day replay (conf start/end) of Jira: one mapped fetch per day, each named after its
    slice in the UI, and together exactly the window's documents of active projects."""
    from airflow.models import TaskInstance
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    from vector_sync.models import Window
    from vector_sync.protocol import EmbedBatch, FetchPart, StepCounts

    state, store = airflow_env
    window = Window(workspace.start - timedelta(hours=1), workspace.anchor)
    run = dag_for("jira").test(logical_date=ANCHOR, run_after=ANCHOR, run_conf=window.to_json())
    assert str(run.state) == "success"
    with create_session() as session:
        fetches = session.query(TaskInstance).filter_by(dag_id="vector_sync_jira", run_id=run.run_id, task_id="fetch").all()
        names = sorted((ti.map_index, ti.rendered_map_index) for ti in fetches)
        rows = session.scalars(XComModel.get_many(run_id=run.run_id, dag_ids="vector_sync_jira", key="return_value")).all()
        xcoms = {(row.task_id, row.map_index): XComModel.deserialize_value(row) for row in rows}
    # What the tasks handed each other: the protocol's records as plain JSON, whose counts add
    # up to what the run recorded.
    planned = [FetchPart.from_json(part) for part in xcoms[("plan", -1)]]
    assert [part.index for part in planned] == [0, 1, 2]
    assert (
        {part.plan for part in planned} == {planned[0].plan} and planned[0].plan.window == window and planned[0].plan.window_mode == "conf"
    )
    fetched = [FetchPart.from_json(xcoms[("fetch", i)]) for i in range(3)]
    upserted = [EmbedBatch.from_json(value) for (task, _), value in sorted(xcoms.items()) if task == "upsert"]
    assert upserted and all(batch.parts == (0, 1, 2) for batch in upserted)
    total = StepCounts.total([part.counts for part in fetched] + [batch.counts for batch in upserted]).numbers
    recorded = state.runs.recent("jira", limit=1)[0]
    assert (total["fetched"], total["filtered_out"], total["embedded"], total["upserted"]) == (
        recorded.fetched,
        recorded.filtered_out,
        recorded.embedded,
        recorded.upserted,
    )
    assert xcoms[("record", -1)]["parts"] == 3 and xcoms[("record", -1)]["batches"] == len(upserted)
    slices = window.slices(3)
    assert names == [(i, f"{i}: {s.start:%Y-%m-%d %H:%M} to {s.end:%Y-%m-%d %H:%M}") for i, s in enumerate(slices)]
    expected = {f"jira:{i.key}" for i in workspace.data("jira").updated_between(window.start, window.end) if i.project in ACTIVE}
    assert set(stored_documents(store, "jira")) == expected
    assert state.runs.recent("jira", limit=1)[0].window_start == window.start
