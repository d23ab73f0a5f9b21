"""Partitions and batches: the mapped shape of a run gives the same index as one piece."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from vector_sync import pipeline, staging
from vector_sync.embedders.hashing import HashingEmbedder
from vector_sync.models import Document, Window
from vector_sync.sources.base import Source
from vector_sync.specs import source_settings
from vector_sync.state import StateStore
from vector_sync.stores.lancedb import LanceDBStore

T0 = datetime(2026, 11, 20, tzinfo=timezone.utc)


class Numbers(Source):
    """A synthetic source: documents n = 0..count-1, split into parts by residue."""

    name = "jira"  # borrows Jira's settings
    keep_unmapped = True

    def __init__(self, count: int, parts: int) -> None:
        super().__init__(None, source_settings("jira"))
        self.count, self.part_count = count, parts

    def parts(self, window):
        return [{"residue": r} for r in range(self.part_count)]

    def fetch_part(self, window, scope):
        for n in range(scope["residue"], self.count, self.part_count):
            yield Document(
                id=f"jira:N-{n}", source="jira", title=f"N-{n}", text=f"number {n} " * 5, url="", updated_at=T0 + timedelta(seconds=n)
            )
        if scope["residue"] == 0:  # a duplicate across parts keeps the latest
            yield Document(id="jira:N-1", source="jira", title="N-1", text="older", url="", updated_at=T0 - timedelta(days=1))

    def fetch(self, window):
        for scope in self.parts(window):
            yield from self.fetch_part(window, scope)


def test_parts_and_batches_land_every_document_once(tmp_path, monkeypatch):
    monkeypatch.setattr(pipeline, "DOCS_PER_EMBED_BATCH", 100)
    state = StateStore(f"sqlite:///{tmp_path / 's.db'}")
    state.migrate()
    store = LanceDBStore(str(tmp_path / "db"))
    source = Numbers(count=450, parts=3)
    staged = staging.StagedRun(tmp_path / "staging", "jira", "k")
    window = Window(T0, T0 + timedelta(days=1))
    counts = pipeline.run_window(source, window, staged, state, HashingEmbedder(), store, pipeline.ChunkSettings(256, 16), "r1")
    assert counts["fetched"] == 451 and counts["duplicates"] == 1 and counts["kept"] == 450
    assert staged.indexes(staging.Kind.FILTERED) == [0, 1, 2, 3, 4]
    assert {c.rsplit("#", 1)[0] for c in store.ids("jira:")} == {f"jira:N-{n}" for n in range(450)}
    assert counts["embedded"] == store.count("jira") == 450
    again = pipeline.run_window(
        source,
        window,
        staging.StagedRun(tmp_path / "staging", "jira", "k2"),
        state,
        HashingEmbedder(),
        store,
        pipeline.ChunkSettings(256, 16),
        "r2",
    )
    assert again["embedded"] == 0 and again["skipped_unchanged"] == 450


def test_an_empty_window_still_has_one_batch(tmp_path):
    staged = staging.StagedRun(tmp_path, "jira", "k")
    staged.write(staging.Kind.DOCUMENTS, 0, [])
    result = pipeline.filter_active_projects(staged, {}, True, max_batches=16)
    assert result["batches"] == [0] and result["kept"] == 0


def test_batch_size_is_configurable(tmp_path):
    staged = staging.StagedRun(tmp_path, "jira", "k")
    staged.write(
        staging.Kind.DOCUMENTS, 0, [{"id": f"jira:N-{n}", "updated_at": "2026-11-20T00:00:00+00:00", "projects": []} for n in range(10)]
    )
    result = pipeline.filter_active_projects(staged, {}, True, max_batches=3, batch_docs=2)
    assert result["batches"] == [0, 1, 2] and result["kept"] == 10  # 4 + 4 + 2: never more than max_batches
