"""The production backends end to end: OpenAI embeddings + Pinecone, through the real SDKs,
against the sandbox's simulators, give the same index as the embedded default."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pinecone import Pinecone

from tests.sourcekit import Backends, sandbox_settings
from vector_sync.embedders.openai import OpenAIEmbedder, make_client
from vector_sync.models import Window
from vector_sync.sources import registered_sources
from vector_sync.stores.pinecone import PineconeStore, create_index

TOKEN = "sandbox-token"
INDEX = "vector-sync"


def whole_sample(workspace) -> Window:
    return Window(workspace.start - timedelta(hours=1), workspace.anchor)


def production(backends: Backends, sandbox, bm25: bool = False) -> Backends:
    """``backends`` switched to OpenAI + Pinecone, built on SDK clients pointed at the sandbox
    (with ``bm25``, the BM25 statistics of keyword and hybrid search in the state DB)."""
    backends.embedder = OpenAIEmbedder(make_client(f"{sandbox.base_url('openai')}/v1", TOKEN, max_retries=2))
    pc = Pinecone(api_key=TOKEN, host=sandbox.base_url("pinecone"))
    index = pc.Index(host=create_index(pc, INDEX, backends.embedder.dimensions))
    backends.store = PineconeStore(index, bm25=backends.state.bm25 if bm25 else None)
    return backends


@pytest.fixture()
def settings(sandbox, monkeypatch):
    return sandbox_settings(monkeypatch, sandbox)


@pytest.mark.parametrize("name", registered_sources())
def test_same_vector_ids_as_the_embedded_default(name, sandbox, settings, workspace, tmp_path):
    embedded = Backends(tmp_path / "embedded", settings)
    prod = production(Backends(tmp_path / "production", settings), sandbox)
    window = whole_sample(workspace)

    first = embedded.run(name, window)
    second = prod.run(name, window)

    expected = sorted(embedded.store.ids(f"{name}:"))
    assert expected, f"{name}: the embedded run stored nothing"
    assert sorted(prod.store.ids(f"{name}:")) == expected
    assert prod.store.count(name) == prod.store.count() == len(expected)
    assert (second["embedded"], second["upserted"], second["chunks"]) == (first["embedded"], first["upserted"], first["chunks"])
    assert second["tokens"] == prod.embedder.tokens_used == sandbox.simulator("openai").tokens_served
    assert sandbox.log.status_count("openai", 400) == sandbox.log.status_count("pinecone", 400) == 0


def test_a_model_switch_re_embeds_everything_once(sandbox, settings, workspace, tmp_path):
    backends = Backends(tmp_path, settings)
    window = whole_sample(workspace)
    hashed = backends.run("jira", window)
    assert hashed["embedded"] == hashed["chunks"] > 0

    production(backends, sandbox)  # same state: the ledger holds the hashing fingerprint
    switched = backends.run("jira", window)
    assert switched["fingerprint"] == "openai:text-embedding-3-small:1536"
    assert switched["embedded"] == switched["chunks"] == hashed["chunks"]
    assert backends.store.count("jira") == hashed["chunks"]

    again = backends.run("jira", window)
    assert again["embedded"] == 0 and again["upserted"] == 0
    assert backends.embedder.requests_made == sandbox.log.count("openai", path="/v1/embeddings")


def test_issue_keys_are_found_by_keyword_and_hybrid_search_on_pinecone(sandbox, settings, workspace, tmp_path):
    """The production path's sparse-dense index (BM25 statistics in the state DB): each Jira
    issue key, searched as typed, brings that issue first, before the worklogs quoting it."""
    from vector_sync.search import search

    prod = production(Backends(tmp_path, settings), sandbox, bm25=True)
    for name in ("jira", "tempo"):  # worklogs quote issue keys: the competition
        prod.run(name, whole_sample(workspace))
    assert prod.store.modes == ("dense", "keyword", "hybrid")
    stats = prod.state.bm25.stats(prod.store.collection)
    assert stats.chunk_count == prod.store.count() > 0
    keys = sorted({i.split(":", 1)[1].split("#")[0] for i in prod.store.ids("jira:")})
    assert len(keys) >= 5
    for mode in ("keyword", "hybrid"):
        for key in keys:
            hits = search(key, prod.embedder, prod.store, top_k=3, mode=mode)
            assert hits[0].metadata["document_id"] == f"jira:{key}", (mode, key, [(h.id, round(h.score, 3)) for h in hits])
