"""The one module that runs the pipeline inside Airflow.

It builds clients from connections through hooks, decides each run's window from the data
interval, calls the plain pipeline steps, and turns ``FatalError`` into
``AirflowFailException`` so a bad credential or setting fails at once instead of retrying.
DAG files only call ``build_source_dag``; nothing here touches the network or the database
at import or parse time.
"""

from __future__ import annotations

import functools
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
RETRY_DEFAULTS: dict[str, Any] = {
    "retries": 3,
    "retry_delay": timedelta(seconds=30),
    # Try n waits between d and 2d, d = 30 s * 2**(n-1): Airflow adds a jitter derived from
    # the task instance, so runs that failed together do not retry together. Capped below.
    "retry_exponential_backoff": 2.0,
    "max_retry_delay": timedelta(minutes=10),
}
# Per task, on top of RETRY_DEFAULTS. The API clients already retry each request (429 with
# Retry-After, 5xx, resets); a task retry covers an outage longer than that, so the steps
# that call remote APIs get more tries, the local steps fewer and sooner.
TASK_RETRIES: dict[str, dict[str, Any]] = {
    "plan": {"retries": 5},  # lists partitions through the source API
    "fetch": {"retries": 5},  # the source API: the flakiest dependency
    "filter_active_projects": {"retries": 1, "retry_delay": timedelta(seconds=10)},  # state DB only
    "embed": {"retries": 4},  # embeddings API
    "upsert": {"retries": 4},  # vector store
    "record": {"retries": 2, "retry_delay": timedelta(seconds=10)},  # state DB only
}


# ----------------------------------------------------------------------------- configuration


def _env_overrides(name: str) -> dict[str, Any] | None:
    """Parse-time overrides come from the environment only (no DB access while parsing)."""
    key = f"vector_sync_{name}"
    return _json_object(key, os.environ.get(f"AIRFLOW_VAR_{key.upper()}"))


def settings_for(name: str) -> SourceSettings:
    """The source's settings with the Variable ``vector_sync_<name>`` applied (run time);
    ``FatalError`` naming the Variable when it is broken, so the task fails without retries."""
    overrides = _json_object_variable(f"vector_sync_{name}")
    try:
        return source_settings(name, overrides)
    except ValueError as exc:
        raise FatalError(str(exc)) from None


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
    overrides = _json_object_variable("vector_sync_config") or {}
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
    from vector_sync.sources import source_class
    from vector_sync.specs import hook_class as spec_hook

    hook_class = spec_hook(name)
    try:
        hook = hook_class(**{hook_class.conn_name_attr: settings.conn_id})
        client = hook.get_conn()
    except FatalError:
        raise
    except Exception as exc:
        if type(exc).__name__ == "AirflowNotFoundException":
            raise FatalError(f"connection '{settings.conn_id}' for source '{name}' is not defined: add it (UI, AIRFLOW_CONN_{settings.conn_id.upper()} or airflow_settings.yaml)") from None
        raise
    projects = state.projects.all()
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
    history = timedelta(days=float(settings.option("initial_history_days")))
    begin = last_sync if last_sync is not None else now - history
    return Window(begin, now).widened(settings.overlap), "catch_up"


# ----------------------------------------------------------------------------- task bodies


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


def _raw_variable(key: str) -> Any:
    from airflow.sdk import Variable

    try:
        return Variable.get(key, default=None)
    except Exception:  # no metadata DB reachable (CLI outside Airflow): environment only
        return os.environ.get(f"AIRFLOW_VAR_{key.upper()}")


def _json_object_variable(key: str) -> dict[str, Any] | None:
    """The Variable ``key`` as a JSON object; ``FatalError`` naming it when it is not one."""
    return _json_object(key, _raw_variable(key))


def _json_object(key: str, raw: Any) -> dict[str, Any] | None:
    """``raw``, the text of Variable ``key``, as a JSON object (``None`` when unset)."""
    if raw in (None, ""):
        return None
    if isinstance(raw, dict):
        return raw
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise FatalError(
            f"Variable '{key}' is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno}): "
            f"fix it in the UI or in AIRFLOW_VAR_{key.upper()}, then clear the task"
        ) from None
    if not isinstance(value, dict):
        raise FatalError(f"Variable '{key}' must be a JSON object, not {type(value).__name__}")
    return value


def check_configuration(name: str) -> SourceSettings:
    """Read the source's settings the way the steps will, failing at once (no retries) with
    the Variable's name when it is not valid JSON or names an unknown setting or backend."""
    settings = settings_for(name)
    config = _json_object_variable("vector_sync_config") or {}
    for key, allowed in (("embedder", ("hashing", "openai")), ("store", ("lancedb", "pinecone"))):
        if key in config and config[key] not in allowed:
            raise FatalError(f"setting '{key}' of Variable vector_sync_config is {config[key]!r}: use one of {', '.join(allowed)}")
    return settings


def parse_time_settings(name: str) -> SourceSettings:
    """Settings for building the DAG: environment overrides only (no DB while parsing). A
    broken override must not take every source's DAG down with the file: the DAG is built
    with the defaults, and its tasks fail at once naming the Variable."""
    try:
        return source_settings(name, _env_overrides(name))
    except (ValueError, FatalError) as exc:
        log.warning("ignoring AIRFLOW_VAR_VECTOR_SYNC_%s while parsing: %s", name.upper(), exc)
        return source_settings(name)


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


def on_task_failure(context: Mapping[str, Any]) -> None:
    """A task failed for good (Airflow calls this after the last try, not on retries): keep
    a ``sync_failures`` row, mark the window failed in ``sync_runs``, and alert (Slack, email)."""
    from vector_sync import alerts

    task_instance = context.get("ti") or context.get("task_instance")
    dag_id = getattr(context.get("dag"), "dag_id", "") or getattr(task_instance, "dag_id", "") or ""
    name = dag_id.removeprefix("vector_sync_")
    # A prune or permission run (vector_sync_prune_<source>, vector_sync_permissions_<source>)
    # syncs no window: its failure is recorded and alerted, but must not mark a window failed.
    from vector_sync.airflow_maintenance import MAINTENANCE_KINDS

    kind, _, rest = name.partition("_")
    is_sync = kind not in MAINTENANCE_KINDS or not rest
    name = name if is_sync else rest
    task_id = getattr(task_instance, "task_id", "") or ""
    run_id = context.get("run_id", "") or getattr(task_instance, "run_id", "")
    try_number = int(getattr(task_instance, "try_number", 0) or 0)
    secrets = connection_secrets(name)
    message = alerts.summarize_error(context.get("exception"), secrets)
    now = datetime.now(timezone.utc)
    window: Window | None = None
    try:
        runtime = Runtime()
        if is_sync:
            window = _failed_window(context, name, now)
        runtime.state.runs.record_failure(
            source=name,
            run_id=run_id,
            task_id=task_id,
            window_start=window.start if window else None,
            window_end=window.end if window else None,
            error_message=message,
            try_number=try_number,
            occurred_at=now,
        )
        if window is not None:
            from vector_sync import pipeline

            pipeline.record(runtime.state, name, run_id, window, now, {}, status="failed", error_message=message)
    except Exception as exc:  # the alert below must go out even when the state DB is down
        log.error("could not record the failure of %s.%s: %s", dag_id, task_id, alerts.scrub(str(exc), secrets))
    try:
        if window is None and is_sync:
            window = _interval_window(context)
        alert = alerts.failure_alert(
            source=name,
            dag_id=dag_id,
            task_id=task_id,
            run_id=run_id,
            window_start=window.start if window else None,
            window_end=window.end if window else None,
            error=message,
            try_number=try_number,
            max_tries=getattr(task_instance, "max_tries", None),
            log_url=getattr(task_instance, "log_url", None),
        )
        alerts.deliver(alert, context)
    except Exception as exc:  # never hide the original failure
        log.error("could not send the failure alert of %s.%s: %s", dag_id, task_id, alerts.scrub(str(exc), secrets))


def _failed_window(context: Mapping[str, Any], name: str, now: datetime) -> Window:
    """The failed run's window: exactly what the plan chose when it got that far, else the
    window it would have chosen."""
    task_instance = context.get("ti") or context.get("task_instance")
    if getattr(task_instance, "task_id", "") != "plan":
        try:
            parts = task_instance.xcom_pull(task_ids="plan")
            if parts and parts[0].get("plan", {}).get("window"):
                return Window.from_json(parts[0]["plan"]["window"])
        except Exception:
            log.debug("no plan result to read the window from", exc_info=True)
    try:
        settings = settings_for(name)
    except Exception:
        settings = source_settings(name)
    return resolve_window(context, settings, Runtime().state.runs.last_sync(name), now)[0]


def _interval_window(context: Mapping[str, Any]) -> Window | None:
    start, end = context.get("data_interval_start"), context.get("data_interval_end")
    return Window(start, end) if start is not None and end is not None and start < end else None


# Connections every run may touch besides its source's: state DB, embedder, store.
BACKEND_CONN_IDS = {"vector_sync_db": "vector_sync_db", "openai_conn_id": "openai_default", "pinecone_conn_id": "pinecone_default"}
# Extra fields whose values are secrets whatever their shape.
_SECRET_KEY_WORDS = ("token", "secret", "key", "password", "passwd", "credential", "auth")


def connection_ids(name: str | None) -> list[str]:
    """Every connection a run of source ``name`` uses: its own, the others its options name
    (``*_conn_id``: Tempo reads Jira through ``jira_conn_id``), and the backends' (state DB,
    embedder, store). ``None``: those of every registered source."""
    from vector_sync.sources import registered_sources

    names = [name] if name else registered_sources()
    ids: list[str] = []
    for source in names:
        try:
            settings = settings_for(source)
        except Exception:  # a broken Variable: the defaults still name the connections
            settings = source_settings(source)
        ids.append(settings.conn_id)
        ids.extend(str(v) for k, v in settings.options.items() if k.endswith("_conn_id") and v)
    try:
        backend_options = (_json_object_variable("vector_sync_config") or {}).get("options") or {}
    except Exception:
        backend_options = {}
    ids.extend(str(backend_options.get(key) or default) for key, default in BACKEND_CONN_IDS.items())
    return list(dict.fromkeys(ids))


def connection_secrets(name: str | None) -> list[str]:
    """Secret values of every connection ``name``'s run uses (see ``connection_ids``), so a
    failure text is scrubbed of them whatever their shape, even where Airflow's masker has
    not seen them (the password of a connection another process read)."""
    from airflow.sdk import BaseHook

    values: list[str] = []
    for conn_id in connection_ids(name):
        try:
            conn = BaseHook.get_connection(conn_id)
        except Exception:  # not defined: nothing of it can leak
            continue
        values.append(conn.password or "")
        try:
            extra = conn.extra_dejson or {}
        except Exception:
            extra = {}
        values.extend(_secret_values(extra))
    return [v for v in dict.fromkeys(values) if v]


def _secret_values(extra: Any, secret: bool = False) -> Iterator[str]:
    """String values under secret-sounding keys of a connection's extra, at any depth."""
    if isinstance(extra, Mapping):
        for key, value in extra.items():
            yield from _secret_values(value, secret or any(word in str(key).lower() for word in _SECRET_KEY_WORDS))
    elif isinstance(extra, (list, tuple)):
        for value in extra:
            yield from _secret_values(value, secret)
    elif secret and isinstance(extra, str):
        yield extra


def announce_recovery(name: str, ref: Mapping[str, Any], result: Mapping[str, Any]) -> None:
    """After a successful record step that resolved open failures: post "recovered", with the
    windows still failed (they keep ``last_sync`` back until cleared)."""
    from vector_sync import alerts

    resolved = int(result.get("resolved_failures") or 0)
    if resolved <= 0:
        return
    try:
        window = Window.from_json(ref["window"])
        try:
            failed = [tuple(w) for w in Runtime().state.runs.failed_windows(name)]
        except Exception:
            failed = []
        alerts.deliver(
            alerts.recovered_alert(
                source=name,
                run_id=ref.get("run_id", ""),
                window_start=window.start,
                window_end=window.end,
                resolved=resolved,
                last_sync=result.get("last_sync"),
                failed_windows=failed,
            )
        )
    except Exception as exc:
        log.error("could not send the recovery notice of %s: %s", name, alerts.scrub(str(exc)))


# ----------------------------------------------------------------------------- DAGs


class ReplayRefused(ValueError):
    """A ``dag.test``/``airflow dags test`` replay that would take a future scheduled run's
    logical date (or, without one, clear every run of the DAG)."""


def replay_interval(timetable: Any, date: datetime, now: datetime) -> tuple[datetime, datetime]:
    """The interval ``dag.test(logical_date=date)`` replays: the latest complete one ending at
    or before ``date`` (Airflow's manual-run rule, unchanged). Refused when it ends after
    ``now``: the scheduled run of that interval would find its logical date taken and skip it,
    leaving the rest of the interval unsynced."""
    from airflow.sdk import timezone as airflow_timezone
    from airflow.serialization.encoders import coerce_to_core_timetable

    interval = coerce_to_core_timetable(timetable).infer_manual_data_interval(run_after=airflow_timezone.coerce_datetime(date))
    start, end = interval.start, interval.end
    if end > now:
        raise ReplayRefused(
            f"refusing to replay {start.isoformat()} .. {end.isoformat()}: that interval is not over yet (now "
            f"{now.isoformat()}), and its scheduled run would find logical date {start.isoformat()} taken and never run. "
            "Replay a date up to now, trigger without a logical date (catches up to now), or trigger with conf "
            '{"start": ISO, "end": ISO} and no logical date'
        )
    return start, end


@contextmanager
def _runs_as_scheduled(start: datetime, end: datetime) -> Iterator[None]:
    """Inside ``dag.test``: the run it creates covers ``[start, end)`` with logical date
    ``start``, as the scheduler's own run of that interval would (``dag.test`` asks the
    timetable for the interval *ending* at the logical date it is given). A run with the same
    run id but another logical date (an earlier replay since moved by
    ``vector_sync.schedule.repair_replays``) is replaced, as ``dag.test`` replaces the run at
    its logical date."""
    from unittest import mock

    import airflow.models.dagrun as dagrun_module
    from sqlalchemy import delete

    from airflow.timetables.base import DataInterval

    original = dagrun_module.get_or_create_dagrun

    def get_or_create_dagrun(**kwargs: Any) -> Any:
        session = kwargs["session"]
        session.execute(
            delete(dagrun_module.DagRun).where(
                dagrun_module.DagRun.dag_id == kwargs["dag"].dag_id,
                dagrun_module.DagRun.run_id == kwargs["run_id"],
                dagrun_module.DagRun.logical_date.is_distinct_from(start),
            ).execution_options(synchronize_session=False)
        )
        session.commit()
        return original(**{**kwargs, "logical_date": start, "data_interval": DataInterval(start=start, end=end)})

    with mock.patch.object(dagrun_module, "get_or_create_dagrun", get_or_create_dagrun):
        yield


@functools.cache
def _source_dag_class() -> type:
    """``DAG`` whose ``test()`` (so ``airflow dags test``) never blocks the schedule, and works
    with a Deadline Alert.

    - Airflow gives a run made with a logical date the interval *ending* at that date, so
      ``manual__00:30`` covers ``[00:00, 00:30)`` and holds 00:30, the logical date of the next
      scheduled run, which the scheduler then skips forever ("run already exists"). Here the run
      replays the same interval but holds its *start*, the logical date the scheduler gives that
      interval: when the scheduler reaches it, it sees the interval done and moves on. A date in
      the future is refused (:func:`replay_interval`), and so is ``logical_date=None``: Airflow
      3.3.2's ``dag.test`` then clears the task instances of every run of the DAG and replaces
      an arbitrary run without logical date. Trigger (UI, REST, ``airflow dags trigger``) makes
      runs without logical date.
    - Airflow 3.3.2's ``dag.test()`` fails as soon as a run of a DAG with a Deadline Alert
      succeeds: ``DagRun.update_state`` looks the alerts up by id, but ``dag.test``'s
      re-serialized copy holds their definitions ("'dict' object has no attribute 'hex'").
      ``dag.test`` never evaluates deadlines anyway (no scheduler loop), so the test run leaves
      the alert out; scheduled, backfill and triggered runs keep it.
    """
    from airflow.sdk import DAG
    from airflow.sdk.definitions._internal.types import NOTSET, is_arg_set

    class SourceDAG(DAG):
        def test(self, run_after: datetime | None = None, logical_date: Any = NOTSET, *args: Any, **kwargs: Any) -> Any:
            if logical_date is None:
                raise ReplayRefused(
                    f"{self.dag_id}: dag.test(logical_date=None) would clear every run's task instances (Airflow 3.3.2); "
                    'give a date, or trigger the DAG (UI, `airflow dags trigger`, conf {"start", "end"} for a window)'
                )
            now = datetime.now(timezone.utc)
            start, end = replay_interval(self.timetable, logical_date if is_arg_set(logical_date) else now, now)
            log.info("%s: replaying %s .. %s as logical date %s (that interval's scheduled date)", self.dag_id, start, end, start)
            deadline, self.deadline = self.deadline, None
            try:
                with _runs_as_scheduled(start, end):
                    return super().test(run_after, start, *args, **kwargs)
            finally:
                self.deadline = deadline

    SourceDAG.__module__ = __name__
    SourceDAG.__qualname__ = "SourceDAG"
    return SourceDAG


def build_source_dag(name: str) -> Any:
    """``vector_sync_<name>``: plan >> fetch (mapped) >> filter_active_projects >> embed (mapped)
    >> upsert (mapped) >> record.

    Every task retries with exponential backoff and jitter (``RETRY_DEFAULTS``, tuned per
    task in ``TASK_RETRIES``); a bad setting, a missing connection or rejected credentials
    fail at once instead. A task that fails for good alerts (``on_task_failure``); a run
    still unfinished ``deadline`` after it was queued alerts through a Deadline Alert.
    """
    from airflow.sdk import AsyncCallback, CronDataIntervalTimetable, DeadlineAlert, DeadlineReference, Param, task

    from vector_sync.alerts import deadline_missed, minutes

    DAG = _source_dag_class()

    settings = parse_time_settings(name)
    default_args = {**RETRY_DEFAULTS, "on_failure_callback": [on_task_failure]}
    late = DeadlineAlert(
        reference=DeadlineReference.DAGRUN_QUEUED_AT,
        interval=settings.deadline,
        # Runs in the triggerer; kwargs are not templated, the callback builds its text.
        callback=AsyncCallback(deadline_missed, kwargs={"source": name, "deadline_minutes": minutes(settings.deadline)}),
        name=f"vector_sync_{name}_late",
    )
    with DAG(
        dag_id=f"vector_sync_{name}",
        description=f"Incremental sync of {name} into the vector index",
        schedule=CronDataIntervalTimetable(settings.schedule, timezone="UTC"),
        start_date=DAG_START,
        catchup=False,
        max_active_runs=1,
        default_args=default_args,
        deadline=late,
        tags=["vector-sync", name],
        params={
            "start": Param(None, type=["null", "string"], description="Replay: window start (ISO 8601). Empty: see README 'Windows'."),
            "end": Param(None, type=["null", "string"], description="Replay: window end (ISO 8601, exclusive)."),
        },
        doc_md=__doc__,
    ) as dag:

        def checked() -> None:
            with fail_fast():
                check_configuration(name)

        @task(task_id="plan", pool=settings.pool, **TASK_RETRIES["plan"])
        def plan(**context: Any) -> list[dict[str, Any]]:
            checked()
            return run_plan(name, context)

        @task(task_id="fetch", pool=settings.pool, map_index_template="{{ task.op_kwargs['part'].get('label', task.op_kwargs['part']['part']) }}", **TASK_RETRIES["fetch"])
        def fetch(part: dict[str, Any]) -> dict[str, Any]:
            checked()
            return run_fetch(name, part)

        @task(task_id="filter_active_projects", **TASK_RETRIES["filter_active_projects"])
        def filter_active_projects(fetched: list[dict[str, Any]]) -> list[dict[str, Any]]:
            checked()
            return run_filter(name, _materialize(fetched))

        @task(task_id="embed", pool="openai_api", **TASK_RETRIES["embed"])
        def embed(batch: dict[str, Any]) -> dict[str, Any]:
            checked()
            return run_embed(name, batch)

        @task(task_id="upsert", pool="pinecone_api", **TASK_RETRIES["upsert"])
        def upsert(batch: dict[str, Any]) -> dict[str, Any]:
            checked()
            return run_upsert(name, batch)

        @task(task_id="record", **TASK_RETRIES["record"])
        def record(fetched: list[dict[str, Any]], upserted: list[dict[str, Any]]) -> dict[str, Any]:
            checked()
            result = run_record(name, _materialize(fetched), _materialize(upserted))
            announce_recovery(name, result, result)
            return result

        # Fetch partitions and embed/upsert batches are mapped tasks: several workers share one
        # window, and a failed batch retries alone (its upsert never re-fetches or re-embeds).
        fetched = fetch.expand(part=plan())
        upserted = upsert.expand(batch=embed.expand(batch=filter_active_projects(fetched)))
        record(fetched, upserted)
    return dag


def _materialize(results: Any) -> list[Any]:
    """The mapped tasks' results as a list. Indexing by length: iterating Airflow's lazy
    sequence probes one offset past the end and logs a spurious "XCom not found" error."""
    return [results[i] for i in range(len(results))]


# ----------------------------------------------------------------------------- health


HEALTH_DAG_ID = "vector_sync_health"
HEALTH_SCHEDULE = "*/15 * * * *"


def task_schedules(sources: list[str], now: datetime) -> dict[str, dict[str, Any]]:
    """Each sync DAG's schedule as a task sees it: the execution API through the Task SDK
    (``next_dagrun``, paused, run counts; a task has no metadata DB). Empty when it cannot
    ask (outside a task): freshness is checked all the same."""
    from airflow.sdk import get_current_context

    from vector_sync.schedule import assess_sources, facts_from_task, sync_dag_id

    try:
        # A scheduler ran this check, except under dag.test (in-process, none needed): there,
        # "no run created" says nothing about the sync DAGs' schedules.
        dag_run = get_current_context().get("dag_run")
        scheduled_here = getattr(dag_run, "triggering_user_name", None) != DAG_TEST_USER
        return assess_sources(sources, facts_from_task([sync_dag_id(s) for s in sources], scheduler_alive=scheduled_here), now)
    except Exception as exc:
        log.warning("could not read the sync DAGs' schedules through the execution API: %s", exc)
        return {}


def run_health_check(now: datetime | None = None, schedules: Mapping[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """Every registered source's status (with its DAG's schedule: stuck?) against the incident
    book; alerts once per incident."""
    from vector_sync import alerts
    from vector_sync.health import HealthBook, HealthEvent, run_check
    from vector_sync.sources import registered_sources
    from vector_sync.status import source_status

    runtime = Runtime()
    state, store = runtime.state, runtime.store()
    book = HealthBook(state.engine)
    book.migrate()
    now = now or datetime.now(timezone.utc)
    names = list(registered_sources())
    schedules = task_schedules(names, now) if schedules is None else schedules
    statuses = [source_status(name, state, store, now, schedules.get(name)) for name in names]

    def notify(event: HealthEvent) -> bool:
        alert = alerts.health_alert(
            source=event.source, health=event.health, opened=event.kind == "opened", detail=event.status.to_json(), since=event.since
        )
        return bool(alerts.deliver(alert))

    summary = run_check(statuses, book, notify, now)
    log.info("health: %s", summary)
    return summary


def on_health_failure(context: Mapping[str, Any]) -> None:
    """The watcher itself failed: say so (nothing else would)."""
    from vector_sync import alerts

    task_instance = context.get("ti") or context.get("task_instance")
    alert = alerts.Alert(
        kind=alerts.FAILURE,
        source="health",
        title="the freshness check failed: stale sources would go unnoticed",
        facts=(("Task", f"{HEALTH_DAG_ID}.{getattr(task_instance, 'task_id', '?')}"), ("Run", str(context.get("run_id", "")))),
        detail=alerts.summarize_error(context.get("exception"), connection_secrets(None)),
        link=getattr(task_instance, "log_url", None),
    )
    alerts.deliver(alert, context)


def build_health_dag() -> Any:
    """``vector_sync_health``: every 15 minutes, each registered source's freshness."""
    from airflow.sdk import DAG, CronTriggerTimetable, task

    with DAG(
        dag_id=HEALTH_DAG_ID,
        description="Freshness of every source: one alert per stale/failed incident, one on recovery",
        # A check at a point in time, not over an interval.
        schedule=CronTriggerTimetable(HEALTH_SCHEDULE, timezone="UTC"),
        start_date=DAG_START,
        catchup=False,
        max_active_runs=1,
        default_args={
            "retries": 2,
            "retry_delay": timedelta(seconds=30),
            "retry_exponential_backoff": 2.0,
            "max_retry_delay": timedelta(minutes=5),
            "on_failure_callback": [on_health_failure],
        },
        tags=["vector-sync", "health"],
        doc_md=run_health_check.__doc__,
    ) as dag:

        @task(task_id="check_freshness")
        def check_freshness() -> dict[str, Any]:
            return run_health_check()

        check_freshness()
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
    from vector_sync.prune import prune

    runtime = runtime or Runtime()
    settings = settings_for(name)
    source = build_source(name, settings, runtime.state)
    return prune(source, runtime.state, runtime.store(), max_share=settings.option("prune_max_share"), force=force, dry_run=dry_run)
