"""The bodies of a sync DAG's tasks: plan, fetch, filter_active_projects, embed, upsert, record.

Each builds its backends (``Runtime``), calls one step of ``vector_sync.pipeline`` and returns
the next task's record of ``vector_sync.protocol`` as JSON (XCom): the plan's fetch parts,
then embed batches; bulk data stays in staging (``StagedRun``). ``fail_fast`` turns a
bad setting or a missing connection into a failure without retries.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any

from vector_sync.airflow.backends import Runtime, build_source
from vector_sync.airflow.callbacks import announce_recovery
from vector_sync.airflow.settings import settings_for
from vector_sync.airflow.windows import resolve_window
from vector_sync.errors import FatalError
from vector_sync.protocol import EmbedBatch, FetchPart, RunPlan, StepCounts
from vector_sync.staging import StagedRun, run_key

log = logging.getLogger(__name__)


@contextmanager
def fail_fast() -> Iterator[None]:
    """Retrying cannot fix a FatalError or a missing connection: fail the task now, with a
    message naming the connection or setting to fix."""
    from airflow.sdk.exceptions import AirflowFailException, AirflowNotFoundException

    try:
        yield
    except FatalError as exc:
        raise AirflowFailException(str(exc)) from None
    except AirflowNotFoundException as exc:  # a hook's connection is not defined
        raise AirflowFailException(
            f"{exc}: add the connection (UI, AIRFLOW_CONN_<ID> or airflow_settings.yaml) and clear the task"
        ) from None


def materialize(results: Any) -> list[Any]:
    """The mapped tasks' results as a list. Indexing by length: iterating Airflow's lazy
    sequence probes one offset past the end and logs a spurious "XCom not found" error."""
    return [results[i] for i in range(len(results))]


def _staged(runtime: Runtime, plan: RunPlan) -> StagedRun:
    """The run's staging folder, which every task finds from the plan's key alone."""
    return StagedRun(runtime.staging_root(), plan.source, plan.staging_key)


def run_plan(name: str, context: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Choose the window and split its fetch into parts (one mapped fetch task each)."""
    with fail_fast():
        runtime = Runtime()
        settings = settings_for(name)
        now = datetime.now(timezone.utc)
        run_id = context["run_id"]
        last_sync = runtime.state.runs.last_sync(name)
        # Intervals the scheduler skipped are this run's to cover; another run's failed window is
        # that run's clear's (this run's own, when it is the one cleared, it covers again).
        failed = [
            f for f in runtime.state.runs.failed_windows(name) if f.run_id != run_id and (last_sync is None or f.window_end > last_sync)
        ]
        window, mode = resolve_window(context, settings, last_sync, now, None if failed else last_sync)
        log.info("source %s: window %s .. %s (%s)", name, window.start.isoformat(), window.end.isoformat(), mode)
        source = build_source(name, settings, runtime.state)
        scopes = source.parts(window)
    plan = RunPlan(name, run_id, window, mode, run_key(run_id, window), now)
    return [FetchPart(plan, index, scope, f"{index}: {source.part_label(scope)}").to_json() for index, scope in enumerate(scopes)]


def run_fetch(name: str, part: Mapping[str, Any]) -> dict[str, Any]:
    """One part of the window's fetch, staged under its own file names."""
    from vector_sync import pipeline

    fetch_part = FetchPart.from_json(part)
    with fail_fast():
        runtime = Runtime()
        source = build_source(name, settings_for(name), runtime.state)
        counts = pipeline.fetch(source, fetch_part.plan.window, _staged(runtime, fetch_part.plan), fetch_part.scope, fetch_part.index)
        pipeline.note_skips(runtime.state, name, fetch_part.plan.run_id, counts)
    return fetch_part.fetched(StepCounts.of(counts)).to_json()


def run_filter(name: str, fetched: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Merge the fetch parts, drop inactive projects, cut the rest into embed batches."""
    from vector_sync import pipeline
    from vector_sync.sources import source_class

    parts = [FetchPart.from_json(item) for item in fetched]
    plan = parts[0].plan
    indexes = tuple(sorted(part.index for part in parts))
    with fail_fast():
        runtime = Runtime()
        settings = settings_for(name)
        # Options "embed_batch_docs" / "max_embed_batches" size the mapped embed/upsert tasks.
        result = pipeline.filter_active_projects(
            _staged(runtime, plan),
            runtime.state.projects.known(),
            source_class(name).keep_unmapped,
            parts=indexes,
            max_batches=settings.option("max_embed_batches"),
            batch_docs=settings.option("embed_batch_docs"),
        )
    # Batch 0 carries the filter's counts: the run's counts are then the sum over batches.
    filtered = StepCounts.of(result)
    return [EmbedBatch(plan, index, indexes, filtered if index == 0 else StepCounts()).to_json() for index in result["batches"]]


def run_embed(name: str, batch: Mapping[str, Any]) -> dict[str, Any]:
    """Chunk and embed one batch (only what changed), staging its vectors and ledger rows."""
    from vector_sync import pipeline

    embed_batch = EmbedBatch.from_json(batch)
    with fail_fast():
        runtime = Runtime()
        settings = settings_for(name)
        chunking = pipeline.ChunkSettings(settings.chunk_tokens, settings.chunk_overlap_tokens)
        counts = pipeline.embed(_staged(runtime, embed_batch.plan), runtime.state, runtime.embedder(), chunking, batch=embed_batch.index)
    return embed_batch.add(StepCounts.of(counts)).to_json()


def run_upsert(name: str, batch: Mapping[str, Any]) -> dict[str, Any]:
    """Write one batch's vectors to the store, then its ledger rows."""
    from vector_sync import pipeline

    embed_batch = EmbedBatch.from_json(batch)
    with fail_fast():
        runtime = Runtime()
        counts = pipeline.upsert(
            _staged(runtime, embed_batch.plan),
            runtime.state,
            runtime.store(),
            name,
            batch=embed_batch.index,
            removed_parts=embed_batch.parts,
        )
    return embed_batch.add(StepCounts.of(counts)).to_json()


def run_record(name: str, fetched: list[Mapping[str, Any]], upserted: list[Mapping[str, Any]]) -> dict[str, Any]:
    """Sum the parts' and batches' counts into the run's metrics and status; announce a
    recovery when the run resolved open failures."""
    from vector_sync import pipeline

    parts = [FetchPart.from_json(item) for item in fetched]
    batches = [EmbedBatch.from_json(item) for item in upserted]
    plan = parts[0].plan
    counts = StepCounts.total([part.counts for part in parts] + [batch.counts for batch in batches]).as_dict()
    with fail_fast():
        runtime = Runtime()
        result = pipeline.record(runtime.state, name, plan.run_id, plan.window, plan.started_at, counts)
    log.info(
        "source %s synced: %s",
        name,
        {
            k: counts.get(k)
            for k in ("fetched", "filtered_out", "chunks", "embedded", "skipped_unchanged", "upserted", "deleted", "errors", "tokens")
        },
    )
    announce_recovery(plan, result)
    return {
        **plan.to_json(),
        **{k: v for k, v in counts.items() if not isinstance(v, dict)},
        **result,
        "parts": len(parts),
        "batches": len(batches),
    }
