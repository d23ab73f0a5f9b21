"""Helpers shared by the per-source and end-to-end tests: sandbox connections and runs.

Connections come from airflow_settings.yaml with the sandbox URL swapped for the test's
sandbox, exported as AIRFLOW_CONN_* — the same path a user's settings take.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tests.conftest import ROOT
from vector_sync import pipeline
from vector_sync.airflow.bootstrap import connection_json, projects_from, read_settings
from vector_sync.specs import source_settings
from vector_sync.embedders.hashing import HashingEmbedder
from vector_sync.models import Window
from vector_sync.staging import StagedRun, run_key
from vector_sync.state import StateStore
from vector_sync.stores.lancedb import LanceDBStore


def sandbox_settings(monkeypatch, sandbox) -> dict[str, list[dict[str, Any]]]:
    """The repo's settings file pointed at ``sandbox``; its connections exported to the env."""
    monkeypatch.setenv("VECTOR_SYNC_SANDBOX_URL", sandbox.url)
    settings = read_settings(ROOT / "airflow_settings.yaml")
    for entry in settings["connections"]:
        monkeypatch.setenv(f"AIRFLOW_CONN_{entry['conn_id'].upper()}", connection_json(entry))
    return settings


ACTIVE = {"SUBS", "BC"}  # the sample's active projects (ARCH is inactive)


def dag_for(name: str) -> Any:
    """The source's DAG as the DAG processor parses it from dags/."""
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(ROOT / "dags")).dags[f"vector_sync_{name}"]


def stored_documents(store: Any, source: str) -> dict[str, set[int]]:
    """The store's ``{document id: chunk indexes}`` for ``source``."""
    docs: dict[str, set[int]] = {}
    for chunk_id in store.ids(f"{source}:"):
        doc_id, index = chunk_id.rsplit("#", 1)
        docs.setdefault(doc_id, set()).add(int(index))
    return docs


# Request pacing is tested on its own (tests/sources); elsewhere it would only slow tests down.
FAST = {"notion": {"options": {"rps": None}}}


class Backends:
    """The embedded backends in a temporary folder."""

    def __init__(self, folder: Path, settings: dict[str, list[dict[str, Any]]] | None = None) -> None:
        self.folder = folder
        self.state = StateStore(f"sqlite:///{folder / 'state.db'}")
        self.state.migrate()
        self.state.projects.upsert(projects_from(settings) if settings else [("SUBS", "Subscriptions", True), ("BC", "Billing Console", True), ("ARCH", "Archive Migration", False)])
        self.embedder = HashingEmbedder()
        self.store = LanceDBStore(str(folder / "lancedb"))

    def source(self, name: str) -> Any:
        from vector_sync.airflow.backends import build_source

        return build_source(name, source_settings(name, FAST.get(name)), self.state)

    def run(self, name: str, window: Window, run_id: str = "test") -> dict[str, Any]:
        source = self.source(name)
        staged = StagedRun(self.folder / "staging", name, run_key(f"{run_id}-{datetime.now(timezone.utc).timestamp()}", window))
        settings = source_settings(name)
        chunking = pipeline.ChunkSettings(settings.chunk_tokens, settings.chunk_overlap_tokens)
        return pipeline.run_window(source, window, staged, self.state, self.embedder, self.store, chunking, run_id)


def dump(value: Any) -> str:
    return json.dumps(value, indent=1, default=str)[:3000]


RESTRICTED_SOURCES = ("slack", "fireflies")  # private channels, restricted meetings


def restricted_documents(state: Any, window: Any, names: tuple[str, ...] = RESTRICTED_SOURCES) -> dict[str, Any]:
    """Per source, one document of ``window`` that only its ``access_list`` may see and that
    the sync indexed (its project is active): a private Slack message, a restricted meeting."""
    from vector_sync.airflow.backends import build_source
    from vector_sync.airflow.settings import settings_for

    active = state.projects.active()
    found = {}
    for name in names:
        docs = build_source(name, settings_for(name), state).fetch(window)
        found[name] = next(d for d in docs if d.access_type != "all" and d.access_list and (not d.projects or set(d.projects) & active))
    return found
