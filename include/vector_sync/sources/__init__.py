"""Source registry: name -> class. A source joins the DAGs and the conformance suite by
being listed here; only implemented sources are registered (no placeholder DAGs)."""

from __future__ import annotations

from importlib import import_module

from vector_sync.sources.base import Source

# name -> "module:Class"; imported lazily so DAG parsing stays cheap.
REGISTRY: dict[str, str] = {
    "jira": "vector_sync.sources.jira:JiraSource",
    "slack": "vector_sync.sources.slack:SlackSource",
    "notion": "vector_sync.sources.notion:NotionSource",
    "fireflies": "vector_sync.sources.fireflies:FirefliesSource",
    "tempo": "vector_sync.sources.tempo:TempoSource",
}


def registered_sources() -> list[str]:
    return list(REGISTRY)


def source_class(name: str) -> type[Source]:
    try:
        module_name, class_name = REGISTRY[name].split(":")
    except KeyError:
        raise ValueError(f"source '{name}' is not registered; registered: {', '.join(REGISTRY)}") from None
    return getattr(import_module(module_name), class_name)
