"""Does the active vector store hold exactly what the ledger says? (``vector-sync verify``)

The ledger decides what a run re-embeds: a chunk it lists but the store lost (deleted behind
the project's back, a store switched without a rebuild) is never written again, and a chunk
the store holds but the ledger forgot is never deleted. Comparing the two id sets finds both.
A sample of the chunks both hold is read back (``VectorStore.fetch``) and its metadata compared
with the ledger's: the source and document, a title at all, and who may see it (the ledger's
access, where recorded) — a store that drifted there would show the wrong people the wrong items.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from vector_sync.state import Access, StateStore
from vector_sync.stores.base import VectorStore

# Ids listed per side in ``--json``: enough to act on, bounded for a store that lost everything.
IDS_SHOWN = 100
# Chunks held by both sides whose metadata is read back and compared per check.
METADATA_SAMPLE = 20


@dataclass(frozen=True)
class Coverage:
    """The ledger's live chunk ids of a source against the store's ids under ``source:``."""

    source: str
    chunks: int  # live chunks in the ledger
    stored: int  # chunk ids the store holds for the source
    missing: list[str]  # in the ledger, not in the store (sorted)
    extra: list[str]  # in the store, not in the ledger (sorted)
    sampled: int = 0  # chunks whose metadata was compared
    # {"id", "field", "ledger", "store"} per sampled chunk whose stored metadata disagrees
    metadata_mismatches: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.missing and not self.extra and not self.metadata_mismatches

    def verdict(self) -> str:
        if self.ok:
            return f"ok: {self.chunks} chunks"
        line = f"mismatch: {len(self.missing)} missing, {len(self.extra)} extra"
        if self.metadata_mismatches:
            chunks = len({m["id"] for m in self.metadata_mismatches})
            line += f", {chunks} of {self.sampled} sampled with other metadata"
        return line

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
            "sampled": self.sampled,
            "metadata_mismatches": self.metadata_mismatches[:IDS_SHOWN],
        }


def check_coverage(source: str, state: StateStore, store: VectorStore, sample: int = METADATA_SAMPLE, seed: int | None = None) -> Coverage:
    """Compare the ledger's live chunk ids of ``source`` with the store's (chunk ids are
    ``<source>:<native id>#<n>``, so the prefix selects exactly the source's), and the metadata
    of up to ``sample`` random chunks both hold (``seed``: a repeatable sample)."""
    ledger = set(state.ledger.live_chunk_ids(source))
    stored = set(store.ids(f"{source}:"))
    both = sorted(ledger & stored)
    picked = random.Random(seed).sample(both, min(sample, len(both)))
    mismatches = metadata_mismatches(source, state, store, picked)
    return Coverage(source, len(ledger), len(stored), sorted(ledger - stored), sorted(stored - ledger), len(picked), mismatches)


def metadata_mismatches(source: str, state: StateStore, store: VectorStore, chunk_ids: list[str]) -> list[dict[str, Any]]:
    """Per chunk of ``chunk_ids``, each field whose stored value disagrees with the ledger:
    ``source``, ``document_id`` (the chunk id's document), ``title`` (missing) and ``access``
    (type and emails, compared only where the ledger recorded them)."""
    if not chunk_ids:
        return []
    entries = state.ledger.entries({c.rsplit("#", 1)[0] for c in chunk_ids})
    found = []
    for record in sorted(store.fetch(chunk_ids), key=lambda r: r.id):
        doc_id = record.id.rsplit("#", 1)[0]
        md = record.metadata
        checks = [("source", source, md.get("source")), ("document_id", doc_id, record.document_id)]
        if not str(md.get("title") or "").strip():
            checks.append(("title", "a title", md.get("title")))
        recorded = entries[doc_id].access if doc_id in entries else None
        if recorded is not None:
            held = Access.normal(md.get("access_type"), md.get("access_list") or ())
            checks.append(("access", f"{recorded.type} {list(recorded.emails)}", f"{held.type} {list(held.emails)}"))
        found += [{"id": record.id, "field": name, "ledger": want, "store": got} for name, want, got in checks if want != got]
    return found
