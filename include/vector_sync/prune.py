"""Deletion discovery: remove from the index and ledger what no longer exists upstream.

Incremental windows only see what changed; a deleted Jira issue or worklog never shows up
in one. A prune lists the ids that still exist at the source (``Source.live_ids``), compares
them with the ledger, lets the source confirm the candidates (``confirm_gone``: Notion's
search misses pages, so each candidate is checked), and deletes the rest.

A broken listing (an expired token that returns nothing, a permissions change) must never
wipe the index: when a prune would delete more than ``max_share`` of a source's documents it
stops with ``PruneGuardError`` and alerts instead, unless forced.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any

from vector_sync.errors import FatalError
from vector_sync.sources.base import Source
from vector_sync.specs import COMMON_OPTIONS
from vector_sync.state import StateStore
from vector_sync.stores.base import VectorStore

log = logging.getLogger(__name__)

DEFAULT_MAX_SHARE = COMMON_OPTIONS["prune_max_share"].default  # stop when a prune would delete more than 20% of a source's documents


class PruneGuardError(FatalError):
    """The prune would delete too much: more likely a broken listing than a mass deletion."""


def supports_pruning(source_class: type[Source]) -> bool:
    return source_class.live_ids is not Source.live_ids


def prune(
    source: Source,
    state: StateStore,
    store: VectorStore,
    max_share: float = DEFAULT_MAX_SHARE,
    force: bool = False,
    dry_run: bool = False,
) -> dict[str, Any]:
    """Delete the source's documents that are gone upstream; returns what it found and did."""
    # The ledger is read before listing: a document synced while the listing pages is then
    # not a candidate (it may be missing from a listing that passed it already).
    known = state.ledger.document_times(source.name)
    listing = source.live_ids()
    if listing is None:
        raise FatalError(f"source '{source.name}' cannot list its live ids, so it cannot be pruned")
    live = set(listing)
    span = source.live_span()
    candidates = sorted(doc_id for doc_id, updated in known.items() if doc_id not in live and (span is None or _within(updated, span)))
    gone = list(source.confirm_gone(candidates)) if candidates else []
    share = len(gone) / len(known) if known else 0.0
    result: dict[str, Any] = {
        "source": source.name,
        "listed": len(live),
        "known": len(known),
        "candidates": len(candidates),
        "gone": len(gone),
        "share": round(share, 4),
        "deleted_chunks": 0,
        "dry_run": dry_run,
    }
    if share > max_share and not force:
        raise PruneGuardError(
            f"prune of '{source.name}' would delete {len(gone)} of {len(known)} documents ({share:.0%}), more than the "
            f"guard's {max_share:.0%}: check the connection and the listing, or run it with force"
        )
    if dry_run or not gone:
        result["gone_ids"] = gone[:50]
        return result
    chunk_ids = list(state.ledger.chunk_hashes(gone))
    if chunk_ids:
        store.delete(chunk_ids)
    state.ledger.mark_deleted(gone, datetime.now(timezone.utc))
    result["deleted_chunks"] = len(chunk_ids)
    result["gone_ids"] = gone[:50]
    log.info("pruned %d documents (%d chunks) of %s", len(gone), len(chunk_ids), source.name)
    return result


def _within(moment: datetime | None, span: tuple[datetime, datetime]) -> bool:
    if moment is None:  # unknown age: only a listing of everything may judge it
        return False
    moment = moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    return span[0] <= moment < span[1]
