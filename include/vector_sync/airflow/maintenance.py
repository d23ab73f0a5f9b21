"""The per-source maintenance DAGs: ``vector_sync_prune_<source>`` (the weekly deletion sweep)
and ``vector_sync_permissions_<source>`` (the hourly permission pass).

Both are one task on a cron schedule read from the source's options (``prune_schedule``,
``permissions_schedule``), no catch-up, one run at a time, retries with backoff and the
failure alert; the work itself is ``vector_sync.run.prune_source`` / ``permissions_source``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

from vector_sync.airflow.callbacks import MAINTENANCE_KINDS, on_task_failure
from vector_sync.airflow.dags import cron_dag
from vector_sync.airflow.settings import parse_time_settings
from vector_sync.airflow.tasks import fail_fast
from vector_sync.errors import FatalError

PRUNE_DOC = """``vector_sync_prune_<source>``: the weekly deletion sweep, one DAG per registered source.

After pruning it checks the coverage (``vector-sync verify``): the ledger's chunk ids against the
store's and the metadata of a sample. A mismatch fails the task with the verdict, so the failure
alert names it; `vector-sync rebuild <source>` repairs it."""

PERMISSIONS_DOC = """``vector_sync_permissions_<source>``: the hourly permission pass, one DAG per source that can
re-read who may see its items (Slack, Fireflies; see ``vector_sync.permissions``).

A DAG of its own rather than a step of every sync: the sync chain stays fetch -> filter ->
embed -> upsert, the pass can be retried or triggered alone (after a known membership change),
and it costs about one request per private channel (Fireflies: one per 50 meetings) per pass.
A membership change is exposed at most one pass interval (option ``permissions_schedule``).
"""


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
    from airflow.sdk import task

    assert kind in MAINTENANCE_KINDS, kind
    settings = parse_time_settings(name)
    with cron_dag(
        f"vector_sync_{kind}_{name}",
        settings.option(f"{kind}_schedule"),
        description=description,
        on_failure=on_task_failure,
        retry_delay=retry_delay,
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


# ----------------------------------------------------------------------------- prune


def prune(name: str, force: bool = False, dry_run: bool = False, runtime: Any = None) -> dict[str, Any]:
    """``vector_sync.run.prune_source`` for source ``name``, built from its connection."""
    from vector_sync.airflow.backends import Runtime
    from vector_sync.run import prune_source

    runtime = runtime or Runtime()
    return prune_source(runtime.source(name), runtime, force=force, dry_run=dry_run)


class CoverageMismatch(FatalError):
    """The store does not hold what the ledger says: retrying will not change that."""


def prune_and_verify(name: str, force: bool = False, dry_run: bool = False, runtime: Any = None) -> dict[str, Any]:
    """``prune``, then ``check_coverage`` of the source (its JSON under ``verify``); a mismatch
    raises ``CoverageMismatch`` with the verdict and the repair."""
    from vector_sync.airflow.backends import Runtime
    from vector_sync.coverage import check_coverage

    runtime = runtime or Runtime()
    result = prune(name, force=force, dry_run=dry_run, runtime=runtime)
    coverage = check_coverage(name, runtime.state, runtime.store())
    result["verify"] = coverage.to_json()
    if not coverage.ok:
        first = (coverage.missing or coverage.extra or [m["id"] for m in coverage.metadata_mismatches])[0]
        raise CoverageMismatch(
            f"verify {name}: {coverage.verdict()} (first: {first}): the store does not hold what the ledger says; "
            f"see `vector-sync verify {name} --json`, repair with `vector-sync rebuild {name}`"
        )
    return result


def build_prune_dag(name: str) -> Any:
    """One task: list the ids still upstream, delete the rest (the 20% guard fails loudly), then
    verify the coverage (a mismatch fails the task, so the failure alert fires)."""
    from airflow.sdk import Param

    def run(params: Mapping[str, Any]) -> dict[str, Any]:
        return prune_and_verify(name, force=bool(params.get("force")), dry_run=bool(params.get("dry_run")))

    return maintenance_dag(
        name,
        "prune",
        run,
        description=f"Remove {name} documents deleted upstream from the index and ledger",
        params={
            "force": Param(False, type="boolean", description="Delete even past the guard's share (default 20%)."),
            "dry_run": Param(False, type="boolean", description="Report what would be deleted, delete nothing."),
        },
        doc_md=PRUNE_DOC,
    )


# ----------------------------------------------------------------------------- permissions


def permissions_sources() -> list[str]:
    """Registered sources whose access can change after indexing (parse time: no imports of clients)."""
    from vector_sync.specs import REGISTRY

    return [name for name, spec in REGISTRY.items() if "permissions_schedule" in spec.schema]


def permissions(name: str, dry_run: bool = False, runtime: Any = None) -> dict[str, Any]:
    """Re-read who may see the source's indexed items and update store and ledger in place."""
    from vector_sync.airflow.backends import Runtime
    from vector_sync.run import permissions_source

    supported = permissions_sources()
    if name not in supported:  # before any connection: nothing to re-read there
        raise ValueError(f"source '{name}' has no permission pass (its items are visible to all); sources with one: {', '.join(supported)}")
    runtime = runtime or Runtime()
    return permissions_source(runtime.source(name), runtime, dry_run=dry_run)


def build_permissions_dag(name: str) -> Any:
    """One task: list the source's access scopes, update the ones whose access changed."""
    from airflow.sdk import Param

    def run(params: Mapping[str, Any]) -> dict[str, Any]:
        return permissions(name, dry_run=bool(params.get("dry_run")))

    return maintenance_dag(
        name,
        "permissions",
        run,
        description=f"Re-read who may see indexed {name} items and update their access in place (no embedding)",
        params={"dry_run": Param(False, type="boolean", description="Report the scopes whose access changed, update nothing.")},
        doc_md=PERMISSIONS_DOC,
    )
