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


def test_a_stored_event_queues_the_events_dag_through_an_asset_event(airflow_env):
    """What the receiver does inside the API server: an asset event on the source's asset,
    which queues a run of the events DAG; more events before that run share the one queued run."""
    from airflow.models.asset import AssetDagRunQueue, AssetEvent, AssetModel
    from airflow.models.dag import DagModel
    from airflow.utils.session import create_session
    from sqlalchemy import func, select, update

    from vector_sync.airflow.web.webhooks import add_asset_event
    from vector_sync.webhooks import events_asset_name

    now = datetime.now(timezone.utc)
    assert str(events_dag("slack").test(logical_date=now, run_after=now).state) == "success"  # parsed: the asset exists
    with create_session() as session:  # as `make up` has it (paused DAGs are never queued)
        session.execute(update(DagModel).where(DagModel.dag_id == "vector_sync_slack_events").values(is_paused=False))
    for n in range(5):
        add_asset_event("slack", {"events": 1, "n": n})
    with create_session() as session:
        asset_id = session.scalar(select(AssetModel.id).where(AssetModel.name == events_asset_name("slack")))
        assert session.scalar(select(func.count()).select_from(AssetEvent).where(AssetEvent.asset_id == asset_id)) == 5
        queued = session.scalars(select(AssetDagRunQueue.target_dag_id).where(AssetDagRunQueue.asset_id == asset_id)).all()
    assert queued == ["vector_sync_slack_events"]
