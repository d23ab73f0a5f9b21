"""``vector_sync_prune_<source>``: the weekly deletion sweep, one DAG per registered source."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

PRUNE_SCHEDULE = "0 3 * * 0"  # Sundays 03:00 UTC; override with the Variable's "prune_schedule" option


def build_prune_dag(name: str) -> Any:
    """One task: list the ids still upstream, delete the rest; the 20% guard fails loudly."""
    from airflow.sdk import DAG, CronTriggerTimetable, Param, task

    from vector_sync.airflow_adapter import DAG_START, fail_fast, on_task_failure, parse_time_settings, prune_source

    settings = parse_time_settings(name)
    with DAG(
        dag_id=f"vector_sync_prune_{name}",
        description=f"Remove {name} documents deleted upstream from the index and ledger",
        schedule=CronTriggerTimetable(settings.option("prune_schedule", PRUNE_SCHEDULE), timezone="UTC"),
        start_date=DAG_START,
        catchup=False,
        max_active_runs=1,
        default_args={"retries": 2, "retry_delay": timedelta(minutes=5), "retry_exponential_backoff": 2.0, "on_failure_callback": on_task_failure},
        tags=["vector-sync", "prune", name],
        params={
            "force": Param(False, type="boolean", description="Delete even past the guard's share (default 20%)."),
            "dry_run": Param(False, type="boolean", description="Report what would be deleted, delete nothing."),
        },
        doc_md=__doc__,
    ) as dag:

        @task(task_id="prune", pool=settings.pool)
        def prune(**context: Any) -> dict[str, Any]:
            params = context.get("params") or {}
            with fail_fast():
                return prune_source(name, force=bool(params.get("force")), dry_run=bool(params.get("dry_run")))

        prune()
    return dag
