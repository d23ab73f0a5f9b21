"""``vector_sync_permissions_<source>``: the hourly permission pass, one DAG per source that can
re-read who may see its items (Slack, Fireflies; see ``vector_sync.permissions``).

A DAG of its own rather than a step of every sync: the sync chain stays fetch -> filter ->
embed -> upsert, the pass can be retried or triggered alone (after a known membership change),
and it costs about one request per private channel (Fireflies: one per 50 meetings) per pass.
A membership change is exposed at most one pass interval (option ``permissions_schedule``).
"""

from __future__ import annotations

from typing import Any, Mapping

def permissions_sources() -> list[str]:
    """Registered sources whose access can change after indexing (parse time: no imports of clients)."""
    from vector_sync.specs import REGISTRY

    return [name for name, spec in REGISTRY.items() if "permissions_schedule" in spec.schema]


def permissions_source(name: str, dry_run: bool = False, runtime: Any = None) -> dict[str, Any]:
    """Re-read who may see the source's indexed items and update store and ledger in place."""
    from vector_sync.airflow_adapter import Runtime, build_source, settings_for
    from vector_sync.permissions import sync_permissions

    supported = permissions_sources()
    if name not in supported:  # before any connection: nothing to re-read there
        raise ValueError(f"source '{name}' has no permission pass (its items are visible to all); sources with one: {', '.join(supported)}")
    runtime = runtime or Runtime()
    source = build_source(name, settings_for(name), runtime.state)
    return sync_permissions(source, runtime.state, None if dry_run else runtime.store(), dry_run=dry_run)


def build_permissions_dag(name: str) -> Any:
    """One task: list the source's access scopes, update the ones whose access changed."""
    from airflow.sdk import Param

    from vector_sync.airflow_maintenance import maintenance_dag

    def run(params: Mapping[str, Any]) -> dict[str, Any]:
        return permissions_source(name, dry_run=bool(params.get("dry_run")))

    return maintenance_dag(
        name,
        "permissions",
        run,
        description=f"Re-read who may see indexed {name} items and update their access in place (no embedding)",
        params={"dry_run": Param(False, type="boolean", description="Report the scopes whose access changed, update nothing.")},
        doc_md=__doc__,
    )
