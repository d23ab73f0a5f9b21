"""Does the active vector store hold exactly what the ledger says? (``vector-sync verify``)

The ledger decides what a run re-embeds: a chunk it lists but the store lost (deleted behind
the project's back, a store switched without a rebuild) is never written again, and a chunk
the store holds but the ledger forgot is never deleted. Comparing the two id sets finds both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vector_sync.state import StateStore
from vector_sync.stores.base import VectorStore

# Ids listed per side in ``--json``: enough to act on, bounded for a store that lost everything.
IDS_SHOWN = 100


@dataclass(frozen=True)
class Coverage:
    """The ledger's live chunk ids of a source against the store's ids under ``source:``."""

    source: str
    chunks: int  # live chunks in the ledger
    stored: int  # chunk ids the store holds for the source
    missing: list[str]  # in the ledger, not in the store (sorted)
    extra: list[str]  # in the store, not in the ledger (sorted)

    @property
    def ok(self) -> bool:
        return not self.missing and not self.extra

    def verdict(self) -> str:
        if self.ok:
            return f"ok: {self.chunks} chunks"
        return f"mismatch: {len(self.missing)} missing, {len(self.extra)} extra"

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "ok": self.ok,
            "verdict": self.verdict(),
            "chunks": self.chunks,
            "stored": self.stored,
            "missing_count": len(self.missing),
            "extra_count": len(self.extra),
            "missing": self.missing[:IDS_SHOWN],
            "extra": self.extra[:IDS_SHOWN],
        }


def check_coverage(source: str, state: StateStore, store: VectorStore) -> Coverage:
    """Compare the ledger's live chunk ids of ``source`` with the store's (chunk ids are
    ``<source>:<native id>#<n>``, so the prefix selects exactly the source's)."""
    ledger = set(state.ledger.live_chunk_ids(source))
    stored = set(store.ids(f"{source}:"))
    return Coverage(source, len(ledger), len(stored), sorted(ledger - stored), sorted(stored - ledger))
