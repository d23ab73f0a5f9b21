"""The events DAG through Airflow (dag.test against the sandbox): a run drains every pending
webhook event of its source in one go, syncs the named items, deletes the deleted ones."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from tests.sourcekit import ROOT
from vector_sync.webhooks import ItemChange

pytestmark = pytest.mark.airflow


def events_dag(name: str):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(ROOT / "dags" / "vector_sync_events.py")).dags[f"vector_sync_{name}_events"]


def indexed(store, prefix: str) -> set[str]:
    return {chunk_id.rsplit("#", 1)[0] for chunk_id in store.ids(prefix)}


def test_one_run_drains_a_burst_and_a_deletion_leaves(airflow_env, sandbox):
    state, store = airflow_env
    jira = sandbox.simulator("jira")
    keys = sorted(issue.key for issue in jira._index.issues if issue.key.split("-")[0] in ("SUBS", "BC"))[:20]  # active projects
    now = datetime.now(timezone.utc)
    # A burst: 40 events (two per issue, as edit + comment) before any run.
    burst = [ItemChange(f"d-{key}-{n}", "jira:issue_updated", f"jira:{key}", False) for key in keys for n in (1, 2)]
    assert state.webhooks.add("jira", burst, now) == 40
    dag = events_dag("jira")
    run = dag.test(logical_date=now, run_after=now)
    assert str(run.state) == "success"
    assert len(keys) == 20 and indexed(store, "jira:") == {f"jira:{k}" for k in keys}
    stats = state.webhooks.stats("jira")
    assert (stats.received, stats.pending) == (40, 0)

    # A deletion event: the issue leaves the index in the next run.
    victim = next(f"jira:{k}" for k in keys if f"jira:{k}" in indexed(store, "jira:"))
    jira.delete(victim.split(":", 1)[1])
    state.webhooks.add("jira", [ItemChange("d-deleted", "jira:issue_deleted", victim, True)], datetime.now(timezone.utc))
    later = now + timedelta(seconds=1)
    assert str(dag.test(logical_date=later, run_after=later).state) == "success"
    assert victim not in indexed(store, "jira:")
    assert victim not in state.ledger.documents_of_source("jira")
    assert state.webhooks.stats("jira").pending == 0
