"""Replays never take a future scheduled run's logical date; a stuck schedule is told apart from
a slow or paused one (vector_sync.airflow.schedule.assess). No Airflow run here: the rules alone."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from vector_sync.airflow.dags import build_source_dag
from vector_sync.airflow.schedule import OK, PAUSED, STUCK, ScheduleFacts, assess
from vector_sync.airflow.windows import ReplayRefused, replay_interval

UTC = timezone.utc
NOW = datetime(2026, 12, 6, 1, 47, tzinfo=UTC)
JIRA = "*/30 * * * *"


def test_a_replay_covers_the_interval_ending_at_its_date_and_holds_its_start():
    dag = build_source_dag("jira")
    start, end = replay_interval(dag.timetable, datetime(2026, 12, 6, 0, 30, tzinfo=UTC), NOW)
    assert (start, end) == (datetime(2026, 12, 6, 0, 0, tzinfo=UTC), datetime(2026, 12, 6, 0, 30, tzinfo=UTC))
    start, end = replay_interval(dag.timetable, datetime(2026, 12, 6, 0, 41, tzinfo=UTC), NOW)  # not on a boundary
    assert (start, end) == (datetime(2026, 12, 6, 0, 0, tzinfo=UTC), datetime(2026, 12, 6, 0, 30, tzinfo=UTC))


def test_a_replay_of_an_interval_not_over_yet_is_refused():
    dag = build_source_dag("jira")
    with pytest.raises(ReplayRefused, match="not over yet"):
        replay_interval(dag.timetable, NOW + timedelta(hours=1), NOW)
    with pytest.raises(ReplayRefused, match="clear every run"):
        dag.test(logical_date=None)


def facts(**kw) -> ScheduleFacts:
    return ScheduleFacts(**{"dag_id": "vector_sync_jira", "paused": False, "next_run": None, "active_runs": 0, **kw})


def test_a_next_date_held_by_a_run_that_ends_there_is_stuck_once_due():
    held = {
        "run_id": "manual__2026-12-06T01:30:00+00:00",
        "run_type": "manual",
        "data_interval_start": datetime(2026, 12, 6, 1, 0, tzinfo=UTC),
        "data_interval_end": datetime(2026, 12, 6, 1, 30, tzinfo=UTC),
    }
    blocked = facts(next_run=datetime(2026, 12, 6, 1, 30, tzinfo=UTC), holder=held, latest=held)
    assert assess(blocked, JIRA, datetime(2026, 12, 6, 2, 0, 30, tzinfo=UTC))["state"] == OK  # due 02:00: not a minute late
    out = assess(blocked, JIRA, datetime(2026, 12, 6, 2, 5, tzinfo=UTC))
    assert out["state"] == STUCK and "manual__2026-12-06T01:30:00+00:00" in out["cause"] and "--repair" in out["fix"]
    assert (
        assess(facts(next_run=blocked.next_run, holder=held, latest=held, active_runs=1), JIRA, datetime(2026, 12, 6, 2, 5, tzinfo=UTC))[
            "state"
        ]
        == OK
    )
    assert (
        assess(facts(next_run=blocked.next_run, holder=held, latest=held, paused=True), JIRA, datetime(2026, 12, 6, 2, 5, tzinfo=UTC))[
            "state"
        ]
        == PAUSED
    )


def test_a_replay_holding_its_own_start_lets_the_scheduler_move_on():
    replay = {
        "run_id": "manual__x",
        "run_type": "manual",
        "data_interval_start": datetime(2026, 12, 6, 1, 0, tzinfo=UTC),
        "data_interval_end": datetime(2026, 12, 6, 1, 30, tzinfo=UTC),
    }
    out = assess(
        facts(next_run=datetime(2026, 12, 6, 1, 0, tzinfo=UTC), holder=replay, latest=replay),
        JIRA,
        datetime(2026, 12, 6, 1, 55, tzinfo=UTC),
    )
    assert out["state"] == OK and out["due_at"] == "2026-12-06T02:00:00+00:00"


def test_no_run_for_more_than_an_interval_past_due_is_stuck():
    last = {
        "run_id": "scheduled__1",
        "run_type": "scheduled",
        "data_interval_start": datetime(2026, 12, 6, 0, 30, tzinfo=UTC),
        "data_interval_end": datetime(2026, 12, 6, 1, 0, tzinfo=UTC),
    }
    scheduled = facts(next_run=datetime(2026, 12, 6, 1, 0, tzinfo=UTC), latest=last)
    assert assess(scheduled, JIRA, datetime(2026, 12, 6, 1, 59, tzinfo=UTC))["state"] == OK  # due 01:30, 29 min late
    out = assess(scheduled, JIRA, datetime(2026, 12, 6, 2, 1, tzinfo=UTC))
    assert out["state"] == STUCK and "no run of vector_sync_jira" in out["cause"] and out["overdue_minutes"] == 31.0


def test_no_run_without_a_scheduler_is_not_stuck_but_says_so():
    """No scheduler heartbeating (make demo alone, a test session): nothing is created, which
    is no fault of the schedule; a held date is still stuck (it will block the scheduler)."""
    last = {
        "run_id": "scheduled__1",
        "run_type": "scheduled",
        "data_interval_start": datetime(2026, 12, 6, 0, 30, tzinfo=UTC),
        "data_interval_end": datetime(2026, 12, 6, 1, 0, tzinfo=UTC),
    }
    idle = facts(next_run=datetime(2026, 12, 6, 1, 0, tzinfo=UTC), latest=last, scheduler_alive=False)
    out = assess(idle, JIRA, datetime(2026, 12, 6, 2, 1, tzinfo=UTC))
    assert out["state"] == OK and out["scheduler_alive"] is False
    assert "no scheduler is running" in out["cause"] and "make up" in out["fix"]
    held = {
        "run_id": "manual__01:00",
        "run_type": "manual",
        "logical_date": datetime(2026, 12, 6, 1, 0, tzinfo=UTC),
        "data_interval_start": datetime(2026, 12, 6, 0, 30, tzinfo=UTC),
        "data_interval_end": datetime(2026, 12, 6, 1, 0, tzinfo=UTC),
    }
    trapped = facts(next_run=datetime(2026, 12, 6, 1, 0, tzinfo=UTC), latest=held, holder=held, scheduler_alive=False)
    assert assess(trapped, JIRA, datetime(2026, 12, 6, 2, 1, tzinfo=UTC))["state"] == STUCK
