"""Where things live and which backends run, without importing Airflow.

The embedded default needs no credentials: SQLite state, LanceDB and the offline semantic
embedder (WordLlama, weights inside its wheel) under one data folder. Production swaps in Postgres, Pinecone and OpenAI; the Airflow
adapter decides that from which connections exist and hands a finished ``RuntimeConfig``
to the code here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from vector_sync.embedders.base import Embedder
from vector_sync.state import StateStore
from vector_sync.stores.base import VectorStore

_REPO_ROOT = Path(__file__).resolve().parents[2]


def airflow_home() -> Path:
    """``$AIRFLOW_HOME``; else the project's own ``.airflow`` when run from a checkout; else ~/airflow."""
    if os.environ.get("AIRFLOW_HOME"):
        return Path(os.environ["AIRFLOW_HOME"])
    local = _REPO_ROOT / ".airflow"
    if local.is_dir():
        os.environ["AIRFLOW_HOME"] = str(local)  # so Airflow itself, imported later, agrees
        return local
    return Path.home() / "airflow"


def data_dir() -> Path:
    """Embedded state, index and staging: ``$VECTOR_SYNC_DATA_DIR`` or ``$AIRFLOW_HOME/vector_sync``."""
    path = Path(os.environ.get("VECTOR_SYNC_DATA_DIR") or airflow_home() / "vector_sync")
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass(frozen=True)
class RuntimeConfig:
    state_url: str
    staging_url: str
    embedder: str = "wordllama"  # wordllama (offline, semantic) | hashing (offline, lexical) | openai
    store: str = "lancedb"  # lancedb | pinecone
    lancedb_uri: str = ""
    hashing_dimensions: int = 384
    options: Mapping[str, Any] = field(default_factory=dict)  # backend extras (model, index, namespace...)

    def with_overrides(self, overrides: Mapping[str, Any] | None) -> RuntimeConfig:
        if not overrides:
            return self
        known = {k: v for k, v in overrides.items() if k in self.__dataclass_fields__ and k != "options"}
        extra = {k: v for k, v in overrides.items() if k not in self.__dataclass_fields__}
        return replace(self, **known, options={**self.options, **overrides.get("options", {}), **extra})


# The offline embedders by vector size, to recognise what an embedded index was built with.
OFFLINE_EMBEDDERS = {256: "wordllama", 384: "hashing"}


def embedded_config(detect_embedder: bool = True) -> RuntimeConfig:
    """The no-credentials default, all under the data folder. ``detect_embedder=False`` skips
    opening the index (``built_with``, a second of imports) for callers that embed nothing."""
    base = data_dir()
    lancedb_uri = str(base / "lancedb")
    return RuntimeConfig(
        state_url=os.environ.get("VECTOR_SYNC_STATE_URL") or f"sqlite:///{base / 'vector_sync.db'}",
        staging_url=os.environ.get("VECTOR_SYNC_STAGING_URL") or (base / "staging").as_uri(),
        embedder=built_with(lancedb_uri) if detect_embedder else RuntimeConfig.__dataclass_fields__["embedder"].default,
        lancedb_uri=lancedb_uri,
    )


def built_with(lancedb_uri: str) -> str:
    """The offline embedder an existing embedded index was built with, else the default.

    An index built before the default changed keeps its embedder: switching models re-embeds
    the whole history, a step the operator takes (Variable ``vector_sync_config``
    ``{"embedder": ...}`` on a fresh data folder), never a side effect of an upgrade that
    would make every upsert fail on the old table's vector size.
    """
    default = RuntimeConfig.__dataclass_fields__["embedder"].default
    if not Path(lancedb_uri).is_dir():
        return default
    from vector_sync.stores.lancedb import LanceDBStore

    return OFFLINE_EMBEDDERS.get(LanceDBStore(lancedb_uri).stored_dimension() or 0, default)


def build_state(config: RuntimeConfig) -> StateStore:
    state = StateStore(config.state_url)
    state.migrate()
    return state


@lru_cache(maxsize=4)
def _shared_state(url: str) -> StateStore:
    """One migrated state store per URL and process (its engine is thread-safe)."""
    return build_state(RuntimeConfig(state_url=url, staging_url=""))


def build_embedder(config: RuntimeConfig, client: Any = None) -> Embedder:
    """The configured embedder; ``client`` is a ready ``openai.OpenAI`` for the openai one."""
    if config.embedder == "wordllama":
        from vector_sync.embedders.wordllama import WordLlamaEmbedder

        return WordLlamaEmbedder()
    if config.embedder == "hashing":
        from vector_sync.embedders.hashing import HashingEmbedder

        return HashingEmbedder(dimensions=int(config.hashing_dimensions))
    if config.embedder == "openai":
        from vector_sync.embedders.openai import OpenAIEmbedder  # type: ignore[import-not-found]

        return OpenAIEmbedder(client, **{k: v for k, v in config.options.items() if k in ("model", "dimensions")})
    raise ValueError(
        f"unknown embedder '{config.embedder}' (setting 'embedder' of Variable vector_sync_config): use wordllama, hashing or openai"
    )


def build_store(config: RuntimeConfig, index: Any = None, state: StateStore | None = None) -> VectorStore:
    """The configured vector store; ``index`` is a ready Pinecone index for the pinecone one,
    whose BM25 statistics (keyword and hybrid search) live in ``state`` (default: the
    configured state DB, one per process)."""
    if config.store == "lancedb":
        from vector_sync.stores.lancedb import LanceDBStore

        return LanceDBStore(config.lancedb_uri)
    if config.store == "pinecone":
        from vector_sync.stores.pinecone import HYBRID_ALPHA, PineconeStore  # type: ignore[import-not-found]

        bm25 = (state or _shared_state(config.state_url)).bm25
        alpha = config.options.get("hybrid_alpha", HYBRID_ALPHA)
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 <= alpha <= 1:
            raise ValueError(f"setting 'hybrid_alpha' of Variable vector_sync_config must be a number from 0 to 1, got {alpha!r}")
        return PineconeStore(index, namespace=config.options.get("namespace", ""), bm25=bm25, alpha=alpha)
    raise ValueError(f"unknown store '{config.store}' (setting 'store' of Variable vector_sync_config): use lancedb or pinecone")
