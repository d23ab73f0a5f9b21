"""Rebuild a source's history into the active store and embedder (issue #22, ``vector-sync rebuild``).

The ledger names, per document, the store and the embedder fingerprint it was written with.
After a switch of either, searches miss the history until it is rebuilt, by one of two paths:

- **copy**, when only the store changed: every document to move was embedded with the active
  fingerprint and the store it was written to can still be opened. Its chunks are read by id
  from there (``VectorStore.fetch``), upserted into the active store and the ledger rows moved
  (``store_key``): zero embedding calls, zero upstream calls.
- **re-embed** otherwise: the source's whole history, from its oldest live document to now, in
  ``WINDOW_DAYS`` windows, each a forced sync window (fetched again, chunked, embedded, upserted,
  recorded). The windows and which are done live in ``rebuild_windows``, so a retried, cleared
  or re-triggered rebuild resumes where it stopped; inside Airflow each window is a mapped task
  of ``vector_sync_rebuild_<source>`` (``vector_sync.airflow.rebuild``).

Either way the rebuild ends with ``finish``: documents the re-embedding did not write again are
gone upstream and leave the ledger (guarded like a prune: a broken listing never empties the
ledger), chunks the active store holds but the ledger does not list are deleted, so ``vector-sync
verify`` says ok. Nothing here imports Airflow; the backends come in ready.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from vector_sync.embedders.base import OPENAI_USD_PER_MILLION_TOKENS
from vector_sync.errors import FatalError
from vector_sync.models import Window
from vector_sync.state import StateStore
from vector_sync.state.rebuilds import target_of
from vector_sync.state.schema import batches
from vector_sync.stores.base import VectorStore

log = logging.getLogger(__name__)

COPY, REEMBED, NOTHING = "copy", "re-embed", "nothing"
# A re-embedding rebuild's window: one mapped task each, small enough that a failure re-does
# little, large enough that a year of history is ~52 tasks.
WINDOW_DAYS = 7
# Documents per copy step: their chunks are fetched, upserted and the ledger moved together.
COPY_DOCUMENTS = 200
# Chunks whose text is read for the dry run's token estimate (the rest are priced at their mean).
TOKEN_SAMPLE = 2_000
# The model a dry run prices re-embedding on.
COST_MODEL = "text-embedding-3-small"

OpenStore = Callable[[str], VectorStore]


class StoreUnavailable(Exception):
    """The store a ledger row names cannot be opened (gone, or not reachable from here)."""


class RebuildGuardError(FatalError):
    """The rebuild would drop more of the ledger than a prune may: more likely a broken fetch."""


@dataclass
class RebuildPlan:
    """What a rebuild of ``source`` would do and cost (``--dry-run`` prints it)."""

    source: str
    path: str  # COPY, REEMBED or NOTHING
    reason: str
    target_store: str | None
    fingerprint: str
    documents: int  # documents the path writes (re-embed: the whole history)
    chunks: int
    tokens: int  # re-embed: estimated from the stored chunk texts; copy: 0
    tokens_estimated: bool
    cost_usd: float  # on COST_MODEL
    windows: list[Window] = field(default_factory=list)
    # copy: old store_key -> documents read from it ("" for documents already in the active
    # store whose row named no store: only their row is stamped)
    moves: dict[str, list[str]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["windows"] = [w.to_json() for w in self.windows]
        data["moves"] = {key or "(unrecorded, already in the active store)": len(ids) for key, ids in self.moves.items()}
        data["cost_model"] = COST_MODEL
        return data

    def describe(self) -> str:
        if self.path == NOTHING:
            return f"{self.source}: nothing to rebuild ({self.reason})"
        tokens = f"{self.tokens}{' (estimated)' if self.tokens_estimated else ''}"
        line = (
            f"{self.source}: {self.path} {self.documents} documents, {self.chunks} chunks, {tokens} tokens, "
            f"${self.cost_usd:.4f} on {COST_MODEL}"
        )
        if self.path == REEMBED:
            line += f", {len(self.windows)} windows"
        return f"{line} ({self.reason})"


# ----------------------------------------------------------------------------- plan


def plan(
    source: str,
    state: StateStore,
    store: VectorStore,
    fingerprint: str,
    open_store: OpenStore,
    now: datetime | None = None,
    reembed: bool = False,
    window_days: float = WINDOW_DAYS,
) -> RebuildPlan:
    """Decide the path: copy when every document out of place was embedded with ``fingerprint``
    and its store opens (``open_store``), else re-embed the whole history (also with ``reembed``)
    in ``window_days`` windows."""
    now = now or datetime.now(timezone.utc)
    active = store.store_key
    placements = state.ledger.placements(source)
    chunk_ids = _chunk_ids(state, placements)
    stored = set(store.ids(f"{source}:"))
    misplaced: dict[str, list[str]] = {}  # old store_key ("" = unknown) -> documents
    for doc_id, (key, fp) in placements.items():
        present = all(c in stored for c in chunk_ids.get(doc_id, ()))
        if key == active and fp == fingerprint and present:
            continue
        if key is None and fp == fingerprint and present:
            misplaced.setdefault("", []).append(doc_id)  # in place; the row names no store yet
        else:
            misplaced.setdefault(key if key is not None and key != active else "?", []).append(doc_id)
    base = {"source": source, "target_store": active, "fingerprint": fingerprint}
    if not misplaced and not reembed:
        reason = "the active store holds every document of the ledger"
        return RebuildPlan(**base, path=NOTHING, reason=reason, documents=0, chunks=0, tokens=0, tokens_estimated=False, cost_usd=0.0)
    reason = _copy_refusal(misplaced, placements, fingerprint, open_store) if not reembed else "re-embedding was asked for"
    if reason is None:
        moved = [d for ids in misplaced.values() for d in ids]
        return RebuildPlan(
            **base,
            path=COPY,
            reason=f"same embedder {fingerprint}; vectors read from {', '.join(sorted(k for k in misplaced if k)) or 'the active store'}",
            documents=len(moved),
            chunks=sum(len(chunk_ids.get(d, ())) for d in moved),
            tokens=0,
            tokens_estimated=False,
            cost_usd=0.0,
            moves=misplaced,
        )
    tokens = estimate_tokens(source, state, chunk_ids, placements, open_store)
    return RebuildPlan(
        **base,
        path=REEMBED,
        reason=reason,
        documents=len(placements),
        chunks=sum(len(ids) for ids in chunk_ids.values()),
        tokens=tokens,
        tokens_estimated=True,
        cost_usd=round(tokens * OPENAI_USD_PER_MILLION_TOKENS / 1_000_000, 6),
        windows=history_windows(state, source, now, window_days),
    )


def _copy_refusal(
    misplaced: Mapping[str, list[str]], placements: Mapping[str, tuple[str | None, str]], fingerprint: str, open_store: OpenStore
) -> str | None:
    """Why the copy path cannot serve, or None when it can."""
    models = sorted({placements[d][1] for ids in misplaced.values() for d in ids} - {fingerprint})
    if models:
        return f"embedded with {', '.join(models)}, not the active {fingerprint}"
    if "?" in misplaced:
        return f"{len(misplaced['?'])} documents are missing from the active store and no other store holds them on record"
    for key in misplaced:
        if not key:
            continue
        try:
            open_store(key)
        except StoreUnavailable as exc:
            return f"the old store {key} cannot be opened ({exc})"
    return None


def history_windows(state: StateStore, source: str, now: datetime, days: float = WINDOW_DAYS) -> list[Window]:
    """``days``-long windows from the day of the source's oldest live document to ``now`` (the
    last one shorter). Aligned on that day, so planning again later (a resumed rebuild) yields
    the same starts, the last window reaching further."""
    times = [t for t in state.ledger.document_times(source).values() if t is not None]
    if not times:
        return []
    start = min(times).replace(hour=0, minute=0, second=0, microsecond=0)
    step = timedelta(days=days)
    windows = []
    while start < now:
        windows.append(Window(start, min(start + step, now)))
        start += step
    return windows


def estimate_tokens(
    source: str,
    state: StateStore,
    chunk_ids: Mapping[str, list[str]],
    placements: Mapping[str, tuple[str | None, str]],
    open_store: OpenStore,
) -> int:
    """Tokens a re-embedding would send: the cl100k tokens of up to ``TOKEN_SAMPLE`` chunk texts
    read from the stores the ledger names, the rest priced at their mean; with no store readable,
    the source's recent runs' tokens per embedded chunk. An estimate either way: the ledger keeps
    no texts, and upstream may have changed."""
    from vector_sync.tokens import count_tokens

    total_chunks = sum(len(ids) for ids in chunk_ids.values())
    by_store: dict[str, list[str]] = {}
    for doc_id, ids in chunk_ids.items():
        key = placements.get(doc_id, (None, ""))[0]
        if key:
            by_store.setdefault(key, []).extend(ids)
    counted, tokens = 0, 0
    for key, ids in by_store.items():
        room = TOKEN_SAMPLE - counted
        if room <= 0:
            break
        try:
            records = open_store(key).fetch(ids[:room])
        except StoreUnavailable:
            continue
        for record in records:
            tokens += (
                int(record.metadata.get("text_length") or 0) // 4 if record.metadata.get("text_truncated") else count_tokens(record.text)
            )
        counted += len(records)
    if counted:
        return round(tokens / counted * total_chunks)
    return round(_tokens_per_chunk(state, source) * total_chunks)


def _tokens_per_chunk(state: StateStore, source: str) -> float:
    runs = [r for r in state.runs.recent(source, limit=50) if r.embedded]
    embedded = sum(r.embedded for r in runs)
    return sum(r.tokens for r in runs) / embedded if embedded else 0.0


def _chunk_ids(state: StateStore, placements: Mapping[str, Any]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for chunk_id in state.ledger.chunk_hashes(list(placements)):
        out.setdefault(chunk_id.rsplit("#", 1)[0], []).append(chunk_id)
    return out


# ----------------------------------------------------------------------------- copy


def copy(rebuild: RebuildPlan, state: StateStore, store: VectorStore, open_store: OpenStore) -> dict[str, Any]:
    """The copy path: per old store, ``COPY_DOCUMENTS`` documents at a time, fetch their chunks,
    upsert them into ``store``, then move their ledger rows. A document the old store no longer
    holds whole is left on its old row (status keeps saying needs-rebuild; re-embed covers it)."""
    assert rebuild.path == COPY, rebuild.path
    copied_docs, copied_chunks, incomplete = 0, 0, []
    for key, doc_ids in rebuild.moves.items():
        old = open_store(key) if key else None
        for batch in batches(doc_ids, COPY_DOCUMENTS):
            if old is None:  # already in the active store: only the row is stamped
                copied_docs += state.ledger.move_to(batch, store.store_key)
                continue
            wanted = _chunk_ids(state, dict.fromkeys(batch))
            records = old.fetch([c for ids in wanted.values() for c in ids])
            found = {r.id for r in records}
            whole = [d for d in batch if all(c in found for c in wanted.get(d, ()))]
            incomplete += [d for d in batch if d not in whole]
            keep = set(whole)
            chunks = [r for r in records if r.id.rsplit("#", 1)[0] in keep]
            if chunks:
                store.upsert(chunks)
            copied_chunks += len(chunks)
            copied_docs += state.ledger.move_to(whole, store.store_key)
    result = {"path": COPY, "documents": copied_docs, "chunks": copied_chunks, "embedded": 0, "incomplete": incomplete[:50]}
    result["incomplete_count"] = len(incomplete)
    return result


# ----------------------------------------------------------------------------- re-embed


def begin(rebuild: RebuildPlan, state: StateStore) -> str:
    """Record the re-embedding's windows (kept when already recorded); returns its target."""
    target = target_of(rebuild.target_store, rebuild.fingerprint)
    state.rebuilds.plan(rebuild.source, target, rebuild.windows)
    return target


def run_windows(source: str, target: str, state: StateStore, run_window: Callable[[Window], Mapping[str, Any]]) -> dict[str, Any]:
    """Every window of the rebuild not done yet, oldest first, each marked done after it ran
    (the in-process form of the rebuild DAG's mapped task)."""
    totals = {"windows": 0, "fetched": 0, "embedded": 0, "tokens": 0}
    for window in state.rebuilds.pending(source, target):
        counts = rebuild_window(source, target, window, state, run_window)
        totals["windows"] += 1
        for key in ("fetched", "embedded", "tokens"):
            totals[key] += int(counts.get(key, 0) or 0)
    return totals


def rebuild_window(
    source: str, target: str, window: Window, state: StateStore, run_window: Callable[[Window], Mapping[str, Any]]
) -> Mapping[str, Any]:
    """One window of a re-embedding: skipped when already done (a cleared run, a second
    trigger), else run (a forced sync window) and marked done."""
    if window not in state.rebuilds.pending(source, target):
        log.info("rebuild of %s: window %s .. %s already done", source, window.start, window.end)
        return {"skipped": True}
    counts = run_window(window)
    state.rebuilds.mark_done(source, target, window)
    return counts


def finish(
    source: str,
    state: StateStore,
    store: VectorStore,
    fingerprint: str,
    max_share: float,
    force: bool = False,
) -> dict[str, Any]:
    """End a rebuild. When a re-embedding into ``store`` with ``fingerprint`` is recorded, every
    window must be done; then the documents it did not write again (gone upstream) leave the
    ledger and the store, guarded by ``max_share`` of the source's documents unless ``force``.
    Either way, chunks in the store that the ledger does not list are deleted."""
    target = target_of(store.store_key, fingerprint)
    result: dict[str, Any] = {"dropped_documents": 0, "deleted_extra_chunks": 0}
    since = state.rebuilds.started_at(source, target)
    if since is not None:
        pending = state.rebuilds.pending(source, target)
        if pending:
            raise FatalError(f"rebuild of '{source}' has {len(pending)} windows not done yet; run it again to resume")
        gone = state.ledger.not_written_since(source, store.store_key or "", fingerprint, since)
        known = state.ledger.document_count(source)
        share = len(gone) / known if known else 0.0
        if share > max_share and not force:
            raise RebuildGuardError(
                f"rebuild of '{source}' did not find {len(gone)} of {known} documents upstream again ({share:.0%}), more than "
                f"the guard's {max_share:.0%}: check the connection, or run it again with --force to drop them"
            )
        _drop(state, store, gone)
        result["dropped_documents"] = len(gone)
        state.rebuilds.finish(source, target)
    extra = sorted(set(store.ids(f"{source}:")) - set(state.ledger.live_chunk_ids(source)))
    if extra:
        store.delete(extra)
    result["deleted_extra_chunks"] = len(extra)
    return result


def _drop(state: StateStore, store: VectorStore, doc_ids: Iterable[str]) -> None:
    ids = list(doc_ids)
    if not ids:
        return
    chunk_ids = list(state.ledger.chunk_hashes(ids))
    if chunk_ids:
        store.delete(chunk_ids)
    state.ledger.mark_deleted(ids, datetime.now(timezone.utc))


# ----------------------------------------------------------------------------- old stores


def store_opener(pinecone_client: Callable[[], Any] | None = None) -> OpenStore:
    """``open_store`` for ``plan`` and ``copy``: opens the store a ``store_key`` names, read
    only, once per key. LanceDB: the table under its path, which must exist. Pinecone: the
    index host and namespace of the key through ``pinecone_client()`` (the active connection's
    client: same project, same API key); the key keeps no scheme, so loopback hosts (the
    sandbox) are taken as http, others as https."""
    opened: dict[str, VectorStore] = {}

    def open_store(store_key: str) -> VectorStore:
        if store_key not in opened:
            opened[store_key] = _open(store_key, pinecone_client)
        return opened[store_key]

    return open_store


def _open(store_key: str, pinecone_client: Callable[[], Any] | None) -> VectorStore:
    kind, _, where = store_key.partition(":")
    if kind == "lancedb":
        uri, _, table = where.rpartition("#")
        if "://" not in uri and not Path(uri).is_dir():
            raise StoreUnavailable(f"no LanceDB folder at {uri}")
        from vector_sync.stores.lancedb import LanceDBStore

        store = LanceDBStore(uri, table or "chunks")
        if store.stored_dimension() is None:
            raise StoreUnavailable(f"no table '{table}' in {uri}")
        return store
    if kind == "pinecone":
        host, _, namespace = where.rpartition("/")
        if not host or "#" in where:
            raise StoreUnavailable("the key does not name a Pinecone host (hashed: too long to recover)")
        if pinecone_client is None:
            raise StoreUnavailable("no Pinecone connection to read it with")
        from vector_sync.stores.pinecone import PineconeStore

        scheme = "http" if host.split(":", 1)[0].split("/", 1)[0] in ("127.0.0.1", "localhost", "[::1]") else "https"
        try:
            index = pinecone_client().Index(host=f"{scheme}://{host}")
            store = PineconeStore(index, namespace=namespace)
            store.count()  # reachable, and the credentials are accepted
        except Exception as exc:
            raise StoreUnavailable(str(exc)[:200]) from None
        return store
    raise StoreUnavailable(f"unknown store kind '{kind}'")


# ----------------------------------------------------------------------------- both paths


def execute(
    rebuild: RebuildPlan,
    state: StateStore,
    store: VectorStore,
    open_store: OpenStore,
    run_window: Callable[[Window], Mapping[str, Any]],
    max_share: float,
    force: bool = False,
) -> dict[str, Any]:
    """Carry out ``rebuild`` in this process (copy, or every pending window in turn), finish it
    and check the coverage; returns the counts with ``verify``'s verdict."""
    if rebuild.path == COPY:
        result = copy(rebuild, state, store, open_store)
    elif rebuild.path == REEMBED:
        result = {"path": REEMBED, **run_windows(rebuild.source, begin(rebuild, state), state, run_window)}
    else:
        result = {"path": NOTHING}
    return {**result, **finish_and_verify(rebuild.source, state, store, rebuild.fingerprint, max_share, force)}


def finish_and_verify(
    source: str, state: StateStore, store: VectorStore, fingerprint: str, max_share: float, force: bool = False
) -> dict[str, Any]:
    """``finish``, then ``check_coverage``: the counts with ``ok`` and ``verify`` (the verdict)."""
    from vector_sync.coverage import check_coverage

    result = finish(source, state, store, fingerprint, max_share, force)
    coverage = check_coverage(source, state, store)
    return {**result, "ok": coverage.ok, "verify": coverage.verdict()}
