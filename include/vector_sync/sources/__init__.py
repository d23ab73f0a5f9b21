"""Source look-ups, derived from the one registry of ``SourceSpec`` (``vector_sync.specs``);
only implemented sources are registered (no placeholder DAGs)."""

from __future__ import annotations

from vector_sync.sources.base import Source
from vector_sync.specs import REGISTRY, load


def registered_sources() -> list[str]:
    return list(REGISTRY)


def source_class(name: str) -> type[Source]:
    if name not in REGISTRY:
        raise ValueError(f"source '{name}' is not registered; registered: {', '.join(REGISTRY)}")
    return load(REGISTRY[name].source)
