"""The bodies of a sync DAG's tasks: plan, fetch, filter_active_projects, embed, upsert, record.

Each builds its backends (``Runtime``), calls one step of ``vector_sync.pipeline`` and returns
a small reference for the next task (XCom); bulk data stays in staging. ``fail_fast`` turns a
bad setting or a missing connection into a failure without retries.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any, Iterator, Mapping

from vector_sync.errors import FatalError
from vector_sync.models import Window, parse_time

from vector_sync.airflow.backends import Runtime, build_source
from vector_sync.airflow.settings import settings_for
from vector_sync.airflow.windows import resolve_window

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
        raise AirflowFailException(f"{exc}: add the connection (UI, AIRFLOW_CONN_<ID> or airflow_settings.yaml) and clear the task") from None


def materialize(results: Any) -> list[Any]:
    """The mapped tasks' results as a list. Indexing by length: iterating Airflow's lazy
    sequence probes one offset past the end and logs a spurious "XCom not found" error."""
    return [results[i] for i in range(len(results))]
# A run's tasks hand each other small refs: the plan (window, staging key), then per fetch
# partition and per embed batch only indexes and counts. Bulk data stays in staging.


def run_plan(name: str, context: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Choose the window and split its fetch into partitions (one mapped fetch task each)."""
    from vector_sync.staging import run_key

    with fail_fast():
        runtime = Runtime()
        settings = settings_for(name)
        now = datetime.now(timezone.utc)
        window, mode = resolve_window(context, settings, runtime.state.runs.last_sync(name), now)
        run_id = context["run_id"]
        log.info("source %s: window %s .. %s (%s)", name, window.start.isoformat(), window.end.isoformat(), mode)
        source = build_source(name, settings, runtime.state)
        partitions = source.partitions(window)
    plan = {"source": name, "run_id": run_id, "window": window.to_json(), "window_mode": mode, "staging_key": run_key(run_id, window), "started_at": now.isoformat()}
    return [
        {"plan": plan, "part": index, "partition": partition, "label": f"{index}: {source.partition_label(partition)}"}
        for index, partition in enumerate(partitions)
    ]


def run_fetch(name: str, part: dict[str, Any]) -> dict[str, Any]:
    """One partition of the window, staged under its own file names."""
    from vector_sync import pipeline

    plan = part["plan"]
    with fail_fast():
        runtime = Runtime()
        source = build_source(name, settings_for(name), runtime.state)
        counts = pipeline.fetch(source, Window.from_json(plan["window"]), runtime.staged(name, plan["staging_key"]), part["partition"], part["part"])
    return {"plan": plan, "part": part["part"], "counts": counts}


def run_filter(name: str, fetched: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Merge the partitions, drop inactive projects, cut the rest into embed batches."""
    from vector_sync import pipeline
    from vector_sync.sources import source_class

    plan = fetched[0]["plan"]
    parts = sorted(item["part"] for item in fetched)
    with fail_fast():
        runtime = Runtime()
        settings = settings_for(name)
        # Options "embed_batch_docs" / "max_embed_batches" size the mapped embed/upsert tasks.
        result = pipeline.filter_active_projects(
            runtime.staged(name, plan["staging_key"]),
            runtime.state.projects.known(),
            source_class(name).keep_unmapped,
            parts=parts,
            max_batches=settings.option("max_embed_batches"),
            batch_docs=settings.option("embed_batch_docs"),
        )
    counts = {k: v for k, v in result.items() if k not in ("batches", "parts")}
    return [{"plan": plan, "batch": batch, "parts": parts, "filter": counts} for batch in result["batches"]]


def run_embed(name: str, batch: dict[str, Any]) -> dict[str, Any]:
    from vector_sync import pipeline

    with fail_fast():
        runtime = Runtime()
        settings = settings_for(name)
        chunking = pipeline.ChunkSettings(settings.chunk_tokens, settings.chunk_overlap_tokens)
        counts = pipeline.embed(runtime.staged(name, batch["plan"]["staging_key"]), runtime.state, runtime.embedder(), chunking, batch=batch["batch"])
    return {**batch, "counts": counts}


def run_upsert(name: str, batch: dict[str, Any]) -> dict[str, Any]:
    from vector_sync import pipeline

    with fail_fast():
        runtime = Runtime()
        counts = pipeline.upsert(
            runtime.staged(name, batch["plan"]["staging_key"]), runtime.state, runtime.store(), name, batch=batch["batch"], removed_parts=batch["parts"]
        )
    return {**batch, "counts": {**batch["counts"], **counts}}


def run_record(name: str, fetched: list[dict[str, Any]], upserted: list[dict[str, Any]]) -> dict[str, Any]:
    """Sum the partitions' and batches' counts into the run's metrics and status."""
    from vector_sync import pipeline

    plan = fetched[0]["plan"]
    counts = pipeline.sum_counts(item["counts"] for item in fetched)
    if upserted:
        counts.update(upserted[0]["filter"])
        counts.update(pipeline.sum_counts(item["counts"] for item in upserted))
    with fail_fast():
        runtime = Runtime()
        result = pipeline.record(runtime.state, name, plan["run_id"], Window.from_json(plan["window"]), parse_time(plan["started_at"]), counts)
    log.info("source %s synced: %s", name, {k: counts.get(k) for k in ("fetched", "filtered_out", "chunks", "embedded", "skipped_unchanged", "upserted", "deleted", "errors", "tokens")})
    return {**plan, **{k: v for k, v in counts.items() if not isinstance(v, dict)}, **result, "partitions": len(fetched), "batches": len(upserted)}


