"""``vector_sync_rebuild_<source>``: the rebuild after a switch of store or embedder, inside Airflow.

Manual trigger only (``schedule=None``): plan >> copy_vectors >> rebuild_window (mapped) >> finish.
``plan`` picks the path (``vector_sync.rebuild``) and, for a re-embedding, records its windows
(``rebuild_windows``) and hands them to ``rebuild_window``, one mapped task per window, each a
forced sync window in the source's pool, retried with backoff like a sync's fetch. A window
already done is skipped, so clearing the run or triggering the DAG again resumes the rebuild.
``copy_vectors`` serves the copy path (no upstream or embedding calls). ``finish`` drops what
upstream no longer has (guarded like a prune), deletes chunks the ledger does not list and
verifies the coverage: a mismatch fails it, and the failure alert fires.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from vector_sync.airflow.callbacks import on_task_failure
from vector_sync.airflow.dags import DAG_START, RETRY_DEFAULTS
from vector_sync.airflow.settings import parse_time_settings
from vector_sync.airflow.tasks import fail_fast

log = logging.getLogger(__name__)

REBUILD_DOC = __doc__
# The longest a window's task may run before it is failed and retried: a week of a busy source.
WINDOW_TIMEOUT = timedelta(hours=6)


def _backends() -> tuple[Any, str, Any]:
    """The task's Runtime, the active embedder's fingerprint (no model loaded) and the opener of
    old stores."""
    from vector_sync.airflow.backends import Runtime
    from vector_sync.rebuild import store_opener
    from vector_sync.runtime import embedder_fingerprint

    runtime = Runtime()
    return runtime, embedder_fingerprint(runtime.config), store_opener(runtime.pinecone_client)


def plan_rebuild(name: str, params: Mapping[str, Any]) -> list[dict[str, str]]:
    """Pick the path; for a re-embedding, record its windows and return them (with its target),
    one mapped ``rebuild_window`` each; nothing to map for the other paths."""
    from vector_sync import rebuild

    runtime, fingerprint, opener = _backends()
    days = float(params.get("window_days") or rebuild.WINDOW_DAYS)
    planned = rebuild.plan(name, runtime.state, runtime.store(), fingerprint, opener, reembed=bool(params.get("reembed")), window_days=days)
    log.info("rebuild plan: %s", planned.describe())
    if planned.path != rebuild.REEMBED:
        return []
    target = rebuild.begin(planned, runtime.state)
    return [{**w.to_json(), "target": target} for w in planned.windows]


def copy_vectors(name: str, reembed: bool) -> dict[str, Any]:
    """The copy path, when it is the plan's (planned again here: the documents to move are not
    worth an XCom; a re-embedding's plan makes this a no-op)."""
    from vector_sync import rebuild

    runtime, fingerprint, opener = _backends()
    store = runtime.store()
    planned = rebuild.plan(name, runtime.state, store, fingerprint, opener, reembed=reembed)
    if planned.path != rebuild.COPY:
        return {"path": planned.path, "documents": 0}
    return rebuild.copy(planned, runtime.state, store, opener)


def run_rebuild_window(name: str, window: Mapping[str, str]) -> dict[str, Any]:
    """One window of a re-embedding (``{"start", "end", "target"}``): a forced sync window,
    unless already done."""
    from vector_sync.models import Window
    from vector_sync.rebuild import rebuild_window
    from vector_sync.run import rebuild_window_runner

    runtime, _, _ = _backends()
    span = Window(datetime.fromisoformat(window["start"]), datetime.fromisoformat(window["end"]))
    return dict(rebuild_window(name, window["target"], span, runtime.state, rebuild_window_runner(runtime.source(name), runtime)))


def finish_rebuild(name: str, force: bool) -> dict[str, Any]:
    """``rebuild.finish`` and the coverage check; a mismatch fails the task (no retry fixes it)."""
    from vector_sync.airflow.maintenance import CoverageMismatch
    from vector_sync.airflow.settings import settings_for
    from vector_sync.rebuild import finish_and_verify

    runtime, fingerprint, _ = _backends()
    max_share = float(settings_for(name).option("prune_max_share"))
    result = finish_and_verify(name, runtime.state, runtime.store(), fingerprint, max_share, force=force)
    if not result["ok"]:
        raise CoverageMismatch(f"rebuild of {name} ended with verify {result['verify']}: see `vector-sync verify {name} --json`")
    return result


def build_rebuild_dag(name: str) -> Any:
    """``vector_sync_rebuild_<name>``: plan >> copy_vectors >> rebuild_window (mapped) >> finish."""
    from airflow.sdk import DAG, Param, task

    settings = parse_time_settings(name)
    with DAG(
        dag_id=f"vector_sync_rebuild_{name}",
        description=f"Rebuild {name}'s history into the active store and embedder (copy, or re-embed in windows)",
        schedule=None,
        start_date=DAG_START,
        catchup=False,
        max_active_runs=1,
        default_args={**RETRY_DEFAULTS, "retries": 2, "on_failure_callback": on_task_failure},
        tags=["vector-sync", "rebuild", name],
        params={
            "reembed": Param(False, type="boolean", description="Re-embed from upstream even where the vectors could be copied."),
            "force": Param(False, type="boolean", description="Drop documents not found upstream again even past the prune guard's share."),
            "window_days": Param(7, type="number", exclusiveMinimum=0, description="Length of each re-embedding window, in days."),
        },
        doc_md=REBUILD_DOC,
    ) as dag:

        def param(context: Mapping[str, Any], key: str) -> Any:
            return (context.get("params") or {}).get(key)

        @task(task_id="plan")
        def plan(**context: Any) -> list[dict[str, str]]:
            with fail_fast():
                return plan_rebuild(name, context.get("params") or {})

        @task(task_id="copy_vectors")
        def copy(**context: Any) -> dict[str, Any]:
            with fail_fast():
                return copy_vectors(name, bool(param(context, "reembed")))

        @task(
            task_id="rebuild_window",
            pool=settings.pool,
            retries=5,
            execution_timeout=WINDOW_TIMEOUT,
            map_index_template="{{ task.op_kwargs['window']['start'] }}",
        )
        def window(window: dict[str, str]) -> dict[str, Any]:
            with fail_fast():
                return run_rebuild_window(name, window)

        @task(task_id="finish", trigger_rule="none_failed")
        def finish(**context: Any) -> dict[str, Any]:
            with fail_fast():
                return finish_rebuild(name, bool(param(context, "force")))

        windows = window.expand(window=plan())
        copy() >> windows >> finish()
    return dag


def trigger_rebuild(name: str, reembed: bool = False, force: bool = False) -> str | None:
    """Trigger ``vector_sync_rebuild_<name>`` when a scheduler is there to run it (its id), else
    None: the caller runs the rebuild in its own process."""
    from airflow.api.common.trigger_dag import trigger_dag
    from airflow.exceptions import DagNotFound
    from airflow.jobs.job import most_recent_job
    from airflow.utils.types import DagRunTriggeredByType

    job = most_recent_job("SchedulerJob")
    if not (job and job.is_alive()):
        return None
    run_id = f"manual__rebuild_{datetime.now(timezone.utc):%Y%m%dT%H%M%S}"
    try:
        trigger_dag(
            f"vector_sync_rebuild_{name}",
            triggered_by=DagRunTriggeredByType.CLI,
            triggering_user_name="vector-sync rebuild",
            run_id=run_id,
            conf={"reembed": reembed, "force": force},
        )
    except DagNotFound:  # not parsed yet by this Airflow's dag processor
        return None
    return run_id
