"""What the per-source maintenance DAGs share (``vector_sync_prune_<source>``,
``vector_sync_permissions_<source>``): one task on a cron schedule read from the source's
options, no catch-up, one run at a time, retries with backoff and the failure alert."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Callable, Mapping

# dag_id prefixes of maintenance DAGs: their runs sync no window (see on_task_failure).
MAINTENANCE_KINDS = ("prune", "permissions")


def maintenance_dag(
    name: str,
    kind: str,
    run: Callable[[Mapping[str, Any]], dict[str, Any]],
    *,
    description: str,
    params: Mapping[str, Any],
    doc_md: str | None,
    retry_delay: timedelta = timedelta(minutes=5),
) -> Any:
    """The DAG ``vector_sync_<kind>_<name>`` with one task ``<kind>`` that calls ``run(params)``
    inside ``fail_fast`` (configuration errors fail at once). The schedule is the source's
    option ``<kind>_schedule`` (cron, UTC)."""
    from airflow.sdk import DAG, CronTriggerTimetable, task

    from vector_sync.airflow_adapter import DAG_START, fail_fast, on_task_failure, parse_time_settings

    assert kind in MAINTENANCE_KINDS, kind
    settings = parse_time_settings(name)
    with DAG(
        dag_id=f"vector_sync_{kind}_{name}",
        description=description,
        schedule=CronTriggerTimetable(settings.option(f"{kind}_schedule"), timezone="UTC"),
        start_date=DAG_START,
        catchup=False,
        max_active_runs=1,
        default_args={"retries": 2, "retry_delay": retry_delay, "retry_exponential_backoff": 2.0, "on_failure_callback": on_task_failure},
        tags=["vector-sync", kind, name],
        params=dict(params),
        doc_md=doc_md,
    ) as dag:

        @task(task_id=kind, pool=settings.pool)
        def maintain(**context: Any) -> dict[str, Any]:
            with fail_fast():
                return run(context.get("params") or {})

        maintain()
    return dag
