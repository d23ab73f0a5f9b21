"""Ready backends and sources from Airflow connections.

``Runtime`` is what a task (or the CLI) hands the Airflow-free code in ``vector_sync.run`` and
``vector_sync.pipeline``: the state store, the embedder, the vector store and the staging root,
each built on first use from the runtime configuration. ``build_source`` turns a source's
connection into its client through the source's hook.
"""

from __future__ import annotations

import inspect
from typing import Any

from vector_sync.airflow.settings import runtime_config, settings_for
from vector_sync.config import SourceSettings
from vector_sync.embedders.base import Embedder
from vector_sync.errors import FatalError
from vector_sync.runtime import RuntimeConfig, build_embedder, build_state, build_store
from vector_sync.sources.base import Source
from vector_sync.state import StateStore
from vector_sync.stores.base import VectorStore


def hook_class(name: str) -> type:
    """The Airflow hook that turns source ``name``'s connection into its client (named in its
    ``SourceSpec``, imported only here: the core never loads a hook)."""
    from vector_sync.specs import load, spec

    return load(spec(name).hook)


def build_source(name: str, settings: SourceSettings, state: StateStore) -> Source:
    """The source with a client from its connection, the known projects as options and what
    it keeps in the state store (``make_source``).

    The hook gets the source's connection and every other connection its options name that
    the hook takes (Tempo's ``jira_conn_id``): hooks read no Variables themselves."""
    from vector_sync.sources import make_source

    hook_type = hook_class(name)
    accepted = inspect.signature(hook_type.__init__).parameters
    conn_ids = {key: str(value) for key, value in settings.options.items() if key.endswith("_conn_id") and key in accepted and value}
    try:
        client = hook_type(**{hook_type.conn_name_attr: settings.conn_id, **conn_ids}).get_conn()
    except FatalError:
        raise
    except Exception as exc:
        if type(exc).__name__ == "AirflowNotFoundException":
            raise FatalError(
                f"connection '{settings.conn_id}' for source '{name}' is not defined: add it (UI, AIRFLOW_CONN_{settings.conn_id.upper()} or airflow_settings.yaml)"
            ) from None
        raise
    return make_source(name, client, settings, state)


class Runtime:
    """Backends for one task, built lazily from the runtime configuration (the
    ``vector_sync.run.Backends`` a run takes)."""

    def __init__(self, config: RuntimeConfig | None = None) -> None:
        self.config = config or runtime_config()
        self._state: StateStore | None = None

    @property
    def state(self) -> StateStore:
        if self._state is None:
            self._state = build_state(self.config)
        return self._state

    def embedder(self) -> Embedder:
        client = None
        if self.config.embedder == "openai":
            from airflow.providers.openai.hooks.openai import OpenAIHook

            client = OpenAIHook(conn_id=self.config.options.get("openai_conn_id", "openai_default")).get_conn()
        return build_embedder(self.config, client)

    def pinecone_client(self) -> Any:
        """The Pinecone control-plane client of connection ``pinecone_conn_id``."""
        from airflow.providers.pinecone.hooks.pinecone import PineconeHook

        return PineconeHook(conn_id=self.config.options.get("pinecone_conn_id", "pinecone_default")).pinecone_client

    def store(self) -> VectorStore:
        index = None
        if self.config.store == "pinecone":
            index = self.pinecone_client().Index(self.config.options.get("index", "vector-sync"))
        return build_store(self.config, index, state=self.state)

    def staging_root(self) -> Any:
        """The staging root: an ``ObjectStoragePath`` (file://, s3://, gs://) shared by workers."""
        from airflow.sdk import ObjectStoragePath

        return ObjectStoragePath(self.config.staging_url)

    def source(self, name: str, settings: SourceSettings | None = None) -> Source:
        """Source ``name`` built from its connection, with ``settings`` or its Variable's."""
        return build_source(name, settings or settings_for(name), self.state)
