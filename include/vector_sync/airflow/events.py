"""The events DAGs: ``vector_sync_<source>_events``, scheduled on the source's webhook asset.

A verified webhook adds an asset event on ``vector_sync_<source>_events`` (the receiver,
``vector_sync.airflow.web.webhooks``); the scheduler then queues one run of this DAG. Asset
events that arrive before that run starts share it (Airflow keeps one queued run per DAG and
asset), and ``max_active_runs=1`` leaves those arriving during a run to one next run. Each run
drains *every* pending event of the source from the state DB, so a burst of a thousand Slack
events makes a handful of runs and one targeted fetch per run, not a thousand.

The interval DAG ``vector_sync_<source>`` stays the safety net: webhooks can be lost.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from typing import Any

from vector_sync.airflow.dags import DAG_START, RETRY_DEFAULTS
from vector_sync.airflow.tasks import fail_fast
from vector_sync.webhooks import VENDORS, events_asset_name

log = logging.getLogger(__name__)

# Handled events are kept this long (status counts them; their ids refuse replays, though the
# receivers refuse bodies older than an hour anyway), then dropped by the next run.
KEEP_DONE_EVENTS = timedelta(days=7)


def webhook_sources() -> list[str]:
    """Registered sources whose vendor sends webhooks (Tempo documents none)."""
    from vector_sync.sources import registered_sources

    return [name for name in registered_sources() if name in VENDORS]


def events_asset(name: str) -> Any:
    from airflow.sdk import Asset

    return Asset(name=events_asset_name(name), uri=f"vector-sync://webhooks/{name}")


def run_drain(name: str, run_id: str) -> dict[str, Any]:
    """Claim the source's pending events, sync the documents they name, delete the deleted."""
    from vector_sync.airflow.backends import Runtime
    from vector_sync.targeted import plan_changes, sync_documents

    with fail_fast():
        runtime = Runtime()
        repo = runtime.state.webhooks
        changes = repo.claim(name, run_id)
        if not changes:
            log.info("%s: no pending webhook events (an earlier run drained them)", name)
            return {"events": 0}
        upserts, deletions = plan_changes(changes)
        oldest = min(c.received_at for c in changes)
        log.info("%s: %d events -> %d documents to sync, %d to delete", name, len(changes), len(upserts), len(deletions))
        counts = sync_documents(runtime.source(name), upserts, deletions, runtime, run_id)
        done_at = datetime.now(timezone.utc)
        repo.done(name, run_id, done_at)
        repo.forget_done(KEEP_DONE_EVENTS, done_at)
    result = {
        "events": len(changes),
        "synced": len(upserts),
        "deleted": len(deletions),
        "oldest_event_age_s": round((done_at - oldest).total_seconds(), 3),
        **{k: counts.get(k, 0) for k in ("fetched", "embedded", "skipped_unchanged", "upserted", "removed_documents")},
    }
    log.info("%s: drained %s", name, result)
    return result


def build_events_dag(name: str) -> Any:
    """``vector_sync_<name>_events``: one ``drain`` task, run when the webhook asset changes."""
    from airflow.sdk import DAG, task

    from vector_sync.airflow.settings import parse_time_settings

    settings = parse_time_settings(name)
    with DAG(
        dag_id=f"vector_sync_{name}_events",
        description=f"Targeted sync of the {name} items named by webhooks",
        schedule=[events_asset(name)],
        start_date=DAG_START,
        catchup=False,
        max_active_runs=1,
        default_args={**RETRY_DEFAULTS, "retries": 3, "retry_delay": timedelta(seconds=10)},
        tags=["vector-sync", name, "webhooks"],
        doc_md=__doc__,
    ) as dag:

        @task(task_id="drain", pool=settings.pool)
        def drain(**context: Any) -> dict[str, Any]:
            return run_drain(name, context["run_id"])

        drain()
    return dag
