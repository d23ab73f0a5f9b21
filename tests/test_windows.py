"""Every branch of ``resolve_window``: which window a run syncs, and why.

Pure unit tests: the task context is a dict and its ``dag_run`` a plain namespace with the
attributes ``resolve_window`` reads (``run_type``, ``conf``, ``triggering_user_name``); no
Airflow run and no database. Expected windows are written out as literal datetimes.
"""

from __future__ import annotations

from datetime import datetime, timezone
from types import SimpleNamespace
from typing import Any

import pytest

from vector_sync.airflow.windows import DAG_TEST_USER, resolve_window
from vector_sync.specs import source_settings

UTC = timezone.utc
NOW = datetime(2026, 11, 20, 12, 7, tzinfo=UTC)
LAST_SYNC = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
# The interval of the scheduled run [11:30, 12:00) of a half-hourly source.
INTERVAL = (datetime(2026, 11, 20, 11, 30, tzinfo=UTC), datetime(2026, 11, 20, 12, 0, tzinfo=UTC))
# Overlap pinned here (not the source's default) so every expected datetime below is exact.
JIRA = source_settings("jira", {"overlap_minutes": 5})


def context(
    run_type: Any = "scheduled",
    conf: dict[str, Any] | None = None,
    user: str | None = "airflow",
    interval: tuple[datetime, datetime] | None = INTERVAL,
) -> dict[str, Any]:
    """A task context as ``resolve_window`` reads it; no ``data_interval_*`` keys without ``interval``
    (Airflow 3 gives a run triggered without logical date none)."""
    out: dict[str, Any] = {"dag_run": SimpleNamespace(run_type=run_type, conf=conf or {}, triggering_user_name=user)}
    if interval is not None:
        out["data_interval_start"], out["data_interval_end"] = interval
    return out


def window_of(ctx: dict[str, Any], settings=JIRA, last_sync: datetime | None = LAST_SYNC, now: datetime = NOW):
    window, mode = resolve_window(ctx, settings, last_sync, now)
    return window.start, window.end, mode


# ----------------------------------------------------------------------------- conf replay


def test_conf_start_and_end_is_exactly_that_window_without_overlap():
    conf = {"start": "2026-11-01T00:00:00Z", "end": "2026-11-02T06:30:00+00:00"}
    assert window_of(context("manual", conf, interval=None)) == (
        datetime(2026, 11, 1, 0, 0, tzinfo=UTC),
        datetime(2026, 11, 2, 6, 30, tzinfo=UTC),
        "conf",
    )


def test_conf_window_wins_over_the_data_interval_and_last_sync():
    conf = {"start": "2026-10-01T00:00:00Z", "end": "2026-10-01T01:00:00Z"}
    for ctx in (context("scheduled", conf), context("manual", conf, user=DAG_TEST_USER), context("backfill", conf)):
        assert window_of(ctx) == (datetime(2026, 10, 1, 0, 0, tzinfo=UTC), datetime(2026, 10, 1, 1, 0, tzinfo=UTC), "conf")


def test_conf_window_of_zero_width_is_kept():
    conf = {"start": "2026-10-01T00:00:00Z", "end": "2026-10-01T00:00:00Z"}
    assert window_of(context("manual", conf, interval=None)) == (
        datetime(2026, 10, 1, tzinfo=UTC),
        datetime(2026, 10, 1, tzinfo=UTC),
        "conf",
    )


def test_conf_window_ending_before_it_starts_is_a_clear_error():
    conf = {"start": "2026-10-02T00:00:00Z", "end": "2026-10-01T00:00:00Z"}
    with pytest.raises(ValueError, match="window ends before it starts"):
        resolve_window(context("manual", conf, interval=None), JIRA, LAST_SYNC, NOW)


@pytest.mark.parametrize(
    "conf",
    [
        {"start": "2026-10-01T00:00:00Z"},
        {"end": "2026-10-01T00:00:00Z"},
        {"start": "2026-10-01T00:00:00Z", "end": ""},
        {"start": None, "end": "2026-10-01T00:00:00Z"},
    ],
    ids=["start-only", "end-only", "empty-end", "null-start"],
)
def test_conf_with_only_one_bound_falls_through(conf):
    # A scheduled run keeps its interval; a triggered run without one catches up.
    assert window_of(context("scheduled", conf)) == (
        datetime(2026, 11, 20, 11, 25, tzinfo=UTC),
        datetime(2026, 11, 20, 12, 0, tzinfo=UTC),
        "interval",
    )
    assert window_of(context("manual", conf, interval=None)) == (datetime(2026, 11, 20, 9, 25, tzinfo=UTC), NOW, "catch_up")


# ----------------------------------------------------------------------------- data interval


def test_scheduled_run_syncs_its_interval_widened_by_the_overlap():
    assert window_of(context("scheduled")) == (
        datetime(2026, 11, 20, 11, 25, tzinfo=UTC),
        datetime(2026, 11, 20, 12, 0, tzinfo=UTC),
        "interval",
    )


def test_the_overlap_is_the_sources_own():
    late = source_settings("fireflies", {"overlap_minutes": 720})  # 12 h: transcripts arrive late
    assert window_of(context("scheduled"), settings=late) == (
        datetime(2026, 11, 19, 23, 30, tzinfo=UTC),
        datetime(2026, 11, 20, 12, 0, tzinfo=UTC),
        "interval",
    )
    none = source_settings("jira", {"overlap_minutes": 0})
    assert window_of(context("scheduled"), settings=none) == (*INTERVAL, "interval")


def test_backfill_run_syncs_its_interval_not_up_to_now():
    old = (datetime(2026, 9, 1, 10, 0, tzinfo=UTC), datetime(2026, 9, 1, 10, 30, tzinfo=UTC))
    assert window_of(context("backfill", interval=old)) == (
        datetime(2026, 9, 1, 9, 55, tzinfo=UTC),
        datetime(2026, 9, 1, 10, 30, tzinfo=UTC),
        "interval",
    )


def test_interval_runs_ignore_last_sync_even_on_the_first_sync():
    assert window_of(context("scheduled"), last_sync=None) == (
        datetime(2026, 11, 20, 11, 25, tzinfo=UTC),
        datetime(2026, 11, 20, 12, 0, tzinfo=UTC),
        "interval",
    )


def test_run_without_dag_run_uses_its_interval():
    ctx = {"data_interval_start": INTERVAL[0], "data_interval_end": INTERVAL[1]}
    assert window_of(ctx) == (datetime(2026, 11, 20, 11, 25, tzinfo=UTC), datetime(2026, 11, 20, 12, 0, tzinfo=UTC), "interval")


def test_dag_test_run_replays_its_interval():
    # dag.test() / `airflow dags test DAG DATE`: a manual run, triggered by the DAG-test user.
    assert window_of(context("manual", user=DAG_TEST_USER)) == (
        datetime(2026, 11, 20, 11, 25, tzinfo=UTC),
        datetime(2026, 11, 20, 12, 0, tzinfo=UTC),
        "interval",
    )


def test_manual_run_with_an_interval_by_another_user_catches_up():
    # The trigger form's logical date gives an interval, but a person asked for "sync now".
    assert window_of(context("manual", user="admin")) == (datetime(2026, 11, 20, 9, 25, tzinfo=UTC), NOW, "catch_up")


def test_manual_run_with_conf_window_interval_syncs_its_interval():
    assert window_of(context("manual", {"window": "interval"}, user="admin")) == (
        datetime(2026, 11, 20, 11, 25, tzinfo=UTC),
        datetime(2026, 11, 20, 12, 0, tzinfo=UTC),
        "interval",
    )


def test_conf_window_interval_without_an_interval_catches_up():
    assert window_of(context("manual", {"window": "interval"}, interval=None)) == (
        datetime(2026, 11, 20, 9, 25, tzinfo=UTC),
        NOW,
        "catch_up",
    )


@pytest.mark.parametrize("run_type,user", [("manual", DAG_TEST_USER), ("manual", "admin"), ("scheduled", "airflow"), ("backfill", "admin")])
def test_conf_window_catch_up_catches_up_whatever_the_run(run_type, user):
    assert window_of(context(run_type, {"window": "catch_up"}, user=user)) == (datetime(2026, 11, 20, 9, 25, tzinfo=UTC), NOW, "catch_up")


def test_run_types_as_airflow_spells_them():
    # The scheduler's DagRunType prints "manual"; the Task SDK's prints "DagRunType.MANUAL".
    from airflow.sdk.api.datamodels._generated import DagRunType as TaskSdkRunType
    from airflow.utils.types import DagRunType

    for kind in (DagRunType, TaskSdkRunType):
        for run_type in (kind("scheduled"), kind("backfill")):
            assert window_of(context(run_type, user="admin"))[2] == "interval", run_type
        assert window_of(context(kind("manual"), user="admin"))[2] == "catch_up"
        assert window_of(context(kind("manual"), user=DAG_TEST_USER))[2] == "interval"


# ----------------------------------------------------------------------------- catch-up


def test_manual_run_without_interval_catches_up_from_last_sync_minus_overlap_to_now():
    # UI "Trigger", `airflow dags trigger`, REST without logical date: no data interval at all.
    assert window_of(context("manual", user="admin", interval=None)) == (datetime(2026, 11, 20, 9, 25, tzinfo=UTC), NOW, "catch_up")


def test_interval_keys_present_but_none_catch_up():
    ctx = {**context("manual", interval=None), "data_interval_start": None, "data_interval_end": None}
    assert window_of(ctx) == (datetime(2026, 11, 20, 9, 25, tzinfo=UTC), NOW, "catch_up")


def test_zero_width_interval_catches_up():
    instant = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    for run_type in ("scheduled", "backfill"):
        assert window_of(context(run_type, interval=(instant, instant))) == (datetime(2026, 11, 20, 9, 25, tzinfo=UTC), NOW, "catch_up")


def test_first_sync_reaches_back_the_default_thirty_days():
    assert window_of(context("manual", interval=None), last_sync=None) == (datetime(2026, 10, 21, 12, 2, tzinfo=UTC), NOW, "catch_up")


def test_first_sync_reaches_back_initial_history_days_from_the_options():
    settings = source_settings("jira", {"overlap_minutes": 5, "options": {"initial_history_days": 2}})
    assert window_of(context("manual", interval=None), settings=settings, last_sync=None) == (
        datetime(2026, 11, 18, 12, 2, tzinfo=UTC),
        NOW,
        "catch_up",
    )
    half = source_settings("jira", {"overlap_minutes": 0, "options": {"initial_history_days": "0.5"}})  # JSON may give text
    assert window_of(context("manual", interval=None), settings=half, last_sync=None) == (
        datetime(2026, 11, 20, 0, 7, tzinfo=UTC),
        NOW,
        "catch_up",
    )


def test_initial_history_days_only_applies_to_the_first_sync():
    settings = source_settings("jira", {"overlap_minutes": 5, "options": {"initial_history_days": 2}})
    assert window_of(context("manual", interval=None), settings=settings) == (datetime(2026, 11, 20, 9, 25, tzinfo=UTC), NOW, "catch_up")


# ----------------------------------------------------------------------------- time zones


def test_windows_are_plain_aware_utc_datetimes():
    import pendulum

    # Airflow hands out pendulum DateTimes, here in another zone.
    berlin = pendulum.timezone("Europe/Berlin")
    interval = (pendulum.datetime(2026, 11, 20, 12, 30, tz=berlin), pendulum.datetime(2026, 11, 20, 13, 0, tz=berlin))
    start, end, mode = window_of(context("scheduled", interval=interval))
    assert (start, end, mode) == (datetime(2026, 11, 20, 11, 25, tzinfo=UTC), datetime(2026, 11, 20, 12, 0, tzinfo=UTC), "interval")
    assert type(start) is datetime and type(end) is datetime
    assert start.tzinfo is UTC and end.tzinfo is UTC


def test_naive_datetimes_are_taken_as_utc():
    naive = (datetime(2026, 11, 20, 11, 30), datetime(2026, 11, 20, 12, 0))
    assert window_of(context("scheduled", interval=naive)) == (
        datetime(2026, 11, 20, 11, 25, tzinfo=UTC),
        datetime(2026, 11, 20, 12, 0, tzinfo=UTC),
        "interval",
    )
    assert window_of(context("manual", interval=None), last_sync=datetime(2026, 11, 20, 9, 30)) == (
        datetime(2026, 11, 20, 9, 25, tzinfo=UTC),
        NOW,
        "catch_up",
    )
    assert window_of(context("manual", interval=None), now=datetime(2026, 11, 20, 12, 7)) == (
        datetime(2026, 11, 20, 9, 25, tzinfo=UTC),
        NOW,
        "catch_up",
    )


def test_conf_times_with_offsets_or_none_are_utc():
    conf = {"start": "2026-11-01T02:00:00+02:00", "end": "2026-11-01T06:00:00"}  # offset; naive taken as UTC
    assert window_of(context("manual", conf, interval=None)) == (
        datetime(2026, 11, 1, 0, 0, tzinfo=UTC),
        datetime(2026, 11, 1, 6, 0, tzinfo=UTC),
        "conf",
    )
    # Equal instants in different zones: zero width, not an error.
    same = {"start": "2026-11-01T02:00:00+02:00", "end": "2026-11-01T00:00:00Z"}
    assert window_of(context("manual", same, interval=None)) == (
        datetime(2026, 11, 1, tzinfo=UTC),
        datetime(2026, 11, 1, tzinfo=UTC),
        "conf",
    )


# ----------------------------------------------------------------------------- skipped intervals


def test_a_scheduled_run_after_skipped_intervals_reaches_back_to_the_last_contiguous_sync():
    """catchup=False: the scheduler stopped at 09:30 (or `make up` started long after `make
    demo`) creates only [11:30, 12:00); that run covers 09:30 on, or nothing ever would."""
    window, mode = resolve_window(context("scheduled"), JIRA, LAST_SYNC, NOW, resume_from=LAST_SYNC)
    assert (window.start, window.end, mode) == (datetime(2026, 11, 20, 9, 25, tzinfo=UTC), INTERVAL[1], "interval+skipped")


@pytest.mark.parametrize(
    ("run_type", "user", "resume_from"),
    [
        ("scheduled", "airflow", INTERVAL[0]),  # contiguous: nothing was skipped
        ("scheduled", "airflow", None),  # a failed run lies in between: its clear fills it
        ("backfill", "airflow", LAST_SYNC),  # a backfill is exactly its interval
        ("manual", DAG_TEST_USER, LAST_SYNC),  # so is a replay
    ],
)
def test_only_a_scheduled_run_with_nothing_failed_in_between_reaches_back(run_type, user, resume_from):
    window, mode = resolve_window(context(run_type, user=user), JIRA, LAST_SYNC, NOW, resume_from=resume_from)
    assert (window.start, window.end, mode) == (datetime(2026, 11, 20, 11, 25, tzinfo=UTC), INTERVAL[1], "interval")
