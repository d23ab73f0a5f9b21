"""The backends a command runs on, built without importing Airflow when none is needed.

``runtime()`` resolves what ``vector_sync.airflow.settings.runtime_config`` resolves — the
embedded default, upgraded by the connections ``vector_sync_db``, ``openai_default`` and
``pinecone_default`` and overridden by the Variable ``vector_sync_config`` — from the
environment, ``airflow_settings.yaml`` and the metadata DB read with plain SQL
(``vector_sync.cli.metadata``). Only a Postgres state DB (its URL comes from Airflow's
Postgres hook) or a configuration this reader cannot follow falls back to Airflow; the
OpenAI and Pinecone clients still come from Airflow's hooks, on first use.
"""

from __future__ import annotations

import logging
import os
from dataclasses import replace
from typing import Any

from vector_sync.cli.metadata import AirflowMetadata, NeedsAirflow, NotMigrated

log = logging.getLogger(__name__)

STATE_CONN, OPENAI_CONN, PINECONE_CONN = "vector_sync_db", "openai_default", "pinecone_default"


def load_settings_file() -> dict[str, list[dict[str, Any]]]:
    """``airflow_settings.yaml``'s connections and Variables, exposed as ``AIRFLOW_CONN_*`` /
    ``AIRFLOW_VAR_*`` unless the environment sets them (as ``vector-sync sync`` always did)."""
    from vector_sync.airflow.bootstrap import export_connections, export_variables, read_settings

    settings = read_settings()
    export_connections(settings)
    export_variables(settings)
    return settings


def runtime(seed_projects: bool = True, embeds: bool = True) -> Any:
    """A ``vector_sync.airflow.backends.Runtime`` on the resolved configuration; a fresh state
    DB gets the settings file's projects, as ``settings load`` would give it. ``embeds=False``:
    for commands that touch only the state DB (its embedder is then the default, unchecked)."""
    from vector_sync.airflow.backends import Runtime
    from vector_sync.airflow.bootstrap import projects_from

    if embeds:
        from vector_sync.cli.fastimport import import_lancedb

        import_lancedb()
    settings = load_settings_file()
    built = Runtime(backend_config(detect_embedder=embeds))
    projects = projects_from(settings)
    if seed_projects and projects and not built.state.projects.known():
        built.state.projects.upsert(projects)
    return built


def metadata() -> AirflowMetadata | None:
    """The metadata DB, or None when only Airflow can find it."""
    try:
        return AirflowMetadata.locate()
    except NeedsAirflow as exc:
        log.info("reading Airflow's configuration through Airflow: %s", exc)
        return None


def backend_config(detect_embedder: bool = True) -> Any:
    """The ``RuntimeConfig``, as ``runtime_config`` decides it (see the module docstring)."""
    from vector_sync.airflow.settings import CONFIG_VARIABLE, _json_object, runtime_config
    from vector_sync.runtime import embedded_config

    meta = metadata()
    if meta is None:
        return runtime_config()
    try:
        raw = os.environ.get(f"AIRFLOW_VAR_{CONFIG_VARIABLE.upper()}")
        stored = set()
        wanted = [c for c in (STATE_CONN, OPENAI_CONN, PINECONE_CONN) if f"AIRFLOW_CONN_{c.upper()}" not in os.environ]
        if meta.migrated:
            raw = raw if raw is not None else meta.variable(CONFIG_VARIABLE)
            stored = meta.connection_ids(wanted)
        else:
            log.warning(
                "Airflow's metadata DB is not migrated (run `airflow db migrate`): Variables and connections from the environment only"
            )
    except NeedsAirflow as exc:
        log.info("reading Airflow's configuration through Airflow: %s", exc)
        return runtime_config()
    except NotMigrated:
        raw = None
    overrides = _json_object(CONFIG_VARIABLE, raw) or {}  # FatalError naming the Variable

    def has(conn_id: str) -> bool:
        return f"AIRFLOW_CONN_{conn_id.upper()}" in os.environ or conn_id in stored

    if has(STATE_CONN):
        return runtime_config()  # the Postgres URL comes from Airflow's hook
    config = embedded_config(detect_embedder)
    if "embedder" not in overrides and has(OPENAI_CONN):
        config = replace(config, embedder="openai")
    if "store" not in overrides and has(PINECONE_CONN):
        config = replace(config, store="pinecone")
    return config.with_overrides(overrides)


def check_variables(*keys: str) -> None:
    """``FatalError`` naming the first of the JSON-object Variables ``keys`` that is broken,
    read as ``backend_config`` reads (environment, then the metadata DB), before Airflow reads
    them: Airflow's masker would log a warning about a short broken value first."""
    from vector_sync.airflow.settings import _json_object

    meta = metadata()
    for key in keys:
        raw = os.environ.get(f"AIRFLOW_VAR_{key.upper()}")
        if raw is None and meta is not None:
            try:
                raw = meta.variable(key) if meta.migrated else None
            except (NeedsAirflow, NotMigrated):
                continue  # Airflow reads it, and says so when it is broken
        _json_object(key, raw)


def schedules(sources: list[str], now: Any) -> dict[str, dict[str, Any]]:
    """Each source's sync DAG schedule (``vector_sync.airflow.schedule.assess``), from the
    metadata DB read directly; empty when it cannot be read (unmigrated: no DAG known)."""
    from vector_sync.airflow.schedule import assess_sources, metadata_schedules, sync_dag_id

    meta = metadata()
    if meta is None:
        return metadata_schedules(sources, now)
    try:
        if not meta.migrated:
            return {}
        return assess_sources(sources, meta.schedule_facts([sync_dag_id(s) for s in sources], now), now)
    except NeedsAirflow:
        return metadata_schedules(sources, now)
    except Exception as exc:  # as metadata_schedules: the schedule is optional in a status
        log.warning("schedules unavailable: %s", exc)
        return {}
