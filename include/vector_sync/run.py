"""One whole run in this process, over ready backends: every step of a window
(``sync_window``), a prune (``prune_source``), a permission pass (``permissions_source``) or a
rebuild after a switch of store or embedder (``rebuild_source``).

The CLI, the sandbox's demo, the benchmarks and the tests call these; inside Airflow the same
steps run as separate tasks (``vector_sync.airflow.tasks``). Nothing here imports Airflow: the
backends come in ready (``vector_sync.airflow.backends.Runtime`` builds them from connections).
"""

from __future__ import annotations

import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

from vector_sync.embedders.base import Embedder
from vector_sync.models import Window
from vector_sync.sources.base import Source
from vector_sync.state import StateStore
from vector_sync.stores.base import VectorStore


class Backends(Protocol):
    """What a run needs besides its source: built on first use, so a dry run never
    connects to the vector store."""

    @property
    def state(self) -> StateStore: ...

    def embedder(self) -> Embedder: ...

    def store(self) -> VectorStore: ...

    def staging_root(self) -> Any: ...


def sync_window(
    source: Source, window: Window, backends: Backends, run_id: str | None = None, dry_run: bool = False, force: bool = False
) -> dict[str, Any]:
    """Run every step for one window outside the scheduler (``vector-sync sync``): fetch,
    filter, embed, upsert, record. ``dry_run`` stages in a temporary folder and writes nothing
    else; ``force`` re-embeds unchanged chunks (``vector-sync reindex``)."""
    from vector_sync import pipeline
    from vector_sync.staging import StagedRun

    settings = source.settings
    run_id = run_id or f"cli__{datetime.now(timezone.utc):%Y%m%dT%H%M%S}"
    chunking = pipeline.ChunkSettings(settings.chunk_tokens, settings.chunk_overlap_tokens)

    def run(root: Any, store: VectorStore | None) -> dict[str, Any]:
        staged = StagedRun.for_run(root, source.name, run_id, window)
        return pipeline.run_window(
            source, window, staged, backends.state, backends.embedder(), store, chunking, run_id, dry_run=dry_run, force=force
        )

    if dry_run:  # writes nothing outside a temporary folder, removed afterwards
        with tempfile.TemporaryDirectory(prefix="vector-sync-dry-run-") as folder:
            return run(Path(folder), None)
    return run(backends.staging_root(), backends.store())


def prune_source(source: Source, backends: Backends, force: bool = False, dry_run: bool = False) -> dict[str, Any]:
    """List what still exists upstream and delete the rest (guarded, see vector_sync.prune)."""
    from vector_sync.prune import prune

    return prune(
        source, backends.state, backends.store(), max_share=source.settings.option("prune_max_share"), force=force, dry_run=dry_run
    )


def permissions_source(source: Source, backends: Backends, dry_run: bool = False) -> dict[str, Any]:
    """Re-read who may see the source's indexed items and update store and ledger in place."""
    from vector_sync.permissions import sync_permissions

    return sync_permissions(source, backends.state, None if dry_run else backends.store(), dry_run=dry_run)


def rebuild_source(source: Source, backends: Backends, plan: Any, open_store: Any, force: bool = False) -> dict[str, Any]:
    """Carry out a rebuild ``plan`` of the source (``vector_sync.rebuild.plan``) in this process,
    each window of a re-embedding a forced ``sync_window``; returns the result with the verdict."""
    from vector_sync import rebuild

    max_share = float(source.settings.option("prune_max_share"))
    runner = rebuild_window_runner(source, backends)
    return rebuild.execute(plan, backends.state, backends.store(), open_store, runner, max_share, force=force)


def rebuild_window_runner(source: Source, backends: Backends) -> Any:
    """One window of a re-embedding rebuild: a forced ``sync_window`` with run id
    ``rebuild__<window start>`` (the CLI's windows and the rebuild DAG's mapped tasks alike)."""

    def run_window(window: Window) -> dict[str, Any]:
        return sync_window(source, window, backends, run_id=f"rebuild__{window.start:%Y%m%dT%H%M%S}", force=True)

    return run_window
