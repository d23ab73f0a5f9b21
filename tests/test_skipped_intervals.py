"""The plan task of a scheduled run after intervals the scheduler skipped (``catchup=False``:
it was stopped, or `make up` started a while after `make demo`): the run reaches back to
``last_sync``, so nothing is missed and ``last_sync`` moves on; after a failed run it does
not, since clearing that run is what fills its window (its alert says so)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

from vector_sync.airflow.tasks import run_plan
from vector_sync.protocol import FetchPart
from vector_sync.specs import source_settings
from vector_sync.state.runs import RUN_FAILED, RUN_SUCCESS, SyncRun

NOW = datetime.now(timezone.utc).replace(second=0, microsecond=0)
SYNCED_UNTIL = NOW - timedelta(hours=3)
# The only interval the scheduler creates when it comes back: the latest complete one.
INTERVAL = (NOW - timedelta(minutes=30), NOW)


def scheduled_plan(run_id: str = "scheduled__now"):
    context = {
        "dag_run": SimpleNamespace(run_type="scheduled", conf={}, triggering_user_name=None),
        "data_interval_start": INTERVAL[0],
        "data_interval_end": INTERVAL[1],
        "run_id": run_id,
    }
    return FetchPart.from_json(run_plan("jira", context)[0]).plan


def synced(state, start: datetime, end: datetime, status: str = RUN_SUCCESS, run_id: str = "earlier") -> None:
    state.runs.record(SyncRun("jira", run_id, start, end, started_at=end, finished_at=end, status=status))
    if status == RUN_SUCCESS:
        state.runs.advance_last_sync("jira", start, end)


def test_a_scheduled_run_covers_the_intervals_skipped_since_the_last_sync(airflow_env):
    state, _ = airflow_env
    synced(state, SYNCED_UNTIL - timedelta(hours=1), SYNCED_UNTIL)
    plan = scheduled_plan()
    overlap = source_settings("jira").overlap
    assert (plan.window.start, plan.window.end, plan.window_mode) == (SYNCED_UNTIL - overlap, INTERVAL[1], "interval+skipped")

    # Contiguous (the last sync ends where the interval starts): exactly the interval.
    synced(state, SYNCED_UNTIL, INTERVAL[0])
    plan = scheduled_plan()
    assert (plan.window.start, plan.window.end, plan.window_mode) == (INTERVAL[0] - overlap, INTERVAL[1], "interval")


def test_after_a_failed_run_the_gap_is_left_to_its_clear(airflow_env):
    state, _ = airflow_env
    synced(state, SYNCED_UNTIL - timedelta(hours=1), SYNCED_UNTIL)
    synced(state, SYNCED_UNTIL, SYNCED_UNTIL + timedelta(minutes=30), status=RUN_FAILED, run_id="failed")
    plan = scheduled_plan()
    assert (plan.window.start, plan.window_mode) == (INTERVAL[0] - source_settings("jira").overlap, "interval")


def test_a_cleared_run_that_reached_back_reaches_back_again(airflow_env):
    """Its own failure (the run being cleared) is no reason to stop short: it covers the
    skipped intervals again, and its failed window with them."""
    state, _ = airflow_env
    synced(state, SYNCED_UNTIL - timedelta(hours=1), SYNCED_UNTIL)
    overlap = source_settings("jira").overlap
    synced(state, SYNCED_UNTIL - overlap, INTERVAL[1], status=RUN_FAILED, run_id="scheduled__now")
    plan = scheduled_plan("scheduled__now")
    assert (plan.window.start, plan.window_mode) == (SYNCED_UNTIL - overlap, "interval+skipped")


def test_a_failure_the_cursor_was_moved_past_does_not_hold_the_reach_back(airflow_env):
    """An old uncovered failure before ``last_sync`` (the operator moved the cursor past it with
    `vector-sync cursor --set`) is not "in between"."""
    state, _ = airflow_env
    synced(state, SYNCED_UNTIL - timedelta(hours=2), SYNCED_UNTIL - timedelta(hours=1), status=RUN_FAILED, run_id="old")
    state.runs.set_last_sync("jira", SYNCED_UNTIL)
    plan = scheduled_plan()
    assert (plan.window.start, plan.window_mode) == (SYNCED_UNTIL - source_settings("jira").overlap, "interval+skipped")
