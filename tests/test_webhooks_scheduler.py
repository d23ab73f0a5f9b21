"""Webhooks end to end through a real Airflow (tests/hookskit.py: api-server with the plugin's
receivers, scheduler with LocalExecutor, dag-processor, PostgreSQL metadata DB).

A change made in the sandbox (``POST /_sandbox/changes``) is sent signed to the receiver, which
stores it and adds an asset event; the scheduler runs ``vector_sync_jira_events``, and the new
text is found by ``vector-sync search``; a deletion makes the issue leave the index; a burst of
changes is coalesced into a few runs. In the same session, an edited Slack thread reply and an
edited Notion page are found by their new text (``vector_sync_{slack,notion}_events``).
"""

from __future__ import annotations

import json
import os
import time
from functools import partial

import pytest

from tests.hookskit import BIN, airflow_with_webhooks
from tests.processkit import wait_for

pytestmark = pytest.mark.airflow

RUN_TIMEOUT_S = 180
DAG_ID = "vector_sync_jira_events"
EVENTS_DAGS = (DAG_ID, "vector_sync_slack_events", "vector_sync_notion_events")


@pytest.fixture(scope="module")
def airflow(workspace, tmp_path_factory):
    if os.environ.get("VECTOR_SYNC_SKIP_POSTGRES") == "1":
        pytest.skip("VECTOR_SYNC_SKIP_POSTGRES=1")
    with airflow_with_webhooks(workspace, tmp_path_factory.mktemp("airflow-home"), tmp_path_factory.mktemp("data"), EVENTS_DAGS) as box:
        yield box


def settled(airflow) -> bool:
    """Every event handled and no run queued or running."""
    return airflow.state.webhooks.stats("jira").pending == 0 and all(state in ("success", "failed") for _, state in airflow.runs(DAG_ID))


def finished_runs(airflow, dag_id: str) -> list[str] | None:
    """The states of ``dag_id``'s runs once none is queued or running: a text is searchable
    as soon as upsert is done, while the run's last task may still be running."""
    states = [state for _, state in airflow.runs(dag_id)]
    return states if states and all(state in ("success", "failed") for state in states) else None


def search_hits(airflow, text: str, source: str = "jira") -> list[str]:
    found = airflow.run(str(BIN / "vector-sync"), "search", text, "--source", source, "--all-access", "--mode", "keyword", "--json")
    assert found.returncode == 0, found.stderr[-2000:]
    return [hit["id"].rsplit("#", 1)[0] for hit in json.loads(found.stdout)["hits"]]


def test_an_edit_is_found_a_deletion_is_gone_and_a_burst_is_coalesced(airflow):
    jira = airflow.sandbox.simulator("jira")
    keys = sorted(i.key for i in jira._index.issues if i.key.startswith("SUBS-"))[:10]
    procs = airflow.procs

    started = time.monotonic()
    assert airflow.change(source="jira", op="comment", key=keys[0], text="Quokka-77 release notes moved to the wiki.") == {"status": 200}
    wait_for(
        "the events run to index the comment",
        lambda: f"jira:{keys[0]}" in search_hits(airflow, "Quokka-77"),
        RUN_TIMEOUT_S,
        procs,
        interval_s=2,
    )
    first_latency = time.monotonic() - started
    assert wait_for("the events run to finish", lambda: finished_runs(airflow, DAG_ID), RUN_TIMEOUT_S, procs, interval_s=1) == ["success"]

    assert airflow.change(source="jira", op="delete", key=keys[0])["status"] == 200
    wait_for("the deletion to leave the index", lambda: not search_hits(airflow, "Quokka-77"), RUN_TIMEOUT_S, procs, interval_s=2)
    wait_for("the runs to settle", lambda: settled(airflow), RUN_TIMEOUT_S, procs, interval_s=2)
    before = len(airflow.runs(DAG_ID))

    # A burst: 27 changes to 9 issues within a few seconds.
    # Each change posts its webhook synchronously: the time is the receiver's answer (plus the
    # simulator's change), which must stay well under Slack's 3 s retry limit.
    answered = []
    for n in range(3):
        for key in keys[1:]:
            sent = time.monotonic()
            airflow.change(source="jira", op="comment", key=key, text=f"Burst note {n} for {key}: wallaby-{n}.")
            answered.append(time.monotonic() - sent)
    assert max(answered) < 3.0, answered
    wait_for("the burst to be drained", lambda: settled(airflow) and airflow.state.webhooks.stats("jira").received >= 29, RUN_TIMEOUT_S, procs, interval_s=2)  # fmt: skip
    burst_runs = len(airflow.runs(DAG_ID)) - before
    assert 1 <= burst_runs <= 5, airflow.runs(DAG_ID)
    assert set(search_hits(airflow, "wallaby-2")) >= {f"jira:{k}" for k in keys[1:4]}
    answered.sort()
    print(
        f"first change searchable after {first_latency:.1f}s; burst of 27 events -> {burst_runs} runs; "
        f"webhook answered in p50 {answered[13] * 1000:.0f} ms, max {answered[-1] * 1000:.0f} ms"
    )


def test_a_slack_reply_edit_and_a_notion_edit_are_found_by_their_new_text(airflow):
    """Nothing of Slack or Notion is indexed in this session: each events run indexes exactly
    the document its event names (the reply's whole thread; the page)."""
    late = airflow.sandbox.simulator("slack").data.scenarios["late_reply"]
    runbook = airflow.sandbox.simulator("notion").data.named["runbook"]
    started = time.monotonic()
    edited = airflow.change(source="slack", op="edit", channel=late["channel"], ts=late["reply_ts"], text="Found it: numbat-31 re-sends.")
    assert edited["status"] == 200
    assert airflow.change(source="notion", op="edit", page_id=runbook, text="On-call runbook, bandicoot-8 edition.") == {"status": 200}
    thread = f"slack:{late['channel']}:{late['thread_ts']}"
    wait_for("the Slack edit to be found", lambda: search_hits(airflow, "numbat-31", "slack") == [thread], RUN_TIMEOUT_S, airflow.procs, interval_s=2)  # fmt: skip
    wait_for("the Notion edit to be found", lambda: f"notion:{runbook}" in search_hits(airflow, "bandicoot-8", "notion"), RUN_TIMEOUT_S, airflow.procs, interval_s=2)  # fmt: skip
    for dag_id in ("vector_sync_slack_events", "vector_sync_notion_events"):
        assert wait_for(f"the {dag_id} run to finish", partial(finished_runs, airflow, dag_id), RUN_TIMEOUT_S, airflow.procs, interval_s=1) == ["success"]  # fmt: skip
    print(f"Slack reply edit and Notion page edit both found {time.monotonic() - started:.1f}s after the changes")
