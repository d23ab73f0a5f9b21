"""Source look-ups, derived from the one registry of ``SourceSpec`` (``vector_sync.specs``);
only implemented sources are registered (no placeholder DAGs)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from vector_sync.config import SourceSettings
from vector_sync.sources.base import Source
from vector_sync.specs import REGISTRY, load


def registered_sources() -> list[str]:
    return list(REGISTRY)


def source_class(name: str) -> type[Source]:
    if name not in REGISTRY:
        raise ValueError(f"source '{name}' is not registered; registered: {', '.join(REGISTRY)}")
    return load(REGISTRY[name].source)


def make_source(name: str, client: Any, settings: SourceSettings, state: Any) -> Source:
    """Source ``name`` on ``client``, with the known projects of ``state`` (a ``StateStore``) as
    options and whatever else it keeps there across runs (``Source.state_options``): what the
    Airflow layer, the CLI and the tests all build a source with."""
    cls = source_class(name)
    return cls(client, with_projects(settings, state.projects.all()), **cls.state_options(state))


def with_projects(settings: SourceSettings, projects: Iterable[Any]) -> SourceSettings:
    """``settings`` whose options list the known projects (``key``, ``name``, ``is_active``
    records), which the sources' ``ProjectTagger`` looks for in text."""
    projects = list(projects)
    return replace(
        settings,
        options={
            **settings.options,
            "project_keys": [p.key for p in projects],
            "projects": [{"key": p.key, "name": p.name, "is_active": p.is_active} for p in projects],
        },
    )
