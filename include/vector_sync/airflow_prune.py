"""``vector_sync_prune_<source>``: the weekly deletion sweep, one DAG per registered source."""

from __future__ import annotations

from typing import Any, Mapping

def build_prune_dag(name: str) -> Any:
    """One task: list the ids still upstream, delete the rest; the 20% guard fails loudly."""
    from airflow.sdk import Param

    from vector_sync.airflow_maintenance import maintenance_dag

    def run(params: Mapping[str, Any]) -> dict[str, Any]:
        from vector_sync.airflow_adapter import prune_source

        return prune_source(name, force=bool(params.get("force")), dry_run=bool(params.get("dry_run")))

    return maintenance_dag(
        name,
        "prune",
        run,
        description=f"Remove {name} documents deleted upstream from the index and ledger",
        params={
            "force": Param(False, type="boolean", description="Delete even past the guard's share (default 20%)."),
            "dry_run": Param(False, type="boolean", description="Report what would be deleted, delete nothing."),
        },
        doc_md=__doc__,
    )
