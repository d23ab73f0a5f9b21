"""Issue #22's story: the history in LanceDB, then the production backends (the Pinecone and
OpenAI simulators). Every source turns "needs-rebuild"; a rebuild by either path ends with the
ledger's ids in Pinecone (the copy path without one embedding request), and `verify` finds an
id deleted behind the project's back."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from tests.sourcekit import Backends, sandbox_settings
from tests.test_backends_e2e import production, whole_sample
from vector_sync import pipeline, rebuild
from vector_sync.coverage import check_coverage
from vector_sync.embedders.base import OPENAI_USD_PER_MILLION_TOKENS
from vector_sync.embedders.openai import OpenAIEmbedder, make_client
from vector_sync.models import Window
from vector_sync.sources import registered_sources
from vector_sync.specs import source_settings
from vector_sync.staging import StagedRun, run_key
from vector_sync.status import NEEDS_REBUILD, describe, source_status

TOKEN = "sandbox-token"
EMBEDDINGS = "/v1/embeddings"


@pytest.fixture()
def settings(sandbox, monkeypatch):
    return sandbox_settings(monkeypatch, sandbox)


def forced(backends: Backends, name: str, calls: list[Window] | None = None):
    """A rebuild's window runner over ``backends``: the whole pipeline, forced (as ``sync_window``
    runs it for ``vector-sync rebuild``); the windows it ran are appended to ``calls``."""

    def run_window(window: Window) -> dict[str, Any]:
        if calls is not None:
            calls.append(window)
        staged = StagedRun(backends.folder / "staging", name, run_key(f"rebuild-{datetime.now(timezone.utc).timestamp()}", window))
        settings = source_settings(name)
        chunking = pipeline.ChunkSettings(settings.chunk_tokens, settings.chunk_overlap_tokens)
        source = backends.source(name)
        return pipeline.run_window(
            source, window, staged, backends.state, backends.embedder, backends.store, chunking, "rebuild", force=True
        )

    return run_window


def rebuild_all(backends: Backends, name: str, opener: rebuild.OpenStore) -> tuple[rebuild.RebuildPlan, dict[str, Any]]:
    plan = rebuild.plan(name, backends.state, backends.store, backends.embedder.fingerprint, opener)
    return plan, rebuild.execute(plan, backends.state, backends.store, opener, forced(backends, name), max_share=0.2)


def health(backends: Backends, name: str) -> str:
    return source_status(name, backends.state, backends.store, fingerprint=backends.embedder.fingerprint).health


def demo_history(backends: Backends, workspace) -> dict[str, list[str]]:
    """Every source synced over the sample's history; the ledger's chunk ids per source."""
    for name in registered_sources():
        backends.run(name, whole_sample(workspace))
    ledger = {name: backends.state.ledger.live_chunk_ids(name) for name in registered_sources()}
    assert all(ledger.values()), {name: len(ids) for name, ids in ledger.items()}
    return ledger


def test_a_switch_to_pinecone_and_openai_re_embeds_every_source_into_pinecone(sandbox, settings, workspace, tmp_path):
    backends = Backends(tmp_path, settings)  # LanceDB + the hashing embedder
    ledger = demo_history(backends, workspace)
    lance_key = backends.store.store_key
    assert {health(backends, name) for name in ledger} != {NEEDS_REBUILD}

    production(backends, sandbox, bm25=True)
    for name in ledger:
        assert health(backends, name) == NEEDS_REBUILD, name
        assert backends.store.count(name) == 0

    opener = rebuild.store_opener()
    dry = rebuild.plan("jira", backends.state, backends.store, backends.embedder.fingerprint, opener)
    assert (dry.path, dry.documents, dry.chunks) == (
        rebuild.REEMBED,
        len({c.rsplit("#", 1)[0] for c in ledger["jira"]}),
        len(ledger["jira"]),
    )
    assert dry.tokens > 0 and dry.tokens_estimated and dry.cost_usd == round(dry.tokens * OPENAI_USD_PER_MILLION_TOKENS / 1e6, 6)
    assert "hashing" in dry.reason and dry.windows and dry.windows[-1].end > workspace.anchor - timedelta(minutes=1)
    assert backends.store.count() == 0 and backends.state.rebuilds.progress("jira") is None  # the plan wrote nothing

    openai = sandbox.simulator("openai")
    for name in ledger:
        served = openai.tokens_served
        plan, result = rebuild_all(backends, name, opener)
        assert plan.path == rebuild.REEMBED and result["ok"], (name, result)
        if name == "jira":  # the dry run's estimate against the tokens the re-embedding sent
            sent = openai.tokens_served - served
            assert abs(dry.tokens - sent) <= 0.1 * sent
        assert sorted(backends.store.ids(f"{name}:")) == backends.state.ledger.live_chunk_ids(name), name
        assert set(backends.state.ledger.written_to(name)) == {(backends.store.store_key, backends.embedder.fingerprint)}
        assert health(backends, name) != NEEDS_REBUILD, name
        assert backends.state.rebuilds.progress(name) is None  # finished: nothing left to resume
    assert backends.embedder.requests_made == sandbox.log.count("openai", path=EMBEDDINGS) > 0
    assert lance_key not in {key for name in ledger for key, _ in backends.state.ledger.written_to(name)}


def test_the_copy_path_moves_the_vectors_without_one_embedding_request(sandbox, settings, workspace, tmp_path):
    embedder = OpenAIEmbedder(make_client(f"{sandbox.base_url('openai')}/v1", TOKEN, max_retries=2))
    backends = Backends(tmp_path, settings, embedder=embedder)  # LanceDB, OpenAI vectors
    for name in ("jira", "slack"):
        backends.run(name, whole_sample(workspace))
    lance = backends.store
    lance_ids = {name: sorted(lance.ids(f"{name}:")) for name in ("jira", "slack")}
    production(backends, sandbox)
    backends.embedder = embedder  # the same model: only the store changed
    assert health(backends, "jira") == NEEDS_REBUILD
    requests = sandbox.log.count("openai", path=EMBEDDINGS)

    opener = rebuild.store_opener()
    for name in ("jira", "slack"):
        plan, result = rebuild_all(backends, name, opener)
        assert plan.path == rebuild.COPY and plan.cost_usd == 0 and plan.moves.keys() == {lance.store_key}
        assert result["ok"] and result["embedded"] == 0 and result["chunks"] == len(lance_ids[name]), result
        assert sorted(backends.store.ids(f"{name}:")) == backends.state.ledger.live_chunk_ids(name) == lance_ids[name]
        assert health(backends, name) != NEEDS_REBUILD
    assert sandbox.log.count("openai", path=EMBEDDINGS) == requests and embedder.requests_made == requests

    # The copies are the vectors, texts and metadata LanceDB held.
    some = lance_ids["jira"][:5]
    copied = {r.id: r for r in backends.store.fetch(some)}
    for original in lance.fetch(some):
        twin = copied[original.id]
        assert twin.text == original.text and twin.document_id == original.document_id
        assert twin.values == pytest.approx(original.values, abs=1e-6)
        assert {k: twin.metadata.get(k) for k in ("source", "title", "access_type")} == {
            k: original.metadata.get(k) for k in ("source", "title", "access_type")
        }

    # Pinecone to another namespace: the old store is opened from its key (host and namespace)
    # with the connection's client.
    from pinecone import Pinecone

    from vector_sync.stores.pinecone import PineconeStore

    old_key = backends.store.store_key
    backends.store = PineconeStore(backends.store.index, namespace="moved")
    client = Pinecone(api_key=TOKEN, host=sandbox.base_url("pinecone"))
    plan, result = rebuild_all(backends, "jira", rebuild.store_opener(lambda: client))
    assert plan.path == rebuild.COPY and plan.moves.keys() == {old_key} and result["ok"], result
    assert sorted(backends.store.ids("jira:")) == lance_ids["jira"]
    assert sandbox.log.count("openai", path=EMBEDDINGS) == requests

    # verify finds an id deleted behind the project's back.
    gone = lance_ids["jira"][0]
    backends.store.delete([gone])
    coverage = check_coverage("jira", backends.state, backends.store)
    assert not coverage.ok and coverage.missing == [gone] and coverage.extra == []


def test_a_store_without_the_old_table_falls_back_to_re_embedding(sandbox, settings, workspace, tmp_path):
    backends = Backends(tmp_path, settings)
    backends.run("jira", whole_sample(workspace))
    fingerprint = backends.embedder.fingerprint
    from vector_sync.stores.lancedb import LanceDBStore

    backends.store = LanceDBStore(str(tmp_path / "lancedb"), table="other")
    opener = rebuild.store_opener()
    assert rebuild.plan("jira", backends.state, backends.store, fingerprint, opener).path == rebuild.COPY
    import shutil

    shutil.rmtree(tmp_path / "lancedb" / "chunks.lance")
    plan = rebuild.plan("jira", backends.state, backends.store, fingerprint, rebuild.store_opener())
    assert plan.path == rebuild.REEMBED and "cannot be opened" in plan.reason


def test_a_re_embedding_resumes_after_a_failed_window_and_drops_what_is_gone(sandbox, settings, workspace, tmp_path):
    backends = Backends(tmp_path, settings)
    backends.run("jira", whole_sample(workspace))
    # A document the ledger lists that upstream no longer has, and a chunk nobody listed.
    chunk_ids = backends.state.ledger.live_chunk_ids("jira")
    from vector_sync.state import LedgerWrite

    at = workspace.anchor - timedelta(days=1)
    backends.state.ledger.write(
        "jira", [LedgerWrite("jira:GONE-1", "h", 1, "x:y:1", at)], [("jira:GONE-1#0", "jira:GONE-1", "c", "x:y:1")], [], at
    )
    stray = backends.store.fetch(chunk_ids[:1])[0]
    backends.store.upsert([type(stray)("jira:STRAY-1#0", "jira:STRAY-1", stray.values, stray.text, stray.metadata)])
    production(backends, sandbox)

    opener = rebuild.store_opener()
    plan = rebuild.plan("jira", backends.state, backends.store, backends.embedder.fingerprint, opener)
    plan.windows = rebuild.history_windows(backends.state, "jira", datetime.now(timezone.utc), days=1)
    assert len(plan.windows) >= 3
    ran: list[Window] = []
    real = forced(backends, "jira", ran)

    def failing_third(window: Window) -> dict[str, Any]:
        if len(ran) == 2:
            ran.append(window)
            raise RuntimeError("upstream outage")
        return real(window)

    with pytest.raises(RuntimeError):
        rebuild.execute(plan, backends.state, backends.store, opener, failing_third, max_share=0.5)
    progress = backends.state.rebuilds.progress("jira")
    assert (progress["windows_done"], progress["windows_total"]) == (2, len(plan.windows))
    status = source_status("jira", backends.state, backends.store, fingerprint=backends.embedder.fingerprint)
    assert status.rebuild["windows_done"] == 2 and status.health == NEEDS_REBUILD
    assert f"rebuild under way: 2 of {len(plan.windows)} windows done" in describe([status])

    ran.clear()
    result = rebuild.execute(plan, backends.state, backends.store, opener, forced(backends, "jira", ran), max_share=0.5)
    assert ran == plan.windows[2:]  # the two windows done are not run again
    assert result["ok"] and result["dropped_documents"] == 1, result
    assert "jira:GONE-1" not in backends.state.ledger.documents_of_source("jira")
    assert sorted(backends.store.ids("jira:")) == backends.state.ledger.live_chunk_ids("jira") == chunk_ids
    assert backends.state.rebuilds.progress("jira") is None


def test_the_guard_stops_a_rebuild_that_finds_too_little_upstream(sandbox, settings, workspace, tmp_path):
    backends = Backends(tmp_path, settings)
    backends.run("jira", whole_sample(workspace))
    known = backends.state.ledger.document_count("jira")
    production(backends, sandbox)
    opener = rebuild.store_opener()
    plan = rebuild.plan("jira", backends.state, backends.store, backends.embedder.fingerprint, opener)

    def nothing_upstream(window: Window) -> dict[str, Any]:
        return {"fetched": 0}

    with pytest.raises(rebuild.RebuildGuardError, match=f"did not find {known} of {known} documents"):
        rebuild.execute(plan, backends.state, backends.store, opener, nothing_upstream, max_share=0.2)
    assert backends.state.ledger.document_count("jira") == known  # nothing dropped
