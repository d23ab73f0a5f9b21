"""The projects table: a document is synced only while one of its projects is active."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from vector_sync.state.schema import projects_table, upsert


class Project(NamedTuple):
    key: str
    name: str
    is_active: bool


@dataclass(frozen=True)
class ProjectRepository:
    """Reads and writes of ``projects``."""

    engine: Engine

    def upsert(self, rows: Iterable[tuple[str, str, bool]]) -> int:
        """Insert or update projects from ``(key, name, is_active)``; returns how many."""
        values = [{"key": key, "name": name or "", "is_active": bool(active)} for key, name, active in rows]
        with self.engine.begin() as conn:
            upsert(conn, projects_table, values, keys=["key"])
        return len({v["key"] for v in values})

    def active(self) -> set[str]:
        with self.engine.connect() as conn:
            return set(conn.scalars(sa.select(projects_table.c.key).where(projects_table.c.is_active.is_(True))))

    def known(self) -> dict[str, bool]:
        """Every project key and whether it is active."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(projects_table.c.key, projects_table.c.is_active))
            return {key: bool(active) for key, active in rows}

    def set_active(self, key: str, active: bool) -> bool:
        """Switch one project on or off; False when the key is unknown."""
        with self.engine.begin() as conn:
            stmt = projects_table.update().where(projects_table.c.key == key).values(is_active=bool(active))
            result = conn.execute(stmt)
            return result.rowcount > 0

    def all(self) -> list[Project]:
        with self.engine.connect() as conn:
            c = projects_table.c
            rows = conn.execute(sa.select(c.key, c.name, c.is_active).order_by(c.key))
            return [Project(key, name, bool(active)) for key, name, active in rows]
