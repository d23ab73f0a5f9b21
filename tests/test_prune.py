"""Pruning: what is gone upstream leaves the index and ledger, and the guard holds."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.sourcekit import Backends, sandbox_settings
from vector_sync.models import Window
from vector_sync.prune import PruneGuardError, prune


@pytest.fixture()
def kit(sandbox, monkeypatch, tmp_path, workspace):
    kit = Backends(tmp_path, sandbox_settings(monkeypatch, sandbox))
    kit.run("jira", Window(workspace.start - timedelta(hours=1), workspace.anchor))
    return kit


def indexed(kit) -> set[str]:
    return {chunk_id.rsplit("#", 1)[0] for chunk_id in kit.store.ids("jira:")}


def test_prune_deletes_exactly_the_gone_ids(kit, sandbox):
    before = indexed(kit)
    victims = sorted(before)[:3]
    jira = sandbox.simulator("jira")
    for doc_id in victims:
        jira.delete(doc_id.split(":", 1)[1])
    result = prune(kit.source("jira"), kit.state, kit.store)
    assert result["gone"] == 3 and result["deleted_chunks"] >= 3
    assert indexed(kit) == before - set(victims)
    assert set(kit.state.ledger.documents_of_source("jira")) == before - set(victims)
    again = prune(kit.source("jira"), kit.state, kit.store)
    assert again["gone"] == 0


def test_guard_stops_a_prune_that_would_wipe_the_index(kit, sandbox):
    before = indexed(kit)
    jira = sandbox.simulator("jira")
    for doc_id in sorted(before)[: len(before) // 2]:
        jira.delete(doc_id.split(":", 1)[1])
    with pytest.raises(PruneGuardError, match="more than the guard's 20%"):
        prune(kit.source("jira"), kit.state, kit.store)
    assert indexed(kit) == before  # nothing deleted
    dry = prune(kit.source("jira"), kit.state, kit.store, force=True, dry_run=True)
    assert dry["gone"] == len(before) // 2 and indexed(kit) == before
    forced = prune(kit.source("jira"), kit.state, kit.store, force=True)
    assert forced["gone"] == len(before) // 2
    assert len(indexed(kit)) == len(before) - len(before) // 2


def test_reindex_reembeds_everything_once(kit, workspace):
    window = Window(workspace.start - timedelta(hours=1), workspace.anchor)
    count = kit.store.count("jira")
    source = kit.source("jira")
    from vector_sync import pipeline
    from vector_sync.staging import StagedRun

    settings = source.settings
    forced = pipeline.run_window(
        source,
        window,
        StagedRun(kit.folder / "staging", "jira", "reindex"),
        kit.state,
        kit.embedder,
        kit.store,
        pipeline.ChunkSettings(settings.chunk_tokens, settings.chunk_overlap_tokens),
        "reindex",
        force=True,
    )
    assert forced["embedded"] == count and forced["skipped_unchanged"] == 0
    assert kit.store.count("jira") == count
    assert kit.run("jira", window)["embedded"] == 0


class KitRuntime:
    """What the prune DAG's task takes from ``vector_sync.airflow.backends.Runtime``, over the
    test's backends."""

    def __init__(self, kit) -> None:
        self.kit = kit
        self.state = kit.state

    def store(self):
        return self.kit.store

    def source(self, name: str):
        return self.kit.source(name)


def test_the_weekly_prune_verifies_the_coverage_and_fails_on_a_mismatch(kit, sandbox):
    """The prune DAG's task: after pruning, the coverage check; a chunk deleted behind the
    project's back fails the task (FatalError: no retries; the failure alert carries the line)."""
    import re

    from vector_sync.airflow.maintenance import CoverageMismatch, prune_and_verify
    from vector_sync.errors import FatalError

    victims = sorted(indexed(kit))[:1]
    sandbox.simulator("jira").delete(victims[0].split(":", 1)[1])
    result = prune_and_verify("jira", runtime=KitRuntime(kit))
    assert result["gone"] == 1 and result["verify"]["ok"] and result["verify"]["sampled"] == 20

    lost = sorted(kit.store.ids("jira:"))[0]
    kit.store.delete([lost])
    with pytest.raises(CoverageMismatch, match=rf"^verify jira: mismatch: 1 missing, 0 extra \(first: {re.escape(lost)}\): ") as failed:
        prune_and_verify("jira", runtime=KitRuntime(kit))
    assert isinstance(failed.value, FatalError) and "`vector-sync rebuild jira`" in str(failed.value)
