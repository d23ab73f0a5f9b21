"""`make demo`: the whole product on one machine, no credentials.

Starts the sandbox, loads airflow_settings.yaml, then runs every registered source's DAG the
way Airflow would: one replay of the sample's history, then several consecutive scheduled
intervals up to the latest complete one. Prints each source's status and sample searches.
Running it again changes nothing in the index: same vectors, no new embeddings.

Each interval's run holds the logical date the scheduler gives that interval (its start;
``SourceDAG.test`` in vector_sync.airflow.dags), so `make up` afterwards schedules the next
interval as usual. Runs that an older demo left on the schedule's logical dates are moved off
them first (vector_sync.airflow.schedule.repair_replays). While `make up` runs (its scheduler
heartbeats), ``dag.test`` would race that scheduler for the same task instances: the demo
then triggers runs with a conf window and no logical date, which the scheduler runs, and
uses `make up`'s sandbox when it holds the port.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any

SAMPLE_QUERIES = (
    ("proration on mid-cycle plan upgrades", ()),
    ("invoice PDF export times out", ("BC",)),
    ("dunning schedule for failed card payments", ()),
)


def last_intervals(timetable, now: datetime, count: int) -> list[tuple[datetime, datetime]]:
    """The ``count`` latest complete data intervals before ``now``, oldest first."""
    import pendulum

    intervals = []
    run_after = pendulum.instance(now)
    for _ in range(count):
        interval = timetable.infer_manual_data_interval(run_after=run_after)
        intervals.append((interval.start, interval.end))
        run_after = interval.start
    return intervals[::-1]


def scheduler_running() -> bool:
    """A scheduler (`make up`) heartbeats on this metadata DB."""
    from airflow.jobs.job import most_recent_job

    job = most_recent_job("SchedulerJob")
    return bool(job and job.is_alive())


def sandbox_answers(url: str) -> bool:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}/jira/rest/api/3/serverInfo", timeout=3):
            return True
    except urllib.error.HTTPError:  # 401 without credentials: it is there
        return True
    except OSError:
        return False


def trigger_windows(dag_id: str, windows: list[tuple[datetime, datetime]], stamp: str) -> list[str]:
    """`make up` is running: ``dag.test`` would race its scheduler for the same task instances
    ("already running"). Trigger runs with a conf window and no logical date instead (they
    cannot take a scheduled run's date); the scheduler runs them one after the other."""
    from airflow.api.common.trigger_dag import trigger_dag
    from airflow.utils.types import DagRunTriggeredByType

    run_ids = []
    for n, (start, end) in enumerate(windows):
        run_id = f"manual__demo_{stamp}_{n}"
        trigger_dag(
            dag_id,
            triggered_by=DagRunTriggeredByType.CLI,
            triggering_user_name="make demo",
            run_id=run_id,
            conf={"start": start.isoformat(), "end": end.isoformat()},
        )
        run_ids.append(run_id)
    return run_ids


def wait_for_runs(runs: dict[str, list[str]], timeout_s: float = 900) -> dict[str, list[Any]]:
    """``{dag_id: [run_id]}`` -> ``{dag_id: [run with run_id, state]}`` once all finished (or the timeout)."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import select

    deadline = time.monotonic() + timeout_s
    while True:
        with create_session() as session:
            states = {
                (d, r): str(state)
                for d, r, state in session.execute(select(DagRun.dag_id, DagRun.run_id, DagRun.state).where(DagRun.dag_id.in_(list(runs))))
            }
        out = {d: [SimpleNamespace(run_id=r, state=states.get((d, r), "missing")) for r in ids] for d, ids in runs.items()}
        if time.monotonic() > deadline or all(run.state in ("success", "failed", "missing") for rs in out.values() for run in rs):
            return out
        if not scheduler_running():  # `make up` stopped meanwhile: nothing will run them
            print(
                "the scheduler of `make up` stopped while the demo waited for its runs: start `make up` again, "
                "or let it stop and run `make demo` alone",
                file=sys.stderr,
            )
            return out
        time.sleep(3)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--intervals", type=int, default=4, help="scheduled intervals to run per source")
    args = parser.parse_args(argv)
    logging.getLogger("airflow").setLevel(logging.WARNING)

    from airflow.dag_processing.dagbag import DagBag
    from airflow.serialization.encoders import coerce_to_core_timetable

    from sandbox import build_sandbox
    from sandbox.workspace import Workspace, load_or_create_anchor
    from vector_sync import cli
    from vector_sync.airflow.backends import Runtime
    from vector_sync.airflow.bootstrap import apply_settings, projects_from, read_settings
    from vector_sync.airflow.settings import parse_time_settings
    from vector_sync.runtime import data_dir
    from vector_sync.sources import registered_sources

    workspace = Workspace(anchor=load_or_create_anchor(data_dir() / "sandbox_anchor.txt"))
    live = scheduler_running()  # `make up` runs: replay through its scheduler, with its sandbox
    try:
        box = build_sandbox(workspace, port=args.port).start()
        url = box.url
    except OSError as exc:
        url = f"http://127.0.0.1:{args.port}"
        if not (live and sandbox_answers(url)):
            print(
                f"cannot start the sandbox on port {args.port}: {exc}. Stop what uses it or run: make demo SANDBOX_PORT=<free port>",
                file=sys.stderr,
            )
            return 1
        box = None  # `make up`'s sandbox: same anchor file, same sample
    if args.port != 8765:  # the settings file points at 8765; follow the chosen port
        os.environ["VECTOR_SYNC_SANDBOX_URL"] = url
    print(f"sandbox: {url} (sample anchored at {workspace.anchor.isoformat()}{'; the one make up serves' if box is None else ''})")

    settings = read_settings()
    apply_settings(settings)
    runtime = Runtime()
    runtime.state.projects.upsert(projects_from(settings))

    from sandbox.standalone import repair_schedules

    repair_schedules()
    dags = DagBag(dag_folder=os.environ.get("AIRFLOW__CORE__DAGS_FOLDER", "dags")).dags
    now = datetime.now(timezone.utc)
    if live:
        print("a scheduler is running (make up): the replays run through it, as triggered runs with a window and no logical date")
    stamp = now.strftime("%Y%m%dT%H%M%S")
    plans, results = {}, {}
    for name in registered_sources():
        dag = dags[f"vector_sync_{name}"]
        intervals = last_intervals(coerce_to_core_timetable(dag.timetable), now, args.intervals)
        history = (workspace.start - timedelta(hours=1), intervals[0][0])
        plans[name] = (dag, intervals, history)
        if live:
            overlap = parse_time_settings(name).overlap  # what an interval run re-scans
            results[dag.dag_id] = trigger_windows(dag.dag_id, [history] + [(start - overlap, end) for start, end in intervals], stamp)
    if live:
        results = wait_for_runs(results)
    failed = []
    for name, (dag, intervals, history) in plans.items():
        print(
            f"\n{dag.dag_id}: history {history[0]:%Y-%m-%d %H:%M} .. {history[1]:%Y-%m-%d %H:%M}, then {len(intervals)} intervals up to {intervals[-1][1]:%H:%M} UTC"
        )
        if live:
            runs = results[dag.dag_id]
        else:
            # Each run holds its interval's start as logical date (the scheduled run's date for
            # that interval, so the scheduler moves on past it); a second demo within the same
            # interval re-runs the same runs (like "Clear"). The history replay's window is its conf.
            replay = {"start": history[0].isoformat(), "end": history[1].isoformat()}
            runs = [dag.test(logical_date=history[0], run_after=history[0], run_conf=replay)]
            runs += [dag.test(logical_date=end, run_after=end) for _, end in intervals]
        states = [str(run.state) for run in runs]
        ours = [r for r in runtime.state.runs.recent(name, limit=50) if r.run_id in {run.run_id for run in runs}]
        print(
            f"  runs: {', '.join(states)}; fetched {sum(r.fetched for r in ours)}, "
            f"embedded {sum(r.embedded for r in ours)}, unchanged {sum(r.skipped_unchanged for r in ours)}, "
            f"upserted {sum(r.upserted for r in ours)}"
        )
        if any(state != "success" for state in states):
            failed.append(name)

    print()
    cli.main(["status"])
    for query, projects in SAMPLE_QUERIES:
        extra = [x for p in projects for x in ("--project", p)]
        print(f'\n$ vector-sync search "{query}" {" ".join(extra)} --top-k 3'.replace("  ", " "))
        cli.main(["search", query, *extra, "--top-k", "3"])
    if box is not None:
        box.stop()
    if failed:
        print(f"\nruns failed for: {', '.join(failed)} (see the task logs under {os.environ.get('AIRFLOW_HOME')}/logs)", file=sys.stderr)
        return 1
    print("\nDone. `make up` starts the Airflow UI on http://127.0.0.1:8080 with these DAGs.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
