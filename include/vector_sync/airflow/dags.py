"""The sync DAGs: ``vector_sync_<source>``, one per registered source.

``build_source_dag`` wires the task bodies (``vector_sync.airflow.tasks``) into
plan >> fetch (mapped) >> filter_active_projects >> embed (mapped) >> upsert (mapped) >> record,
with retries tuned per task, the failure callback and a Deadline Alert. DAG files only call
it; nothing here touches the network or the database at import or parse time.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import Any

from vector_sync.airflow.callbacks import deadline_missed, on_task_failure
from vector_sync.airflow.settings import check_configuration, parse_time_settings
from vector_sync.airflow.tasks import fail_fast, materialize, run_embed, run_fetch, run_filter, run_plan, run_record, run_upsert
from vector_sync.airflow.windows import ReplayRefused, replay_interval
from vector_sync.alerts import minutes

log = logging.getLogger(__name__)

DAG_START = datetime(2024, 1, 1, tzinfo=timezone.utc)
RETRY_DEFAULTS: dict[str, Any] = {
    "retries": 3,
    "retry_delay": timedelta(seconds=30),
    # Try n waits between d and 2d, d = 30 s * 2**(n-1): Airflow adds a jitter derived from
    # the task instance, so runs that failed together do not retry together. Capped below.
    "retry_exponential_backoff": 2.0,
    "max_retry_delay": timedelta(minutes=10),
}
# Per task, on top of RETRY_DEFAULTS. The API clients already retry each request (429 with
# Retry-After, 5xx, resets); a task retry covers an outage longer than that, so the steps
# that call remote APIs get more tries, the local steps fewer and sooner.
TASK_RETRIES: dict[str, dict[str, Any]] = {
    "plan": {"retries": 5},  # lists the fetch parts through the source API
    "fetch": {"retries": 5},  # the source API: the flakiest dependency
    "filter_active_projects": {"retries": 1, "retry_delay": timedelta(seconds=10)},  # state DB only
    "embed": {"retries": 4},  # embeddings API
    "upsert": {"retries": 4},  # vector store
    "record": {"retries": 2, "retry_delay": timedelta(seconds=10)},  # state DB only
}


# Shown as each sync DAG's documentation in the UI.
SOURCE_DAG_DOC = """The pipeline of one source inside Airflow.

It builds clients from connections through hooks, decides each run's window from the data
interval, calls the plain pipeline steps, and turns ``FatalError`` into
``AirflowFailException`` so a bad credential or setting fails at once instead of retrying.
"""


def cron_dag(
    dag_id: str,
    cron: str,
    *,
    description: str,
    on_failure: Any,
    retry_delay: timedelta,
    tags: list[str],
    doc_md: str | None,
    params: dict[str, Any] | None = None,
    max_retry_delay: timedelta | None = None,
) -> Any:
    """A DAG of point-in-time runs on ``cron`` (UTC) for work that covers no data interval (the
    health check, index maintenance, prune, permission passes): no catch-up, one run at a time,
    two retries with exponential backoff, ``on_failure`` after the last."""
    from airflow.sdk import DAG, CronTriggerTimetable

    default_args: dict[str, Any] = {
        "retries": 2,
        "retry_delay": retry_delay,
        "retry_exponential_backoff": 2.0,
        "on_failure_callback": on_failure,
    }
    if max_retry_delay is not None:
        default_args["max_retry_delay"] = max_retry_delay
    return DAG(
        dag_id=dag_id,
        description=description,
        schedule=CronTriggerTimetable(cron, timezone="UTC"),
        start_date=DAG_START,
        catchup=False,
        max_active_runs=1,
        default_args=default_args,
        tags=tags,
        params=dict(params or {}),
        doc_md=doc_md,
    )


@contextmanager
def _runs_as_scheduled(start: datetime, end: datetime) -> Iterator[None]:
    """Inside ``dag.test``: the run it creates covers ``[start, end)`` with logical date
    ``start``, as the scheduler's own run of that interval would (``dag.test`` asks the
    timetable for the interval *ending* at the logical date it is given). A run with the same
    run id but another logical date (an earlier replay since moved by
    ``vector_sync.airflow.schedule.repair_replays``) is replaced, as ``dag.test`` replaces the run at
    its logical date."""
    from unittest import mock

    import airflow.models.dagrun as dagrun_module
    from airflow.timetables.base import DataInterval
    from sqlalchemy import delete

    original = dagrun_module.get_or_create_dagrun

    def get_or_create_dagrun(**kwargs: Any) -> Any:
        session = kwargs["session"]
        session.execute(
            delete(dagrun_module.DagRun)
            .where(
                dagrun_module.DagRun.dag_id == kwargs["dag"].dag_id,
                dagrun_module.DagRun.run_id == kwargs["run_id"],
                dagrun_module.DagRun.logical_date.is_distinct_from(start),
            )
            .execution_options(synchronize_session=False)
        )
        session.commit()
        return original(**{**kwargs, "logical_date": start, "data_interval": DataInterval(start=start, end=end)})

    with mock.patch.object(dagrun_module, "get_or_create_dagrun", get_or_create_dagrun):
        yield


@functools.cache
def _source_dag_class() -> type:
    """``DAG`` whose ``test()`` (so ``airflow dags test``) never blocks the schedule, and works
    with a Deadline Alert.

    - Airflow gives a run made with a logical date the interval *ending* at that date, so
      ``manual__00:30`` covers ``[00:00, 00:30)`` and holds 00:30, the logical date of the next
      scheduled run, which the scheduler then skips forever ("run already exists"). Here the run
      replays the same interval but holds its *start*, the logical date the scheduler gives that
      interval: when the scheduler reaches it, it sees the interval done and moves on. A date in
      the future is refused (:func:`replay_interval`), and so is ``logical_date=None``: Airflow
      3.3.2's ``dag.test`` then clears the task instances of every run of the DAG and replaces
      an arbitrary run without logical date. Trigger (UI, REST, ``airflow dags trigger``) makes
      runs without logical date.
    - Airflow 3.3.2's ``dag.test()`` fails as soon as a run of a DAG with a Deadline Alert
      succeeds: ``DagRun.update_state`` looks the alerts up by id, but ``dag.test``'s
      re-serialized copy holds their definitions ("'dict' object has no attribute 'hex'").
      ``dag.test`` never evaluates deadlines anyway (no scheduler loop), so the test run leaves
      the alert out; scheduled, backfill and triggered runs keep it.
    """
    from airflow.sdk import DAG
    from airflow.sdk.definitions._internal.types import NOTSET, is_arg_set

    class SourceDAG(DAG):
        def test(self, run_after: datetime | None = None, logical_date: Any = NOTSET, *args: Any, **kwargs: Any) -> Any:
            if logical_date is None:
                raise ReplayRefused(
                    f"{self.dag_id}: dag.test(logical_date=None) would clear every run's task instances (Airflow 3.3.2); "
                    'give a date, or trigger the DAG (UI, `airflow dags trigger`, conf {"start", "end"} for a window)'
                )
            now = datetime.now(timezone.utc)
            start, end = replay_interval(self.timetable, logical_date if is_arg_set(logical_date) else now, now)
            log.info("%s: replaying %s .. %s as logical date %s (that interval's scheduled date)", self.dag_id, start, end, start)
            deadline, self.deadline = self.deadline, None
            try:
                with _runs_as_scheduled(start, end):
                    return super().test(run_after, start, *args, **kwargs)
            finally:
                self.deadline = deadline

    SourceDAG.__module__ = __name__
    SourceDAG.__qualname__ = "SourceDAG"
    return SourceDAG


def build_source_dag(name: str) -> Any:
    """``vector_sync_<name>``: plan >> fetch (mapped) >> filter_active_projects >> embed (mapped)
    >> upsert (mapped) >> record.

    Every task retries with exponential backoff and jitter (``RETRY_DEFAULTS``, tuned per
    task in ``TASK_RETRIES``); a bad setting, a missing connection or rejected credentials
    fail at once instead. A task that fails for good alerts (``on_task_failure``); a run
    still unfinished ``deadline`` after it was queued alerts through a Deadline Alert.
    """
    from airflow.sdk import AsyncCallback, CronDataIntervalTimetable, DeadlineAlert, DeadlineReference, Param, task

    DAG = _source_dag_class()

    settings = parse_time_settings(name)
    default_args = {**RETRY_DEFAULTS, "on_failure_callback": [on_task_failure]}
    late = DeadlineAlert(
        reference=DeadlineReference.DAGRUN_QUEUED_AT,
        interval=settings.deadline,
        # Runs in the triggerer; kwargs are not templated, the callback builds its text.
        callback=AsyncCallback(deadline_missed, kwargs={"source": name, "deadline_minutes": minutes(settings.deadline)}),
        name=f"vector_sync_{name}_late",
    )
    with DAG(
        dag_id=f"vector_sync_{name}",
        description=f"Incremental sync of {name} into the vector index",
        schedule=CronDataIntervalTimetable(settings.schedule, timezone="UTC"),
        start_date=DAG_START,
        catchup=False,
        max_active_runs=1,
        default_args=default_args,
        deadline=late,
        tags=["vector-sync", name],
        params={
            "start": Param(None, type=["null", "string"], description="Replay: window start (ISO 8601). Empty: see README 'Windows'."),
            "end": Param(None, type=["null", "string"], description="Replay: window end (ISO 8601, exclusive)."),
        },
        doc_md=SOURCE_DAG_DOC,
    ) as dag:

        def checked() -> None:
            with fail_fast():
                check_configuration(name)

        @task(task_id="plan", pool=settings.pool, **TASK_RETRIES["plan"])
        def plan(**context: Any) -> list[dict[str, Any]]:
            checked()
            return run_plan(name, context)

        @task(task_id="fetch", pool=settings.pool, map_index_template="{{ task.op_kwargs['part']['label'] }}", **TASK_RETRIES["fetch"])
        def fetch(part: dict[str, Any]) -> dict[str, Any]:
            checked()
            return run_fetch(name, part)

        @task(task_id="filter_active_projects", **TASK_RETRIES["filter_active_projects"])
        def filter_active_projects(fetched: list[dict[str, Any]]) -> list[dict[str, Any]]:
            checked()
            return run_filter(name, materialize(fetched))

        @task(task_id="embed", pool="openai_api", **TASK_RETRIES["embed"])
        def embed(batch: dict[str, Any]) -> dict[str, Any]:
            checked()
            return run_embed(name, batch)

        @task(task_id="upsert", pool="pinecone_api", **TASK_RETRIES["upsert"])
        def upsert(batch: dict[str, Any]) -> dict[str, Any]:
            checked()
            return run_upsert(name, batch)

        @task(task_id="record", **TASK_RETRIES["record"])
        def record(fetched: list[dict[str, Any]], upserted: list[dict[str, Any]]) -> dict[str, Any]:
            checked()
            return run_record(name, materialize(fetched), materialize(upserted))

        # Fetch parts and embed/upsert batches are mapped tasks: several workers share one
        # window, and a failed batch retries alone (its upsert never re-fetches or re-embeds).
        fetched = fetch.expand(part=plan())
        upserted = upsert.expand(batch=embed.expand(batch=filter_active_projects(fetched)))
        record(fetched, upserted)
    return dag
