"""Is each sync DAG's schedule moving? And the repair for runs that block it.

A ``CronDataIntervalTimetable`` run covering ``[00:00, 00:30)`` has, when the scheduler makes
it, logical date 00:00 (the interval's *start*). A manual run given a logical date (Airflow's
``dag.test(logical_date=…)``, ``airflow dags test DAG DATE``, the trigger form's logical date)
covers the latest complete interval *ending* at that date: ``manual__00:30`` covers
``[00:00, 00:30)`` and holds logical date 00:30, the one the *next* scheduled run needs
(``dag_run`` is unique on ``(dag_id, logical_date)``). The scheduler then logs "run already
exists; skipping dagrun creation" and recomputes the next run from that manual run's interval,
which gives 00:30 again: no scheduled run until ``catchup=False`` skips past it, one or two
intervals later (hours for the hourly sources), and the skipped interval is never synced.

- :func:`assess` (pure): a schedule is **stuck** when no run is active and either the logical
  date the scheduler wants next is held by a run that does not start there (the scheduler can
  never create it; due and over a minute late), or the interval after the latest run was due
  more than one interval ago (no scheduled run at all: scheduler down, DAG broken).
- :func:`facts_from_metadata`: server context (``vector-sync status``, the page's
  ``/vector-sync/api/status``) reads Airflow's metadata DB.
- :func:`facts_from_task`: task context (``vector_sync_health``) asks the execution API
  through the Task SDK (``RuntimeTaskInstance.get_dag`` for ``next_dagrun``/``is_paused``,
  ``get_dr_count``, the previous-run lookup): Airflow 3 tasks have no metadata DB access.
- :func:`repair_replays` (server context): gives each such manual run the logical date of the
  interval it covers (its ``data_interval_start``), or none when that date is taken; run ids,
  task instances, logs and XComs stay. ``make up`` and ``make demo`` run it;
  ``python -m vector_sync.airflow.schedule --repair`` does it by hand.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

log = logging.getLogger(__name__)

OK, STUCK, PAUSED = "ok", "stuck", "paused"
REPAIR_COMMAND = "python -m vector_sync.airflow.schedule --repair"  # `make up` and `make demo` run it too


@dataclass(frozen=True)
class ScheduleFacts:
    """What Airflow says about one DAG's schedule."""

    dag_id: str
    paused: bool
    next_run: datetime | None  # DagModel.next_dagrun: the logical date the scheduler creates next
    active_runs: int  # queued or running
    holder: dict[str, Any] | None = None  # the run already holding next_run's logical date
    latest: dict[str, Any] | None = None  # the run with the latest logical date
    # A scheduler is heartbeating. Without one no run is created, which is no fault of the
    # schedule: "nothing created" counts as stuck only while one runs (a held date always does).
    scheduler_alive: bool = True


GRACE = timedelta(minutes=1)


def interval_after(cron: str, start: datetime) -> datetime:
    """The end of the cron interval starting at ``start`` (its scheduled run's run-after)."""
    from croniter import croniter

    return croniter(cron, start.astimezone(timezone.utc)).get_next(datetime)


def _utc(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.astimezone(timezone.utc)


def assess(facts: ScheduleFacts, cron: str, now: datetime) -> dict[str, Any]:
    """``{"dag_id", "state": ok|stuck|paused, "next_run", "due_at", "overdue_minutes",
    "active_runs", "cause", "fix"}``; see the module docstring for "stuck". A long run, or one
    waiting for ``max_active_runs``, is not stuck."""
    out: dict[str, Any] = {
        "dag_id": facts.dag_id,
        "state": OK,
        "next_run": None,
        "due_at": None,
        "overdue_minutes": None,
        "active_runs": facts.active_runs,
        "cause": None,
        "fix": None,
    }
    if facts.paused:
        out.update(state=PAUSED, cause=f"{facts.dag_id} is paused", fix="unpause it (UI toggle or `airflow dags unpause`)")
        return out
    next_run = _utc(facts.next_run)
    latest_end = _utc((facts.latest or {}).get("data_interval_end"))
    if latest_end is not None:  # the interval after the latest run's is the one due next
        due = interval_after(cron, latest_end)
        interval = due - latest_end
    elif next_run is not None:
        due = interval_after(cron, next_run)
        interval = due - next_run
    else:
        return out
    out.update(
        next_run=next_run.isoformat() if next_run else None,
        due_at=due.isoformat(),
        overdue_minutes=round(max(now - due, timedelta(0)).total_seconds() / 60, 1),
    )
    holder = facts.holder
    held = bool(holder) and next_run is not None and _utc(holder.get("data_interval_start")) != next_run
    trapped = held and now - interval_after(cron, next_run) > GRACE
    out["scheduler_alive"] = facts.scheduler_alive
    if facts.active_runs > 0 or not (trapped or (facts.scheduler_alive and now - due > interval)):
        if not facts.scheduler_alive and now - due > interval:
            out.update(cause="no scheduler is running: runs are created by a scheduler", fix="start one (make up)")
        return out
    out["state"] = STUCK
    if held:
        kind = str(holder.get("run_type") or "").lower() or "a"
        covers = ""
        if holder.get("data_interval_start") and holder.get("data_interval_end"):
            covers = f" (covering {_iso(holder['data_interval_start'])} .. {_iso(holder['data_interval_end'])})"
        out["cause"] = (
            f"{kind} run {holder.get('run_id')}{covers} holds logical date {next_run.isoformat()}, the one the next scheduled "
            f"run of {facts.dag_id} needs: the scheduler skips it ('run already exists; skipping dagrun creation')"
        )
        out["fix"] = f"run `{REPAIR_COMMAND}` (make up and make demo do), or delete that run"
    else:
        out["cause"] = f"no run of {facts.dag_id} was created for the interval due {due.isoformat()}"
        out["fix"] = "check that a scheduler is running (make up) and its log for this DAG"
    return out


def _iso(value: Any) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)


def _run_json(run: Any) -> dict[str, Any]:
    return {k: getattr(run, k, None) for k in ("run_id", "run_type", "logical_date", "data_interval_start", "data_interval_end", "state")}


# ----------------------------------------------------------------------------- readers


def facts_from_metadata(dag_ids: Iterable[str]) -> dict[str, ScheduleFacts]:
    """Server context: Airflow's metadata DB. DAGs it does not know are left out."""
    from airflow.models.dag import DagModel
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState
    from sqlalchemy import select

    out: dict[str, ScheduleFacts] = {}
    with create_session() as session:
        alive = _scheduler_alive(session)
        for model in session.scalars(select(DagModel).where(DagModel.dag_id.in_(list(dag_ids)))):
            active = len(
                session.scalars(
                    select(DagRun.id).where(DagRun.dag_id == model.dag_id, DagRun.state.in_([DagRunState.QUEUED, DagRunState.RUNNING]))
                ).all()
            )
            holder = None
            if model.next_dagrun is not None:
                run = session.scalar(select(DagRun).where(DagRun.dag_id == model.dag_id, DagRun.logical_date == model.next_dagrun))
                holder = _run_json(run) if run is not None else None
            latest = session.scalar(
                select(DagRun)
                .where(DagRun.dag_id == model.dag_id, DagRun.logical_date.is_not(None))
                .order_by(DagRun.logical_date.desc())
                .limit(1)
            )
            out[model.dag_id] = ScheduleFacts(
                model.dag_id, bool(model.is_paused), model.next_dagrun, active, holder, _run_json(latest) if latest else None, alive
            )
    return out


def _scheduler_alive(session: Any) -> bool:
    """Whether a scheduler job is running and heartbeating (Airflow's own ``Job.is_alive``)."""
    from airflow.jobs.job import Job, JobState
    from sqlalchemy import select

    jobs = session.scalars(select(Job).where(Job.job_type == "SchedulerJob", Job.state == JobState.RUNNING))
    return any(job.is_alive() for job in jobs)


def facts_from_task(dag_ids: Iterable[str], scheduler_alive: bool = True) -> dict[str, ScheduleFacts]:
    """Task context: the execution API through the Task SDK (no metadata DB in a task)."""
    from airflow.sdk.execution_time.comms import GetPreviousDagRun
    from airflow.sdk.execution_time.task_runner import SUPERVISOR_COMMS, RuntimeTaskInstance

    out: dict[str, ScheduleFacts] = {}
    for dag_id in dag_ids:
        try:
            dag = RuntimeTaskInstance.get_dag(dag_id)
        except Exception as exc:  # not parsed yet, or removed
            log.info("no schedule facts for %s: %s", dag_id, exc)
            continue
        active = RuntimeTaskInstance.get_dr_count(dag_id, states=["queued", "running"])

        def before(date: datetime, dag_id: str = dag_id) -> dict[str, Any] | None:
            found = SUPERVISOR_COMMS.send(GetPreviousDagRun(dag_id=dag_id, logical_date=date))
            run = getattr(found, "dag_run", None)
            return _run_json(run) if run is not None else None

        holder = None
        if dag.next_dagrun is not None:  # the latest run before a microsecond later: the one at next_dagrun, if any
            found = before(dag.next_dagrun + timedelta(microseconds=1))
            holder = found if found and _utc(found["logical_date"]) == _utc(dag.next_dagrun) else None
        latest = before(datetime.now(timezone.utc) + timedelta(days=3650))
        out[dag_id] = ScheduleFacts(dag_id, bool(dag.is_paused), dag.next_dagrun, active, holder, latest, scheduler_alive)
    return out


def sync_dag_id(source: str) -> str:
    return f"vector_sync_{source}"


def assess_sources(sources: Iterable[str], facts: dict[str, ScheduleFacts], now: datetime) -> dict[str, dict[str, Any]]:
    """Per source, :func:`assess` of its sync DAG (sources whose DAG Airflow does not know: none)."""
    from vector_sync.airflow.settings import parse_time_settings

    out = {}
    for source in sources:
        known = facts.get(sync_dag_id(source))
        if known is not None:
            out[source] = assess(known, parse_time_settings(source).schedule, now)
    return out


def metadata_schedules(sources: Iterable[str], now: datetime) -> dict[str, dict[str, Any]]:
    """:func:`assess_sources` from the metadata DB; empty when it cannot be read (no Airflow DB)."""
    sources = list(sources)
    try:
        return assess_sources(sources, facts_from_metadata(sync_dag_id(s) for s in sources), now)
    except Exception as exc:
        log.debug("schedule facts unavailable: %s", exc)
        return {}


# ----------------------------------------------------------------------------- repair


def repair_replays(dag_prefix: str = "vector_sync_", dry_run: bool = False) -> list[dict[str, Any]]:
    """Manual runs whose logical date is not their interval's start (Airflow's manual-run
    semantics: the interval *ending* at the logical date) get the logical date of the interval
    they cover, which is what the scheduler would have given that interval; when another run
    already holds it, no logical date at all (a manual run without one, as "Trigger" makes).
    Oldest first, so consecutive replays move one after the other. Returns what changed."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from airflow.utils.types import DagRunType
    from sqlalchemy import select

    changes: list[dict[str, Any]] = []
    with create_session() as session:
        runs = session.scalars(
            select(DagRun)
            .where(
                DagRun.dag_id.startswith(dag_prefix),
                DagRun.run_type == DagRunType.MANUAL,
                DagRun.logical_date.is_not(None),
                DagRun.data_interval_start.is_not(None),
                DagRun.logical_date != DagRun.data_interval_start,
            )
            .order_by(DagRun.dag_id, DagRun.logical_date)
        ).all()
        for run in runs:
            target = run.data_interval_start
            taken = session.scalar(select(DagRun.id).where(DagRun.dag_id == run.dag_id, DagRun.logical_date == target, DagRun.id != run.id))
            new = None if taken else target
            changes.append(
                {
                    "dag_id": run.dag_id,
                    "run_id": run.run_id,
                    "logical_date": run.logical_date.isoformat(),
                    "new_logical_date": new.isoformat() if new else None,
                }
            )
            if not dry_run:
                run.logical_date = new
                session.flush()  # the next run of the same DAG may move onto the date this one left
        if dry_run:
            session.rollback()
    for change in changes:
        log.info(
            "%s: manual run %s moved off logical date %s (now %s)",
            change["dag_id"],
            change["run_id"],
            change["logical_date"],
            change["new_logical_date"] or "none",
        )
    return changes


def repair_summary(changes: list[dict[str, Any]]) -> str:
    """One line for `make up` / `make demo`."""
    dags = sorted({c["dag_id"] for c in changes})
    return (
        f"freed the schedule of {', '.join(dags)}: {len(changes)} earlier manual run(s) held logical dates that scheduled "
        "runs need; each now has its own interval's start (README 'Windows')"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m vector_sync.airflow.schedule", description="Each sync DAG's schedule; --repair frees logical dates that block it."
    )
    parser.add_argument("--repair", action="store_true", help="move manual runs off the logical dates scheduled runs need")
    parser.add_argument("--dry-run", action="store_true", help="with --repair: print what would change")
    args = parser.parse_args(argv)
    from vector_sync.runtime import airflow_home
    from vector_sync.sources import registered_sources

    airflow_home()  # this checkout's .airflow when AIRFLOW_HOME is not set
    if args.repair:
        changes = repair_replays(dry_run=args.dry_run)
        print(json.dumps(changes, indent=2))
        print(f"{len(changes)} run(s) {'would move' if args.dry_run else 'moved'}", file=sys.stderr)
    print(json.dumps(metadata_schedules(registered_sources(), datetime.now(timezone.utc)), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
