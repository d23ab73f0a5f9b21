"""The one module that runs the pipeline inside Airflow.

It builds clients from connections through hooks, decides each run's window from the data
interval, calls the plain pipeline steps, and turns ``FatalError`` into
``AirflowFailException`` so a bad credential or setting fails at once instead of retrying.
DAG files only call ``build_source_dag``; nothing here touches the network or the database
at import or parse time.
"""

from __future__ import annotations

import json
import logging
import os
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator, Mapping

from vector_sync.config import SourceSettings, source_settings
from vector_sync.errors import FatalError
from vector_sync.models import Window, parse_time
from vector_sync.runtime import RuntimeConfig, build_embedder, build_state, build_store, embedded_config

log = logging.getLogger(__name__)

DAG_START = datetime(2024, 1, 1, tzinfo=timezone.utc)
DAG_TEST_USER = "dag_test"  # the triggering user Airflow records for dag.test() runs
# A source's very first catch-up run (no successful window yet) reaches back this far.
DEFAULT_INITIAL_HISTORY = timedelta(days=30)
RETRY_DEFAULTS: dict[str, Any] = {
    "retries": 3,
    "retry_delay": timedelta(seconds=30),
    "retry_exponential_backoff": 2.0,  # 30 s, 60 s, 120 s ... with Airflow's jitter
    "max_retry_delay": timedelta(minutes=10),
}


# ----------------------------------------------------------------------------- configuration


def _env_overrides(name: str) -> dict[str, Any] | None:
    """Parse-time overrides come from the environment only (no DB access while parsing)."""
    raw = os.environ.get(f"AIRFLOW_VAR_VECTOR_SYNC_{name.upper()}")
    return json.loads(raw) if raw else None


def _variable_json(key: str) -> dict[str, Any] | None:
    from airflow.sdk import Variable

    try:
        value = Variable.get(key, default=None)
    except Exception:  # no metadata DB reachable (CLI outside Airflow): environment only
        value = os.environ.get(f"AIRFLOW_VAR_{key.upper()}")
    if value in (None, ""):
        return None
    return value if isinstance(value, dict) else json.loads(value)


def settings_for(name: str) -> SourceSettings:
    """The source's settings with the Variable ``vector_sync_<name>`` applied (run time)."""
    return source_settings(name, _variable_json(f"vector_sync_{name}"))


def has_connection(conn_id: str) -> bool:
    from airflow.sdk import BaseHook

    try:
        BaseHook.get_connection(conn_id)
    except Exception:
        return False
    return True


def runtime_config() -> RuntimeConfig:
    """Embedded default, upgraded by connections: ``vector_sync_db`` (Postgres state),
    ``openai_default`` (OpenAI embeddings), ``pinecone_default`` (Pinecone index); the
    Variable ``vector_sync_config`` overrides any choice."""
    config = embedded_config()
    overrides = _variable_json("vector_sync_config") or {}
    if has_connection("vector_sync_db"):
        from airflow.providers.postgres.hooks.postgres import PostgresHook

        url = PostgresHook(postgres_conn_id="vector_sync_db").sqlalchemy_url
        config = replace(config, state_url=url.render_as_string(hide_password=False))
    if "embedder" not in overrides and has_connection("openai_default"):
        config = replace(config, embedder="openai")
    if "store" not in overrides and has_connection("pinecone_default"):
        config = replace(config, store="pinecone")
    return config.with_overrides(overrides)


def staging_root(config: RuntimeConfig) -> Any:
    from airflow.sdk import ObjectStoragePath

    return ObjectStoragePath(config.staging_url)


def build_source(name: str, settings: SourceSettings, state: Any) -> Any:
    """The source with a client from its connection and the known projects as options."""
    from importlib import import_module

    from vector_sync.hooks import CLIENT_HOOKS
    from vector_sync.sources import source_class

    module_name, class_name = CLIENT_HOOKS[name].split(":")
    hook_class = getattr(import_module(module_name), class_name)
    try:
        hook = hook_class(**{hook_class.conn_name_attr: settings.conn_id})
        client = hook.get_conn()
    except FatalError:
        raise
    except Exception as exc:
        if type(exc).__name__ == "AirflowNotFoundException":
            raise FatalError(f"connection '{settings.conn_id}' for source '{name}' is not defined: add it (UI, AIRFLOW_CONN_{settings.conn_id.upper()} or airflow_settings.yaml)") from None
        raise
    projects = state.list_projects()
    options = {
        **settings.options,
        "project_keys": [p.key for p in projects],
        "projects": [{"key": p.key, "name": p.name, "is_active": p.is_active} for p in projects],
    }
    return source_class(name)(client, replace(settings, options=options))


# ----------------------------------------------------------------------------- windows


def resolve_window(context: Mapping[str, Any], settings: SourceSettings, last_sync: datetime | None, now: datetime) -> tuple[Window, str]:
    """The run's window and how it was chosen.

    - conf ``{"start": ISO, "end": ISO}``: exactly that window (replays from the UI).
    - scheduled and backfill runs, and ``dag.test``/``airflow dags test`` with a logical
      date: ``[data_interval_start - overlap, data_interval_end)``.
    - any other manual run (UI "Trigger", CLI/API without logical date, which has no data
      interval at all in Airflow 3): catch up from the end of the last successful window
      (minus overlap) to now; a source never synced reaches back ``initial_history_days``.
    """
    dag_run = context.get("dag_run")
    conf = (getattr(dag_run, "conf", None) or {}) if dag_run is not None else {}
    if conf.get("start") and conf.get("end"):
        return Window(parse_time(conf["start"]), parse_time(conf["end"])), "conf"
    start, end = context.get("data_interval_start"), context.get("data_interval_end")
    run_type = str(getattr(dag_run, "run_type", "") or "").lower()
    # dag.test() and `airflow dags test DAG DATE` replay their logical date's interval.
    is_test = getattr(dag_run, "triggering_user_name", None) == DAG_TEST_USER
    has_interval = start is not None and end is not None and start < end
    interval_run = "manual" not in run_type or is_test or conf.get("window") == "interval"
    if has_interval and interval_run and conf.get("window") != "catch_up":
        return Window(start, end).widened(settings.overlap), "interval"
    history = timedelta(days=float(settings.option("initial_history_days", DEFAULT_INITIAL_HISTORY.days)))
    begin = last_sync if last_sync is not None else now - history
    return Window(begin, now).widened(settings.overlap), "catch_up"


# ----------------------------------------------------------------------------- task bodies


@contextmanager
def fail_fast() -> Iterator[None]:
    """Retrying cannot fix a FatalError: fail the task now, with its message."""
    from airflow.sdk.exceptions import AirflowFailException

    try:
        yield
    except FatalError as exc:
        raise AirflowFailException(str(exc)) from None


class Runtime:
    """Backends for one task, built lazily from the runtime configuration."""

    def __init__(self, config: RuntimeConfig | None = None) -> None:
        self.config = config or runtime_config()
        self._state = None

    @property
    def state(self) -> Any:
        if self._state is None:
            self._state = build_state(self.config)
        return self._state

    def embedder(self) -> Any:
        client = None
        if self.config.embedder == "openai":
            from airflow.providers.openai.hooks.openai import OpenAIHook

            client = OpenAIHook(conn_id=self.config.options.get("openai_conn_id", "openai_default")).get_conn()
        return build_embedder(self.config, client)

    def store(self) -> Any:
        index = None
        if self.config.store == "pinecone":
            from airflow.providers.pinecone.hooks.pinecone import PineconeHook

            hook = PineconeHook(conn_id=self.config.options.get("pinecone_conn_id", "pinecone_default"))
            index = hook.pinecone_client.Index(self.config.options.get("index", "vector-sync"))
        return build_store(self.config, index)

    def staged(self, source: str, key: str) -> Any:
        from vector_sync.staging import StagedRun

        return StagedRun(staging_root(self.config), source, key)


def run_fetch(name: str, context: Mapping[str, Any]) -> dict[str, Any]:
    from vector_sync import pipeline
    from vector_sync.staging import run_key

    with fail_fast():
        runtime = Runtime()
        settings = settings_for(name)
        now = datetime.now(timezone.utc)
        window, mode = resolve_window(context, settings, runtime.state.last_sync(name), now)
        run_id = context["run_id"]
        key = run_key(run_id, window)
        log.info("source %s: window %s .. %s (%s)", name, window.start.isoformat(), window.end.isoformat(), mode)
        source = build_source(name, settings, runtime.state)
        counts = pipeline.fetch(source, window, runtime.staged(name, key))
    return {"source": name, "run_id": run_id, "window": window.to_json(), "window_mode": mode, "staging_key": key, "started_at": now.isoformat(), **counts}


def run_filter(name: str, ref: dict[str, Any]) -> dict[str, Any]:
    from vector_sync import pipeline
    from vector_sync.sources import source_class

    with fail_fast():
        runtime = Runtime()
        counts = pipeline.filter_active_projects(runtime.staged(name, ref["staging_key"]), runtime.state.known_projects(), source_class(name).keep_unmapped)
    return {**ref, **counts}


def run_embed(name: str, ref: dict[str, Any]) -> dict[str, Any]:
    from vector_sync import pipeline

    with fail_fast():
        runtime = Runtime()
        settings = settings_for(name)
        chunking = pipeline.ChunkSettings(settings.chunk_tokens, settings.chunk_overlap_tokens)
        counts = pipeline.embed(runtime.staged(name, ref["staging_key"]), runtime.state, runtime.embedder(), chunking)
    return {**ref, **counts}


def run_upsert(name: str, ref: dict[str, Any]) -> dict[str, Any]:
    from vector_sync import pipeline

    with fail_fast():
        runtime = Runtime()
        counts = pipeline.upsert(runtime.staged(name, ref["staging_key"]), runtime.state, runtime.store(), name)
    return {**ref, **counts}


def run_record(name: str, ref: dict[str, Any]) -> dict[str, Any]:
    from vector_sync import pipeline

    with fail_fast():
        runtime = Runtime()
        result = pipeline.record(
            runtime.state, name, ref["run_id"], Window.from_json(ref["window"]), parse_time(ref["started_at"]), ref
        )
    log.info("source %s synced: %s", name, {k: ref.get(k) for k in ("fetched", "filtered_out", "chunks", "embedded", "skipped_unchanged", "upserted", "deleted", "errors", "tokens")})
    return {**ref, **result}


def on_task_failure(context: Mapping[str, Any]) -> None:
    """A task failed for good: keep a ``sync_failures`` row and mark the window failed."""
    task_instance = context.get("ti") or context.get("task_instance")
    dag_id = getattr(context.get("dag"), "dag_id", "") or ""
    name = dag_id.removeprefix("vector_sync_")
    exception = context.get("exception")
    message = f"{type(exception).__name__}: {exception}"[:2000] if exception else "task failed"
    try:
        runtime = Runtime()
        settings = settings_for(name)
        now = datetime.now(timezone.utc)
        window, _ = resolve_window(context, settings, runtime.state.last_sync(name), now)
        run_id = context.get("run_id", "")
        runtime.state.record_failure(
            source=name,
            run_id=run_id,
            task_id=getattr(task_instance, "task_id", ""),
            window_start=window.start,
            window_end=window.end,
            error_message=message,
            try_number=int(getattr(task_instance, "try_number", 0) or 0),
            occurred_at=now,
        )
        from vector_sync import pipeline

        pipeline.record(runtime.state, name, run_id, window, now, {}, status="failed", error_message=message)
    except Exception:  # the alert path must never hide the original failure
        log.exception("could not record the failure of %s", dag_id)


# ----------------------------------------------------------------------------- DAGs


def build_source_dag(name: str) -> Any:
    """``vector_sync_<name>``: fetch >> filter_active_projects >> embed >> upsert >> record."""
    from airflow.sdk import DAG, CronDataIntervalTimetable, Param, task

    settings = source_settings(name, _env_overrides(name))
    default_args = {**RETRY_DEFAULTS, "on_failure_callback": on_task_failure}
    with DAG(
        dag_id=f"vector_sync_{name}",
        description=f"Incremental sync of {name} into the vector index",
        schedule=CronDataIntervalTimetable(settings.schedule, timezone="UTC"),
        start_date=DAG_START,
        catchup=False,
        max_active_runs=1,
        default_args=default_args,
        tags=["vector-sync", name],
        params={
            "start": Param(None, type=["null", "string"], description="Replay: window start (ISO 8601). Empty: see README 'Windows'."),
            "end": Param(None, type=["null", "string"], description="Replay: window end (ISO 8601, exclusive)."),
        },
        doc_md=__doc__,
    ) as dag:

        @task(task_id="fetch", pool=settings.pool)
        def fetch(**context: Any) -> dict[str, Any]:
            return run_fetch(name, context)

        @task(task_id="filter_active_projects")
        def filter_active_projects(ref: dict[str, Any]) -> dict[str, Any]:
            return run_filter(name, ref)

        @task(task_id="embed", pool="openai_api")
        def embed(ref: dict[str, Any]) -> dict[str, Any]:
            return run_embed(name, ref)

        @task(task_id="upsert", pool="pinecone_api")
        def upsert(ref: dict[str, Any]) -> dict[str, Any]:
            return run_upsert(name, ref)

        @task(task_id="record")
        def record(ref: dict[str, Any]) -> dict[str, Any]:
            return run_record(name, ref)

        record(upsert(embed(filter_active_projects(fetch()))))
    return dag


def sync_window(
    name: str, window: Window, run_id: str | None = None, dry_run: bool = False, runtime: Runtime | None = None, force: bool = False
) -> dict[str, Any]:
    """Run all steps for one window outside the scheduler (``vector-sync sync``), with the
    connections and settings resolved exactly as in a task."""
    import tempfile
    from pathlib import Path

    from vector_sync import pipeline
    from vector_sync.staging import StagedRun, run_key

    runtime = runtime or Runtime()
    settings = settings_for(name)
    run_id = run_id or f"cli__{datetime.now(timezone.utc):%Y%m%dT%H%M%S}"
    source = build_source(name, settings, runtime.state)
    key = run_key(run_id, window)
    if dry_run:  # writes nothing outside a temporary folder
        staged = StagedRun(Path(tempfile.mkdtemp(prefix="vector-sync-dry-run-")), name, key)
    else:
        staged = runtime.staged(name, key)
    chunking = pipeline.ChunkSettings(settings.chunk_tokens, settings.chunk_overlap_tokens)
    store = None if dry_run else runtime.store()
    return pipeline.run_window(source, window, staged, runtime.state, runtime.embedder(), store, chunking, run_id, dry_run=dry_run, force=force)


def prune_source(name: str, force: bool = False, dry_run: bool = False, runtime: Runtime | None = None) -> dict[str, Any]:
    """List what still exists upstream and delete the rest (guarded, see vector_sync.prune)."""
    from vector_sync.prune import DEFAULT_MAX_SHARE, prune

    runtime = runtime or Runtime()
    settings = settings_for(name)
    source = build_source(name, settings, runtime.state)
    max_share = float(settings.option("prune_max_share", DEFAULT_MAX_SHARE))
    return prune(source, runtime.state, runtime.store(), max_share=max_share, force=force, dry_run=dry_run)

