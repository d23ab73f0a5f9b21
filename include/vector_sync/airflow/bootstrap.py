"""Load ``airflow_settings.yaml`` (the Astro CLI's format) into plain Airflow.

The Astro CLI applies this file itself; plain Airflow does not, so ``vector-sync settings
load`` writes its connections, pools and variables into the metadata DB (idempotently) and
seeds the ``projects`` table from the ``vector_sync_projects`` variable. The CLI also reads
the file's connections directly (as ``AIRFLOW_CONN_*``) for ``vector-sync sync`` outside
the scheduler, so both paths resolve the same connections.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import yaml

log = logging.getLogger(__name__)

SANDBOX_URL = "http://127.0.0.1:8765"
DEFAULT_FILE = Path(__file__).resolve().parents[3] / "airflow_settings.yaml"


def read_settings(path: str | Path | None = None) -> dict[str, list[dict[str, Any]]]:
    """The ``airflow:`` section: connections, pools and variables (each a list)."""
    file = Path(path or os.environ.get("VECTOR_SYNC_SETTINGS_FILE") or DEFAULT_FILE)
    if not file.exists():
        return {"connections": [], "pools": [], "variables": []}
    text = file.read_text()
    # `make demo SANDBOX_PORT=...` moves the sandbox; the file's URLs follow it.
    if os.environ.get("VECTOR_SYNC_SANDBOX_URL"):
        text = text.replace(SANDBOX_URL, os.environ["VECTOR_SYNC_SANDBOX_URL"].rstrip("/"))
    data = (yaml.safe_load(text) or {}).get("airflow", {}) or {}
    return {key: list(data.get(key) or []) for key in ("connections", "pools", "variables")}


def connection_json(entry: dict[str, Any]) -> str:
    """One settings-file connection in the JSON form Airflow reads from ``AIRFLOW_CONN_*``."""
    extra = entry.get("conn_extra") or {}
    data = {
        "conn_type": entry.get("conn_type"),
        "host": entry.get("conn_host"),
        "login": entry.get("conn_login"),
        "password": entry.get("conn_password"),
        "schema": entry.get("conn_schema"),
        "port": entry.get("conn_port"),
        "extra": extra if isinstance(extra, dict) else json.loads(extra),
    }
    return json.dumps({k: v for k, v in data.items() if v not in (None, "", {})})


def export_connections(settings: dict[str, list[dict[str, Any]]]) -> list[str]:
    """Expose the file's connections as ``AIRFLOW_CONN_*`` unless the environment already
    defines them (the environment wins, as in Airflow). Returns the ids exported."""
    exported = []
    for entry in settings["connections"]:
        var = f"AIRFLOW_CONN_{entry['conn_id'].upper()}"
        if var not in os.environ:
            os.environ[var] = connection_json(entry)
            exported.append(entry["conn_id"])
    return exported


def export_variables(settings: dict[str, list[dict[str, Any]]]) -> None:
    for entry in settings["variables"]:
        os.environ.setdefault(f"AIRFLOW_VAR_{entry['variable_name'].upper()}", str(entry["variable_value"]))


def projects_from(settings: dict[str, list[dict[str, Any]]]) -> list[tuple[str, str, bool]]:
    for entry in settings["variables"]:
        if entry["variable_name"] == "vector_sync_projects":
            value = entry["variable_value"]
            rows = json.loads(value) if isinstance(value, str) else value
            return [(row["key"], row.get("name", row["key"]), bool(row.get("is_active", True))) for row in rows]
    return []


def apply_settings(settings: dict[str, list[dict[str, Any]]]) -> dict[str, int]:
    """Create or update the file's connections, pools and variables in the metadata DB."""
    from airflow.models import Connection, Pool, Variable
    from airflow.utils.session import create_session

    with create_session() as session:
        for entry in settings["connections"]:
            wanted = Connection(conn_id=entry["conn_id"], uri=None, **_connection_fields(entry))
            existing = session.query(Connection).filter(Connection.conn_id == entry["conn_id"]).one_or_none()
            if existing is None:
                session.add(wanted)
            else:
                for attr in ("conn_type", "host", "login", "schema", "port"):
                    setattr(existing, attr, getattr(wanted, attr))
                existing.set_password(wanted.password)
                existing.set_extra(wanted.extra)
        for entry in settings["pools"]:
            Pool.create_or_update_pool(
                name=entry["pool_name"],
                slots=int(entry["pool_slot"]),
                description=entry.get("pool_description", ""),
                include_deferred=False,
                session=session,
            )
    for entry in settings["variables"]:
        value = entry["variable_value"]
        Variable.set(entry["variable_name"], value if isinstance(value, str) else json.dumps(value))
    return {key: len(value) for key, value in settings.items()}


def _connection_fields(entry: dict[str, Any]) -> dict[str, Any]:
    extra = entry.get("conn_extra")
    return {
        "conn_type": entry.get("conn_type"),
        "host": entry.get("conn_host"),
        "login": entry.get("conn_login"),
        "password": entry.get("conn_password"),
        "schema": entry.get("conn_schema"),
        "port": entry.get("conn_port"),
        "extra": json.dumps(extra) if isinstance(extra, dict) else extra,
    }
