"""The one reader of Airflow Variables and connections.

Source settings (``vector_sync_<source>``), backend choice (``vector_sync_config``), alert
settings (``vector_sync_alerts``) and the connections a run touches are all read here, so a
broken Variable fails the same way everywhere: a ``FatalError`` naming it, which the tasks
turn into a failure without retries. Parse-time reads use the environment only (no metadata
DB while the DAG file is parsed).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator, Mapping
from dataclasses import replace
from typing import Any

from vector_sync.alerts import ALERTS_VARIABLE, AlertSettings
from vector_sync.config import SourceSettings
from vector_sync.errors import FatalError
from vector_sync.runtime import RuntimeConfig, embedded_config
from vector_sync.specs import source_settings

log = logging.getLogger(__name__)

CONFIG_VARIABLE = "vector_sync_config"
# Connections every run may touch besides its source's: state DB, embedder, store.
BACKEND_CONN_IDS = {"vector_sync_db": "vector_sync_db", "openai_conn_id": "openai_default", "pinecone_conn_id": "pinecone_default"}
# Extra fields whose values are secrets whatever their shape.
_SECRET_KEY_WORDS = ("token", "secret", "key", "password", "passwd", "credential", "auth")


# ----------------------------------------------------------------------------- Variables


def raw_variable(key: str) -> Any:
    """The Variable ``key`` as stored (``None`` when unset); the environment only when no
    metadata DB is reachable (the CLI outside Airflow)."""
    from airflow.sdk import Variable

    try:
        return Variable.get(key, default=None)
    except Exception:
        return os.environ.get(f"AIRFLOW_VAR_{key.upper()}")


def json_object_variable(key: str) -> dict[str, Any] | None:
    """The Variable ``key`` as a JSON object; ``FatalError`` naming it when it is not one."""
    return _json_object(key, raw_variable(key))


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


def _env_overrides(name: str) -> dict[str, Any] | None:
    """Parse-time overrides come from the environment only (no DB access while parsing)."""
    key = f"vector_sync_{name}"
    return _json_object(key, os.environ.get(f"AIRFLOW_VAR_{key.upper()}"))


def settings_for(name: str) -> SourceSettings:
    """The source's settings with the Variable ``vector_sync_<name>`` applied (run time);
    ``FatalError`` naming the Variable when it is broken, so the task fails without retries."""
    overrides = json_object_variable(f"vector_sync_{name}")
    try:
        return source_settings(name, overrides)
    except ValueError as exc:
        raise FatalError(str(exc)) from None


def settings_or_defaults(name: str) -> SourceSettings:
    """``settings_for``, or the defaults when the Variable is broken: for callers that must go
    on (a failure callback, the list of connections to scrub from its text)."""
    try:
        return settings_for(name)
    except Exception:
        return source_settings(name)


def check_configuration(name: str) -> SourceSettings:
    """Read the source's settings the way the steps will, failing at once (no retries) with
    the Variable's name when it is not valid JSON or names an unknown setting or backend."""
    settings = settings_for(name)
    config = json_object_variable(CONFIG_VARIABLE) or {}
    for key, allowed in (("embedder", ("minilm", "wordllama", "hashing", "openai")), ("store", ("lancedb", "pinecone"))):
        if key in config and config[key] not in allowed:
            raise FatalError(f"setting '{key}' of Variable {CONFIG_VARIABLE} is {config[key]!r}: use one of {', '.join(allowed)}")
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


def alert_settings() -> AlertSettings:
    """The Variable ``vector_sync_alerts`` (metadata DB or ``AIRFLOW_VAR_VECTOR_SYNC_ALERTS``);
    an invalid one never silences an alert (see ``AlertSettings.from_json``)."""
    return AlertSettings.from_json(raw_variable(ALERTS_VARIABLE))


# ----------------------------------------------------------------------------- connections


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
    overrides = json_object_variable(CONFIG_VARIABLE) or {}
    if has_connection("vector_sync_db"):
        from airflow.providers.postgres.hooks.postgres import PostgresHook

        url = PostgresHook(postgres_conn_id="vector_sync_db").sqlalchemy_url
        config = replace(config, state_url=url.render_as_string(hide_password=False))
    if "embedder" not in overrides and has_connection("openai_default"):
        config = replace(config, embedder="openai")
    if "store" not in overrides and has_connection("pinecone_default"):
        config = replace(config, store="pinecone")
    return config.with_overrides(overrides)


def connection_ids(name: str | None) -> list[str]:
    """Every connection a run of source ``name`` uses: its own, the others its options name
    (``*_conn_id``: Tempo reads Jira through ``jira_conn_id``), and the backends' (state DB,
    embedder, store). ``None``: those of every registered source."""
    from vector_sync.sources import registered_sources

    names = [name] if name else registered_sources()
    ids: list[str] = []
    for source in names:
        settings = settings_or_defaults(source)  # a broken Variable: the defaults still name the connections
        ids.append(settings.conn_id)
        ids.extend(str(v) for k, v in settings.options.items() if k.endswith("_conn_id") and v)
    try:
        backend_options = (json_object_variable(CONFIG_VARIABLE) or {}).get("options") or {}
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
