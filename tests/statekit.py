"""The state store's test backends: a SQLite file, or a fresh schema of a throwaway PostgreSQL
database per test session (dropped afterwards), so parallel runs never collide. An unreachable
server fails the ``postgres`` cases unless ``VECTOR_SYNC_SKIP_POSTGRES=1``. Test modules import
the fixtures from here (``backend``, ``pg_database``, ``store``)."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass

import pytest
import sqlalchemy as sa

from vector_sync.state import StateStore, default_state_url

PG_ADMIN_URL = os.environ.get("VECTOR_SYNC_TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")
SKIP_POSTGRES = os.environ.get("VECTOR_SYNC_SKIP_POSTGRES") == "1"


@pytest.fixture(scope="session")
def pg_database() -> sa.URL:
    """A throwaway database for this test session on the local PostgreSQL server."""
    if SKIP_POSTGRES:
        pytest.skip("VECTOR_SYNC_SKIP_POSTGRES=1")
    admin_url = sa.make_url(PG_ADMIN_URL)
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError as exc:
        admin.dispose()
        pytest.fail(
            f"PostgreSQL is unreachable at {admin_url.render_as_string(hide_password=True)}: {exc.orig}. "
            "Start it, point VECTOR_SYNC_TEST_POSTGRES_URL at one, or set VECTOR_SYNC_SKIP_POSTGRES=1."
        )
    name = f"vs_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield admin_url.set(database=name)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@dataclass
class Backend:
    """Where one test's state lives: a SQLite file or a PostgreSQL schema."""

    name: str
    url: sa.URL
    schema: str | None = None

    def url_with(self, session_timezone: str | None = None, driver: str | None = None) -> sa.URL:
        url = self.url
        if self.name == "postgresql":
            options = f"-c search_path={self.schema}"
            if session_timezone:
                options += f" -c timezone={session_timezone}"
            url = url.update_query_dict({"options": options})
            if driver:
                url = url.set(drivername=f"postgresql+{driver}")
        return url

    def store(self, **kwargs: str) -> StateStore:
        return StateStore(self.url_with(**kwargs))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend(request, tmp_path) -> Backend:
    if request.param == "sqlite":
        yield Backend("sqlite", sa.make_url(default_state_url(tmp_path)))
        return
    db_url = request.getfixturevalue("pg_database")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(db_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    try:
        yield Backend("postgresql", db_url, schema)
    finally:
        with engine.connect() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        engine.dispose()


@pytest.fixture()
def store(backend):
    with backend.store() as s:
        s.migrate()
        yield s
