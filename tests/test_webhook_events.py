"""The events DAG through Airflow (dag.test against the sandbox): a run drains every pending
webhook event of its source in one go, syncs the named items, deletes the deleted ones."""

from __future__ import annotations

import time
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


def test_a_burst_of_1000_slack_events_is_one_run_and_a_bounded_fetch(airflow_env, sandbox, monkeypatch):
    """Issue #20: 1,000 Slack events in a minute give a handful of runs, not 1,000, and no 429
    storm. Ten busy threads in two channels (10 new messages, then replies and, a third of the
    time, an edit of a thread's latest reply),
    each change sent signed to the receiver, which stores it and adds an asset event: Airflow
    queues one run of the events DAG for all of them, and that run fetches each thread once,
    under Slack's Tier 3 limit (50 calls a minute per method), without one 429."""
    from airflow.models.asset import AssetDagRunQueue, AssetModel
    from airflow.models.dag import DagModel
    from airflow.utils.session import create_session
    from fastapi.testclient import TestClient
    from sqlalchemy import select, update

    from sandbox.server import RateLimiter
    from sandbox.webhooks import SandboxChanges, WebhookEmitter, connection_env, new_secrets
    from vector_sync.airflow.web.webhooks import webhooks_app
    from vector_sync.webhooks import events_asset_name

    state, store = airflow_env
    dag = events_dag("slack")
    now = datetime.now(timezone.utc)
    assert str(dag.test(logical_date=now, run_after=now).state) == "success"  # parsed: the asset exists
    with create_session() as session:  # as `make up` has it (paused DAGs are never queued)
        session.execute(update(DagModel).where(DagModel.dag_id == dag.dag_id).values(is_paused=False))
    signing = new_secrets()
    for name, value in connection_env(signing).items():
        monkeypatch.setenv(name, value)
    receiver = TestClient(webhooks_app(lambda: state))  # the real asset events

    def post(url, data, headers, timeout):
        return receiver.post(url.removeprefix("http://receiver"), content=data, headers=headers)

    changes = SandboxChanges(sandbox, WebhookEmitter("http://receiver", signing, post=post))
    sandbox.rate_limits["slack"] = RateLimiter(50, per_s=60)

    started = time.monotonic()
    roots = [changes.apply({"source": "slack", "op": "post", "channel": ("C0SUBSDEV", "C0BCBILL")[n % 2], "text": f"Release train {n}"}) for n in range(10)]  # fmt: skip
    channels = {root["ts"]: ("C0SUBSDEV", "C0BCBILL")[n % 2] for n, root in enumerate(roots)}
    last_reply: dict[str, str] = {}
    for n in range(990):
        root = roots[n % 10]["ts"]
        if n % 3 == 2 and root in last_reply:  # an edit of the thread's latest reply
            changes.apply({"source": "slack", "op": "edit", "channel": channels[root], "ts": last_reply[root], "text": f"Edited note {n}: echidna-{n}"})  # fmt: skip
        else:
            reply = changes.apply({"source": "slack", "op": "post", "channel": channels[root], "thread_ts": root, "text": f"Note {n}"})
            last_reply[root] = reply["ts"]
    elapsed = time.monotonic() - started
    assert [sent["status"] for sent in changes.emitter.sent] == [200] * 1000
    assert elapsed < 60, f"the burst took {elapsed:.0f} s"
    assert (state.webhooks.stats("slack").received, state.webhooks.stats("slack").pending) == (1000, 1000)
    with create_session() as session:
        asset_id = session.scalar(select(AssetModel.id).where(AssetModel.name == events_asset_name("slack")))
        queued = session.scalars(select(AssetDagRunQueue.target_dag_id).where(AssetDagRunQueue.asset_id == asset_id)).all()
    assert queued == [dag.dag_id]  # 1,000 asset events, one queued run

    sandbox.log.reset()
    later = now + timedelta(seconds=1)
    assert str(dag.test(logical_date=later, run_after=later).state) == "success"  # that run
    assert state.webhooks.stats("slack").pending == 0
    threads = {f"slack:{channel}:{root}" for root, channel in channels.items()}
    assert indexed(store, "slack:") == threads
    assert sandbox.log.count("slack", r"conversations\.history") == 10  # one per thread, not per event
    assert sandbox.log.count("slack", r"conversations\.replies") == 10
    assert sandbox.log.count("slack") <= 40, sandbox.log.calls
    assert sandbox.log.status_count("slack", 429) == 0
    print(f"1,000 Slack events sent in {elapsed:.1f} s -> 1 queued run; it made {sandbox.log.count('slack')} Slack calls")
