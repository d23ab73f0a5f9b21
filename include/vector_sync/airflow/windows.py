"""Which window a run syncs: from its data interval, its conf, or catching up.

Also the rules of replays through ``dag.test`` / ``airflow dags test`` (``replay_interval``)
and the window a failed run leaves behind (``failed_window``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from vector_sync.config import SourceSettings
from vector_sync.models import Window, parse_time
from vector_sync.protocol import FetchPart

log = logging.getLogger(__name__)

DAG_TEST_USER = "dag_test"  # the triggering user Airflow records for dag.test() runs


def resolve_window(
    context: Mapping[str, Any],
    settings: SourceSettings,
    last_sync: datetime | None,
    now: datetime,
    resume_from: datetime | None = None,
) -> tuple[Window, str]:
    """The run's window and how it was chosen.

    - conf ``{"start": ISO, "end": ISO}``: exactly that window (replays from the UI).
    - scheduled and backfill runs, and ``dag.test``/``airflow dags test`` with a logical
      date: ``[data_interval_start - overlap, data_interval_end)``.
    - a scheduled run whose interval starts after ``resume_from`` (the end of the contiguous
      synced windows, given when no failed run lies after it) reaches back to it:
      ``[resume_from - overlap, data_interval_end)``, mode "interval+skipped". With
      ``catchup=False`` the scheduler skips the intervals it missed (it was stopped, or
      ``make up`` started a while after ``make demo``); nothing else would ever sync them, and
      ``last_sync`` would stay at the gap. A failed run's gap is left to its clear, as its
      alert says.
    - any other manual run (UI "Trigger", CLI/API without logical date, which has no data
      interval at all in Airflow 3): catch up from the end of the last successful window
      (minus overlap) to now; a source never synced reaches back ``initial_history_days``.
    """
    dag_run = context.get("dag_run")
    conf = (getattr(dag_run, "conf", None) or {}) if dag_run is not None else {}
    if conf.get("start") and conf.get("end"):
        return Window(parse_time(conf["start"]), parse_time(conf["end"])), "conf"
    start, end = context.get("data_interval_start"), context.get("data_interval_end")
    run_type = str(getattr(dag_run, "run_type", "") or "").lower()
    # dag.test() and `airflow dags test DAG DATE` replay their logical date's interval.
    is_test = getattr(dag_run, "triggering_user_name", None) == DAG_TEST_USER
    has_interval = start is not None and end is not None and start < end
    interval_run = "manual" not in run_type or is_test or conf.get("window") == "interval"
    if has_interval and interval_run and conf.get("window") != "catch_up":
        if "scheduled" in run_type and resume_from is not None and resume_from < start:
            return Window(resume_from, end).widened(settings.overlap), "interval+skipped"
        return Window(start, end).widened(settings.overlap), "interval"
    history = timedelta(days=float(settings.option("initial_history_days")))
    begin = last_sync if last_sync is not None else now - history
    return Window(begin, now).widened(settings.overlap), "catch_up"


def interval_window(context: Mapping[str, Any]) -> Window | None:
    """The run's data interval as a window, when it has a non-empty one."""
    start, end = context.get("data_interval_start"), context.get("data_interval_end")
    return Window(start, end) if start is not None and end is not None and start < end else None


class ReplayRefused(ValueError):
    """A ``dag.test``/``airflow dags test`` replay that would take a future scheduled run's
    logical date (or, without one, clear every run of the DAG)."""


def replay_interval(timetable: Any, date: datetime, now: datetime) -> tuple[datetime, datetime]:
    """The interval ``dag.test(logical_date=date)`` replays: the latest complete one ending at
    or before ``date`` (Airflow's manual-run rule, unchanged). Refused when it ends after
    ``now``: the scheduled run of that interval would find its logical date taken and skip it,
    leaving the rest of the interval unsynced."""
    from airflow.sdk import timezone as airflow_timezone
    from airflow.serialization.encoders import coerce_to_core_timetable

    interval = coerce_to_core_timetable(timetable).infer_manual_data_interval(run_after=airflow_timezone.coerce_datetime(date))
    start, end = interval.start, interval.end
    if end > now:
        raise ReplayRefused(
            f"refusing to replay {start.isoformat()} .. {end.isoformat()}: that interval is not over yet (now "
            f"{now.isoformat()}), and its scheduled run would find logical date {start.isoformat()} taken and never run. "
            "Replay a date up to now, trigger without a logical date (catches up to now), or trigger with conf "
            '{"start": ISO, "end": ISO} and no logical date'
        )
    return start, end


def failed_window(context: Mapping[str, Any], settings: SourceSettings, last_sync: datetime | None, now: datetime) -> Window:
    """The failed run's window: exactly what the plan chose when it got that far, else the
    window it would have chosen."""
    task_instance = context.get("ti") or context.get("task_instance")
    if getattr(task_instance, "task_id", "") != "plan":
        try:
            parts = task_instance.xcom_pull(task_ids="plan")
            if parts:
                return FetchPart.from_json(parts[0]).plan.window
        except Exception:
            log.debug("no plan result to read the window from", exc_info=True)
    return resolve_window(context, settings, last_sync, now)[0]
