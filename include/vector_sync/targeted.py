"""A targeted sync: exactly the documents webhooks named, through the window pipeline's steps.

The events DAG (``vector_sync.airflow.events``) claims the pending events of a source and
calls ``sync_documents`` once for all of them: the named documents are fetched by id
(``vector_sync.sources.by_id.fetch_ids``), filtered, embedded (unchanged content skipped by hash, as in any run)
and upserted; those deleted upstream, or named but no longer found and confirmed gone
(``Source.confirm_gone``), are deleted from the store and the ledger. It records no window:
``last_sync`` and the interval DAG's cursor stay the schedule's, which remains the safety net
for lost webhooks.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from datetime import datetime, timezone
from typing import Any

from vector_sync import pipeline
from vector_sync.models import Document, Window
from vector_sync.run import Backends
from vector_sync.sources.base import Source
from vector_sync.sources.by_id import fetch_ids

log = logging.getLogger(__name__)


class NamedItems(Source):
    """``source`` narrowed to the named documents: its one part fetches them by id, and its
    removals are the deletions plus the named documents confirmed gone."""

    def __init__(self, source: Source, upserts: Sequence[str], deletions: Sequence[str]) -> None:
        super().__init__(source.client, source.settings, source.stats)
        self.inner = source
        self.name = source.name  # type: ignore[misc]  (an instance's name: the wrapped source's)
        self.keep_unmapped = source.keep_unmapped  # type: ignore[misc]
        self.upserts = list(dict.fromkeys(upserts))
        self.deletions = list(dict.fromkeys(deletions))
        self.fetched: set[str] = set()

    def parts(self, window: Window) -> list[dict[str, Any]]:
        return [{}]

    def fetch(self, window: Window) -> Iterator[Document]:
        for document in fetch_ids(self.inner, self.upserts) if self.upserts else ():
            self.fetched.add(document.id)
            yield document

    def items_in(self, document: Document) -> int:
        return self.inner.items_in(document)

    def removed_ids(self, window: Window) -> Iterator[str]:
        # Only ids in the index's own form are judged (a Jira worklog names ``jira:id:<n>``).
        missing = [i for i in self.upserts if i not in self.fetched and not i.startswith("jira:id:")]
        gone = self.inner.confirm_gone(missing) if missing else []
        if gone:
            log.info("%s: %d named documents are gone upstream: deleted", self.name, len(gone))
        return iter(dict.fromkeys([*self.deletions, *gone]))


def sync_documents(source: Source, upserts: Sequence[str], deletions: Sequence[str], backends: Backends, run_id: str) -> dict[str, Any]:
    """Sync ``upserts`` and delete ``deletions`` (document ids); returns the steps' counts."""
    from vector_sync.staging import StagedRun

    started_at = datetime.now(timezone.utc)
    named = NamedItems(source, upserts, deletions)
    window = Window(started_at, started_at)
    settings = source.settings
    chunking = pipeline.ChunkSettings(settings.chunk_tokens, settings.chunk_overlap_tokens)
    state, embedder, store = backends.state, backends.embedder(), backends.store()
    staged = StagedRun.for_run(backends.staging_root(), source.name, run_id, window)
    try:
        counts: dict[str, Any] = dict(pipeline.fetch(named, window, staged, {}, 0))
        filtered = pipeline.filter_active_projects(staged, state.projects.known(), named.keep_unmapped, max_batches=pipeline.MAX_BATCHES)
        counts.update({k: v for k, v in filtered.items() if k not in ("batches", "parts")})
        counts.update(pipeline.sum_counts(pipeline.embed(staged, state, embedder, chunking, batch=b) for b in filtered["batches"]))
        counts.update(
            pipeline.sum_counts(
                pipeline.upsert(staged, state, store, source.name, batch=b, removed_parts=filtered["parts"]) for b in filtered["batches"]
            )
        )
    finally:
        staged.cleanup()
    counts["duration_s"] = (datetime.now(timezone.utc) - started_at).total_seconds()
    return counts


def plan_changes(changes: Sequence[Any]) -> tuple[list[str], list[str]]:
    """Pending changes (oldest first) -> (documents to sync, documents to delete): a
    document's last change decides, so an edit after a deletion (Notion's undelete) syncs."""
    last: dict[str, bool] = {}
    for change in changes:
        last.pop(change.document_id, None)
        last[change.document_id] = bool(change.deleted)
    return [d for d, gone in last.items() if not gone], [d for d, gone in last.items() if gone]
