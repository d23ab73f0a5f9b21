"""``vector_sync_health``: every 15 minutes, each registered source's freshness and schedule
against the incident book (``vector_sync.health``); one alert per incident, one on recovery."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from vector_sync.airflow.backends import Runtime
from vector_sync.airflow.callbacks import HEALTH_DAG_ID, deliver, on_health_failure
from vector_sync.airflow.dags import cron_dag
from vector_sync.airflow.windows import DAG_TEST_USER

log = logging.getLogger(__name__)

HEALTH_SCHEDULE = "*/15 * * * *"


def task_schedules(sources: list[str], now: datetime) -> dict[str, dict[str, Any]]:
    """Each sync DAG's schedule as a task sees it: the execution API through the Task SDK
    (``next_dagrun``, paused, run counts; a task has no metadata DB). Empty when it cannot
    ask (outside a task): freshness is checked all the same."""
    from airflow.sdk import get_current_context

    from vector_sync.airflow.schedule import assess_sources, facts_from_task, sync_dag_id

    try:
        # A scheduler ran this check, except under dag.test (in-process, none needed): there,
        # "no run created" says nothing about the sync DAGs' schedules.
        dag_run = get_current_context().get("dag_run")
        scheduled_here = getattr(dag_run, "triggering_user_name", None) != DAG_TEST_USER
        return assess_sources(sources, facts_from_task([sync_dag_id(s) for s in sources], scheduler_alive=scheduled_here), now)
    except Exception as exc:
        log.warning("could not read the sync DAGs' schedules through the execution API: %s", exc)
        return {}


def run_health_check(now: datetime | None = None, schedules: Mapping[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """Every registered source's status (with its DAG's schedule: stuck?) against the incident
    book; alerts once per incident."""
    from vector_sync import alerts
    from vector_sync.health import HealthBook, HealthEvent, run_check
    from vector_sync.runtime import embedder_fingerprint
    from vector_sync.sources import registered_sources
    from vector_sync.status import source_status

    runtime = Runtime()
    state, store = runtime.state, runtime.store()
    book = HealthBook(state.engine)
    book.migrate()
    now = now or datetime.now(timezone.utc)
    names = list(registered_sources())
    schedules = task_schedules(names, now) if schedules is None else schedules
    fingerprint = embedder_fingerprint(runtime.config)
    statuses = [source_status(name, state, store, now, schedules.get(name), fingerprint) for name in names]

    def notify(event: HealthEvent) -> bool:
        alert = alerts.health_alert(
            source=event.source, health=event.health, opened=event.kind == "opened", detail=event.status.to_json(), since=event.since
        )
        return bool(deliver(alert))

    summary = run_check(statuses, book, notify, now)
    log.info("health: %s", summary)
    return summary


def build_health_dag() -> Any:
    """``vector_sync_health``: every 15 minutes, each registered source's freshness."""
    from airflow.sdk import task

    # A check at a point in time, not over an interval.
    with cron_dag(
        HEALTH_DAG_ID,
        HEALTH_SCHEDULE,
        description="Freshness of every source: one alert per stale/failed incident, one on recovery",
        on_failure=[on_health_failure],
        retry_delay=timedelta(seconds=30),
        max_retry_delay=timedelta(minutes=5),
        tags=["vector-sync", "health"],
        doc_md=run_health_check.__doc__,
    ) as dag:

        @task(task_id="check_freshness")
        def check_freshness() -> dict[str, Any]:
            return run_health_check()

        check_freshness()
    return dag
