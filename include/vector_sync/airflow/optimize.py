"""``vector_sync_optimize``: the index maintenance of the embedded store, every hour.

Two tasks, each its own process so each peaks alone (in one process the two took 597 MB at
100,000 chunks; apart, with Airflow's imports, 443-518 and 312-606: bench/search_latency.py and
the README): ``index_vectors`` builds the vector index once the
table is large enough and retrains it after a large backfill; ``compact`` merges the small
fragments every upsert leaves, folds new rows into every index and drops versions older than a
day. Sync tasks never do either, so their memory and duration stay those of their data. On
Pinecone both report that the service maintains its index.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from vector_sync.airflow.callbacks import OPTIMIZE_DAG_ID, on_optimize_failure
from vector_sync.airflow.dags import cron_dag

# Hourly, at a minute the sync schedules leave quiet (they start at :00, :15, :30, :45): a
# backfill's rows are indexed within the hour, and an hour's fragments are few.
OPTIMIZE_SCHEDULE = "50 * * * *"


def index_vectors(retrain: bool = False, runtime: Any = None) -> dict[str, Any]:
    """The store's ``index_vectors``: build, retrain or leave its vector index."""
    from vector_sync.airflow.backends import Runtime

    return (runtime or Runtime()).store().index_vectors(retrain=retrain)


def compact(runtime: Any = None) -> dict[str, Any]:
    """The store's ``compact``: merge fragments, fold new rows into the indexes, drop old versions."""
    from vector_sync.airflow.backends import Runtime

    return (runtime or Runtime()).store().compact()


def build_optimize_dag() -> Any:
    """``vector_sync_optimize``: index_vectors -> compact, hourly, one run at a time."""
    from airflow.sdk import Param, task

    with cron_dag(
        OPTIMIZE_DAG_ID,
        OPTIMIZE_SCHEDULE,
        description="Vector index and compaction of the embedded store (LanceDB); a no-op on Pinecone",
        on_failure=[on_optimize_failure],
        retry_delay=timedelta(minutes=1),
        max_retry_delay=timedelta(minutes=10),
        params={"retrain": Param(False, type="boolean", description="Retrain the vector index on the current rows.")},
        tags=["vector-sync", "maintenance"],
        doc_md=__doc__,
    ) as dag:

        @task(task_id="index_vectors")
        def index_vectors_task(**context: Any) -> dict[str, Any]:
            return index_vectors(retrain=bool((context.get("params") or {}).get("retrain")))

        @task(task_id="compact")
        def compact_task() -> dict[str, Any]:
            return compact()

        index_vectors_task() >> compact_task()
    return dag
