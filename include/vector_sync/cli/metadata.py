"""Airflow's metadata DB read with plain SQL, for commands that must not wait for Airflow.

Importing Airflow costs seconds on a small machine; ``search``, ``status`` and ``projects
list`` need only a few facts from its DB: whether a backend connection exists, the Variable
``vector_sync_config``, and each sync DAG's schedule (``dag``, ``dag_run``, ``job``). They are
read here with SQLAlchemy Core, where Airflow would look for them (``AIRFLOW__*`` environment,
then ``airflow.cfg``). Whatever this reader cannot follow exactly (a secrets backend, a
``_CMD``/``_SECRET`` setting, a templated value, an encrypted Variable without a Fernet key)
raises ``NeedsAirflow`` and the caller asks Airflow itself.
"""

from __future__ import annotations

import configparser
import logging
import os
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from functools import cached_property
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

# Airflow's default ([scheduler] scheduler_health_check_threshold): a scheduler whose last
# heartbeat is older is not alive (airflow.jobs.job.Job.is_alive).
SCHEDULER_HEALTH_S = 30
MIGRATE_HINT = "run `airflow db migrate` (make setup does)"


class NeedsAirflow(Exception):
    """This lookup needs Airflow's own configuration machinery."""


class NotMigrated(Exception):
    """The metadata DB has no tables yet."""


def airflow_setting(section: str, key: str, default: str | None = None) -> str | None:
    """``[section] key`` as Airflow resolves the plain cases: environment, then airflow.cfg."""
    name = f"AIRFLOW__{section.upper()}__{key.upper()}"
    if name in os.environ:
        return os.environ[name]
    if f"{name}_CMD" in os.environ or f"{name}_SECRET" in os.environ:
        raise NeedsAirflow(f"{name} comes from a command or secret")
    value = _config_file().get(section, key, fallback=None)
    if value is not None and "{" in value:
        raise NeedsAirflow(f"[{section}] {key} is templated")
    return value if value is not None else default


def _config_file() -> configparser.ConfigParser:
    from vector_sync.runtime import airflow_home

    parser = configparser.ConfigParser(interpolation=None, strict=False)
    path = Path(os.environ.get("AIRFLOW_CONFIG") or airflow_home() / "airflow.cfg")
    if path.is_file():
        parser.read(path)
    return parser


def _utc(value: Any) -> datetime | None:
    """A stored time as aware UTC (SQLite returns Airflow's UTC times as naive text)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


class AirflowMetadata:
    """Read-only facts from Airflow's metadata DB at ``url``."""

    def __init__(self, url: str) -> None:
        self.url = url

    @classmethod
    def locate(cls) -> AirflowMetadata:
        """The DB Airflow would use; ``NeedsAirflow`` when a secrets backend may hold Variables."""
        from vector_sync.runtime import airflow_home

        if (airflow_setting("secrets", "backend") or "").strip():
            raise NeedsAirflow("a secrets backend is configured")
        url = airflow_setting("database", "sql_alchemy_conn") or f"sqlite:///{airflow_home() / 'airflow.db'}"
        return cls(url)

    @cached_property
    def engine(self) -> Any:
        import sqlalchemy as sa

        return sa.create_engine(self.url, poolclass=sa.pool.NullPool)

    @cached_property
    def migrated(self) -> bool:
        """Whether Airflow's tables exist (never creates a SQLite file that is not there)."""
        import sqlalchemy as sa

        if self.url.startswith("sqlite:///"):
            path = Path(self.url.removeprefix("sqlite:///").split("?", 1)[0])
            if not path.is_file() or path.stat().st_size == 0:
                return False
        try:
            return sa.inspect(self.engine).has_table("variable")
        except sa.exc.SQLAlchemyError as exc:
            raise NeedsAirflow(f"metadata DB unreadable: {exc}") from None

    def _rows(self, sql: str, **params: Any) -> list[Any]:
        import sqlalchemy as sa

        if not self.migrated:
            raise NotMigrated(f"Airflow's metadata DB ({self.engine.url.render_as_string()}) is not migrated: {MIGRATE_HINT}")
        statement = sa.text(sql)
        for key, value in params.items():
            if isinstance(value, (list, tuple)):
                statement = statement.bindparams(sa.bindparam(key, expanding=True))
        with self.engine.connect() as conn:
            return list(conn.execute(statement, params))

    def variable(self, key: str) -> str | None:
        """The Variable's stored text, decrypted with the Fernet key as Airflow would."""
        rows = self._rows("SELECT val, is_encrypted FROM variable WHERE key = :key", key=key)
        if not rows:
            return None
        value, encrypted = rows[0]
        if not encrypted or value is None:
            return value
        try:
            return self._fernet().decrypt(value.encode()).decode()
        except NeedsAirflow:
            raise
        except Exception as exc:  # a rotated or mistyped key: Airflow decides what that means
            raise NeedsAirflow(f"Variable '{key}' does not decrypt with the configured Fernet key: {type(exc).__name__}") from None

    def _fernet(self) -> Any:
        keys = [k.strip() for k in (airflow_setting("core", "fernet_key") or "").split(",") if k.strip()]
        if not keys:
            raise NeedsAirflow("encrypted Variable without a Fernet key in the configuration")
        from cryptography.fernet import Fernet, MultiFernet

        return MultiFernet([Fernet(k.encode()) for k in keys])

    def connection_ids(self, conn_ids: Iterable[str]) -> set[str]:
        """Which of ``conn_ids`` the DB defines."""
        ids = list(conn_ids)
        return {row[0] for row in self._rows("SELECT conn_id FROM connection WHERE conn_id IN :ids", ids=ids)}

    def schedule_facts(self, dag_ids: Iterable[str], now: datetime | None = None) -> dict[str, Any]:
        """``vector_sync.airflow.schedule.ScheduleFacts`` per known DAG, from the tables the
        ORM reader (``facts_from_metadata``) queries."""
        from vector_sync.airflow.schedule import ScheduleFacts

        now = now or datetime.now(timezone.utc)
        threshold = float(airflow_setting("scheduler", "scheduler_health_check_threshold") or SCHEDULER_HEALTH_S)
        beats = self._rows("SELECT latest_heartbeat FROM job WHERE job_type = 'SchedulerJob' AND state = 'running'")
        alive = any(b[0] is not None and now - _utc(b[0]) < timedelta(seconds=threshold) for b in beats)
        run_columns = "run_id, run_type, logical_date, data_interval_start, data_interval_end, state"
        out: dict[str, Any] = {}
        dags = self._rows("SELECT dag_id, is_paused, next_dagrun FROM dag WHERE dag_id IN :ids", ids=list(dag_ids))
        for dag_id, paused, next_dagrun in dags:
            active = self._rows("SELECT COUNT(*) FROM dag_run WHERE dag_id = :dag AND state IN ('queued', 'running')", dag=dag_id)[0][0]
            holder = None
            next_run = _utc(next_dagrun)
            if next_run is not None:
                # Compared as the stored value: SQLite keeps Airflow's UTC times as text.
                held = self._rows(
                    f"SELECT {run_columns} FROM dag_run WHERE dag_id = :dag AND logical_date = :at", dag=dag_id, at=next_dagrun
                )
                holder = _run_json(held[0]) if held else None
            latest = self._rows(
                f"SELECT {run_columns} FROM dag_run WHERE dag_id = :dag AND logical_date IS NOT NULL ORDER BY logical_date DESC LIMIT 1",
                dag=dag_id,
            )
            out[dag_id] = ScheduleFacts(
                dag_id, bool(paused), next_run, int(active), holder, _run_json(latest[0]) if latest else None, alive
            )
        return out


def _run_json(row: Any) -> dict[str, Any]:
    data = dict(row._mapping)
    for key in ("logical_date", "data_interval_start", "data_interval_end"):
        data[key] = _utc(data[key])
    return data
