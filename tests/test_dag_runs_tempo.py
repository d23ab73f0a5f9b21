"""End to end through Airflow for Tempo: dag.test() runs of vector_sync_tempo against the
sandbox (Tempo for worklogs, Jira for their issues and people), asserting what landed in
LanceDB and what the state tables say."""

from __future__ import annotations

import json
import os
from datetime import timedelta

import pytest

from tests.conftest import ANCHOR
from tests.sourcekit import ACTIVE, dag_for, stored_documents
from vector_sync.specs import source_settings
from vector_sync.status import HEALTHY, source_status

pytestmark = pytest.mark.airflow

TEMPO_INTERVAL = timedelta(minutes=30)


def test_tempo_two_consecutive_intervals(airflow_env, sandbox, workspace):
    state, store = airflow_env
    dag = dag_for("tempo")
    overlap = source_settings("tempo").overlap
    ends = [ANCHOR - TEMPO_INTERVAL, ANCHOR]
    for end in ends:
        run = dag.test(logical_date=end, run_after=end)
        assert str(run.state) == "success"

    data = workspace.data("tempo")
    now = sandbox.simulator("tempo").current_time()
    first_start = ends[0] - TEMPO_INTERVAL - overlap
    changed = data.updated_between(first_start, ANCHOR, now)
    expected = {f"tempo:{w.id}" for w in changed if w.project in ACTIVE}
    inactive = [w for w in changed if w.project is not None and w.project not in ACTIVE]
    unresolvable = [w for w in changed if w.project is None]
    assert expected and inactive and unresolvable, "the sample must cover these cases in the last hour"
    docs = stored_documents(store, "tempo")
    assert set(docs) == expected
    ledger = state.ledger.entries(sorted(expected))
    for doc_id, indexes in docs.items():
        assert indexes == set(range(ledger[doc_id].chunk_count)), doc_id

    runs = state.runs.recent("tempo")
    assert len(runs) == 2 and {r.status for r in runs} == {"success"}
    assert sorted((r.window_start, r.window_end) for r in runs) == [(e - TEMPO_INTERVAL - overlap, e) for e in ends]
    # The overlap re-reads worklogs of the first window: counted twice, embedded once.
    assert sum(r.filtered_out for r in runs) >= len(inactive)
    assert sum(r.errors for r in runs) >= len(unresolvable)  # skipped "unresolvable issue"
    assert sum(r.embedded for r in runs) == sum(ledger[d].chunk_count for d in expected)
    assert state.runs.last_sync("tempo") == ANCHOR
    assert ("tempo", ANCHOR) in [(source, at) for source, at in state.runs.status_rows()]
    status = source_status("tempo", state, store, now=ANCHOR + timedelta(minutes=5))
    assert status.health == HEALTHY and status.documents == len(expected)


def test_wrong_tempo_token_fails_at_once_and_is_recorded(airflow_env, monkeypatch):
    state, _ = airflow_env
    conn = json.loads(os.environ["AIRFLOW_CONN_TEMPO_DEFAULT"])
    monkeypatch.setenv("AIRFLOW_CONN_TEMPO_DEFAULT", json.dumps({**conn, "password": "wrong-token"}))
    run = dag_for("tempo").test(logical_date=ANCHOR, run_after=ANCHOR)
    assert str(run.state) == "failed"
    ti = next(t for t in run.get_task_instances() if t.task_id == "fetch")
    assert str(ti.state) == "failed" and ti.try_number == 1
    failures = state.runs.open_failures("tempo")
    assert failures and "tempo_default" in failures[0].error_message
    assert "wrong-token" not in failures[0].error_message
