"""The sync steps as plain functions: fetch -> filter_active_projects -> embed -> upsert -> record.

Each step reads what the previous one staged and returns small counts (what Airflow puts in
XCom). Every step can run again safely: ids are deterministic, the store upserts by id, and
the ledger is written only after the store accepted the vectors, so a retried ``upsert``
neither re-fetches nor re-embeds, and a cleared window re-embeds nothing that is unchanged.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from itertools import islice
from typing import Any, TypeVar

from vector_sync import staging
from vector_sync.chunking import chunk_document
from vector_sync.embedders.base import Embedder, pack_requests
from vector_sync.models import Chunk, Document, VectorRecord, Window
from vector_sync.permissions import apply_access, chunk_body_hash, document_access, document_body_hash
from vector_sync.protocol import StepCounts
from vector_sync.sources.base import Source
from vector_sync.sources.projects import is_kept
from vector_sync.specs import COMMON_OPTIONS
from vector_sync.staging import Kind
from vector_sync.state import Access, ChunkState, ChunkWrite, LedgerEntry, LedgerWrite, StateStore, SyncRun
from vector_sync.stores.base import VectorStore

log = logging.getLogger(__name__)

T = TypeVar("T")

DOCS_PER_EMBED_BATCH = COMMON_OPTIONS["embed_batch_docs"].default  # documents per embed/upsert batch (a mapped task each in Airflow)...
MAX_BATCHES = COMMON_OPTIONS["max_embed_batches"].default  # ...but never more batches than this: no thousands of tiny mapped tasks
DOCS_PER_GROUP = 256  # within a batch, ledger look-ups and chunking happen this many documents at a time...
GROUP_TEXT_CHARS = 4_000_000  # ...or fewer, so a group of long transcripts stays small in memory
VECTORS_PER_UPSERT = 500  # records handed to the store per call (stores split further by their limits)


def groups(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """``items`` in lists of ``size`` (the last one shorter)."""
    iterator = iter(items)
    while group := list(islice(iterator, size)):
        yield group


def document_groups(raw_docs: Iterable[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    """Staged documents in groups bounded by count and by text size."""
    group: list[dict[str, Any]] = []
    chars = 0
    for raw in raw_docs:
        group.append(raw)
        chars += len(raw.get("text", ""))
        if len(group) >= DOCS_PER_GROUP or chars >= GROUP_TEXT_CHARS:
            yield group
            group, chars = [], 0
    if group:
        yield group


@dataclass(frozen=True)
class ChunkSettings:
    max_tokens: int
    overlap_tokens: int


def fetch(
    source: Source, window: Window, staged: staging.StagedRun, scope: Mapping[str, Any] | None = None, part: int = 0
) -> dict[str, Any]:
    """Page through the source for one part of ``window`` (``scope``: what the source's part
    covers, see ``Source.parts``; none: the whole window) and stage its documents and
    removals; each part writes its own files, so mapped fetches never collide."""
    items = 0
    scope = scope or {}
    whole, window = window, source.part_window(window, scope)
    # One source object may fetch several parts (vector_sync.run): count this part's skips only.
    skipped_before = Counter(source.stats.skipped)
    listed_before = {reason: len(listed) for reason, listed in source.stats.items.items()}

    def documents() -> Iterator[dict[str, Any]]:
        nonlocal items
        for doc in source.fetch_part(window, scope):
            items += source.items_in(doc)
            yield doc.to_json()

    fetched = staged.write(Kind.DOCUMENTS, part, documents())
    # removed_ids runs after fetch so sources can report what they saw while paging. Removals
    # are listed by time: a time slice lists its own; parts cut another way (channels, work
    # dates) leave the whole window's to part 0.
    listed = part == 0 or window != whole
    removed = staged.write(Kind.REMOVED, part, ({"id": doc_id} for doc_id in source.removed_ids(window)) if listed else ())
    skipped = dict(source.stats.skipped - skipped_before)
    skipped_items = [
        {"reason": reason, "item": item} for reason, listed in source.stats.items.items() for item in listed[listed_before.get(reason, 0) :]
    ]
    log.info("fetched %d documents, %d removed, skipped %s for part %d of %s", fetched, removed, skipped or "none", part, window)
    return {
        "fetched": fetched,
        "items": items,
        "removed": removed,
        "errors": sum(skipped.values()),
        "skip_reasons": skipped,
        "skipped_items": skipped_items,  # a list: StepCounts leaves it out of XCom's counts
        "part": part,
    }


def note_skips(state: StateStore, source: str, run_id: str, counts: Mapping[str, Any]) -> None:
    """Store a fetch part's skips (``fetch``'s counts) for status and the page (``sync_skips``)."""
    state.skips.record(source, run_id, int(counts.get("part", 0)), counts.get("skip_reasons") or {}, counts.get("skipped_items") or ())


def filter_active_projects(
    staged: staging.StagedRun,
    known_projects: Mapping[str, bool],
    keep_unmapped: bool,
    parts: Sequence[int] = (0,),
    max_batches: int = 1,
    batch_docs: int | None = None,
) -> dict[str, Any]:
    """Keep documents of an active project (or unmapped ones where the source allows it), in
    embed batches.

    A document with several projects stays when any of them is active. Duplicates of one id
    (a source may meet an item twice while paging a moving list, or in two fetch parts) keep
    the latest version. The kept documents are split into ``batches`` (at least one, at most
    ``max_batches``, each of at least ``batch_docs``, default ``DOCS_PER_EMBED_BATCH``) that
    embed and upsert process as separate, mapped tasks.
    """

    def all_docs() -> Iterator[tuple[int, dict[str, Any]]]:
        position = 0
        for part in parts:
            for doc in staged.read(Kind.DOCUMENTS, part):
                yield position, doc
                position += 1

    latest: dict[str, tuple[str, int]] = {}
    for position, doc in all_docs():
        seen = latest.get(doc["id"])
        if seen is None or doc["updated_at"] >= seen[0]:
            latest[doc["id"]] = (doc["updated_at"], position)
    winners = {position for _, position in latest.values()}
    size = max(batch_docs or DOCS_PER_EMBED_BATCH, -(-len(winners) // max(1, max_batches)), 1)

    counts = {"kept": 0, "filtered_out": 0, "duplicates": 0}

    def kept() -> Iterator[dict[str, Any]]:
        for position, doc in all_docs():
            if position not in winners:
                counts["duplicates"] += 1
                continue
            if is_kept(doc.get("projects") or [], known_projects, keep_unmapped):
                yield doc
            else:
                counts["filtered_out"] += 1

    batches = 0
    stream = kept()
    while True:
        written = staged.write(Kind.FILTERED, batches, islice(stream, size))
        counts["kept"] += written
        if written or batches == 0:
            batches += 1
        if written < size:
            break
    return {**counts, "batches": list(range(batches)), "parts": list(parts)}


def embed(
    staged: staging.StagedRun,
    state: StateStore,
    embedder: Embedder,
    chunking: ChunkSettings,
    dry_run: bool = False,
    force: bool = False,
    batch: int = 0,
) -> dict[str, Any]:
    """Chunk changed documents of one batch and embed only chunks whose hash or embedding
    fingerprint changed.

    ``force`` re-embeds everything (``vector-sync reindex``).

    Stages the vectors to upsert, the ledger rows to write after the upsert, and the ids of
    chunks a shrunken document no longer has. With ``dry_run`` nothing is embedded: the counts
    say what would be.
    """
    fingerprint = embedder.fingerprint
    counts = {
        "documents": 0,
        "unchanged_documents": 0,
        "chunks": 0,
        "embedded": 0,
        "skipped_unchanged": 0,
        "tokens": 0,
        "empty": 0,
        "access_updated": 0,
    }
    vectors: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    stale: list[dict[str, Any]] = []

    def work() -> Iterator[None]:
        for group in document_groups(staged.read(Kind.FILTERED, batch)):
            docs = [Document.from_json(raw) for raw in group]
            ledger = state.ledger.entries([doc.id for doc in docs])
            changed: list[tuple[Document, str]] = []
            for doc in docs:
                counts["documents"] += 1
                digest, body, access = doc.content_hash(), document_body_hash(doc), document_access(doc)
                entry = ledger.get(doc.id)
                if entry and not entry.deleted and entry.access is not None and entry.access != access:
                    # The index holds other access for this document (a permission pass or an
                    # upstream change): set it on every chunk, embedded again or not.
                    rows.append(_access_row(doc.id, access))
                    counts["access_updated"] += 1
                if not force and _document_unchanged(entry, digest, body, fingerprint):
                    counts["unchanged_documents"] += 1
                    counts["chunks"] += entry.chunk_count
                    counts["skipped_unchanged"] += entry.chunk_count
                    continue
                changed.append((doc, digest, body, access))
            if not changed:
                continue
            old_chunks = _chunks_by_document(state.ledger.chunk_hashes([doc.id for doc, *_ in changed]))
            to_embed: list[Chunk] = []
            for doc, digest, body, access in changed:
                chunks = chunk_document(doc, chunking.max_tokens, chunking.overlap_tokens)
                if not chunks:
                    counts["empty"] += 1
                counts["chunks"] += len(chunks)
                previous = old_chunks.get(doc.id, {})
                hashes = []
                for chunk in chunks:
                    chunk_hash, chunk_body = chunk.content_hash(), chunk_body_hash(chunk)
                    hashes.append([chunk.id, chunk_hash, chunk_body])
                    if not force and _chunk_unchanged(previous.get(chunk.id), chunk_hash, chunk_body, fingerprint):
                        counts["skipped_unchanged"] += 1
                    else:
                        to_embed.append(chunk)
                current = {chunk.id for chunk in chunks}
                stale.extend({"id": chunk_id, "document_id": doc.id} for chunk_id in previous if chunk_id not in current)
                rows.append(
                    {
                        "id": doc.id,
                        "source": doc.source,
                        "content_hash": digest,
                        "body_hash": body,
                        "access_type": access.type,
                        "access_list": list(access.emails),
                        "chunk_count": len(chunks),
                        "fingerprint": fingerprint,
                        "updated_at": doc.updated_at.isoformat(),
                        "chunks": hashes,
                    }
                )
            counts["tokens"] += sum(chunk.tokens for chunk in to_embed)
            if dry_run:
                counts["embedded"] += len(to_embed)
                to_embed = []
            for request in pack_requests(to_embed, lambda c: c.tokens, embedder.max_batch_inputs, embedder.max_batch_tokens):
                values = embedder.embed_matrix([chunk.text for chunk in request])
                counts["embedded"] += len(request)
                vectors.extend(
                    {
                        "id": chunk.id,
                        "document_id": chunk.document_id,
                        "values": staging.pack_vector(vector),
                        "text": chunk.text,
                        "metadata": dict(chunk.metadata),
                    }
                    for chunk, vector in zip(request, values)
                )
            yield None

    # Stream: flush staged records after every group so memory stays bounded by one group.
    with (
        _Appender(staged, Kind.VECTORS, batch, vectors) as vec_out,
        _Appender(staged, Kind.LEDGER_ROWS, batch, rows) as rows_out,
        _Appender(staged, Kind.STALE_CHUNKS, batch, stale) as stale_out,
    ):
        for _ in work():
            vec_out.flush()
            rows_out.flush()
            stale_out.flush()
    counts["stale_chunks"] = stale_out.count
    counts["cost_usd"] = embedder.cost_usd(counts["tokens"])
    counts["fingerprint"] = fingerprint
    counts["batch"] = batch
    return counts


def upsert(
    staged: staging.StagedRun, state: StateStore, store: VectorStore, source: str, batch: int = 0, removed_parts: Sequence[int] = (0,)
) -> dict[str, Any]:
    """Write one batch's staged vectors, delete stale chunks (and, with batch 0, the chunks of
    documents removed upstream), then — only then — write the ledger."""
    upserted = 0
    for group in groups(staged.read(Kind.VECTORS, batch), VECTORS_PER_UPSERT):
        upserted += store.upsert(
            [
                VectorRecord(
                    id=raw["id"],
                    document_id=raw["document_id"],
                    values=staging.unpack_vector(raw["values"]),
                    text=raw["text"],
                    metadata=raw["metadata"],
                )
                for raw in group
            ]
        )
    stale_ids = [raw["id"] for raw in staged.read(Kind.STALE_CHUNKS, batch)]
    removed_docs = [raw["id"] for part in (removed_parts if batch == 0 else ()) for raw in staged.read(Kind.REMOVED, part)]
    removed_chunk_ids = list(state.ledger.chunk_hashes(removed_docs)) if removed_docs else []
    deleted = store.delete(stale_ids + removed_chunk_ids) if (stale_ids or removed_chunk_ids) else 0

    synced_at = datetime.now(timezone.utc)
    access_updated = 0
    for all_rows in groups(staged.read(Kind.LEDGER_ROWS, batch), 1000):
        # Access first (store, then ledger), so the ledger rows written next find it in place.
        regranted: dict[Access, list[str]] = {}
        for row in all_rows:
            if row.get("access_only"):
                regranted.setdefault(Access.normal(row["access_type"], row["access_list"]), []).append(row["id"])
        for access, doc_ids in regranted.items():
            apply_access(store, state, doc_ids, access)
            access_updated += len(doc_ids)
        rows = [row for row in all_rows if not row.get("access_only")]
        batch_ids = {row["id"] for row in rows}
        state.ledger.write(
            source,
            documents=[_ledger_write(row) for row in rows],
            chunks=[
                ChunkWrite(chunk[0], row["id"], chunk[1], row["fingerprint"], chunk[2] if len(chunk) > 2 else None)
                for row in rows
                for chunk in row["chunks"]
            ],
            removed_chunk_ids=[chunk_id for chunk_id in stale_ids if chunk_id.rsplit("#", 1)[0] in batch_ids],
            synced_at=synced_at,
            store_key=store.store_key,
        )
    if removed_docs:
        state.ledger.mark_deleted(removed_docs, synced_at)
    return {"upserted": upserted, "deleted": deleted, "removed_documents": len(removed_docs), "access_updated_documents": access_updated}


def record(
    state: StateStore,
    source: str,
    run_id: str,
    window: Window,
    started_at: datetime,
    counts: Mapping[str, Any],
    status: str = "success",
    error_message: str | None = None,
) -> dict[str, Any]:
    """Store the run's metrics, advance ``last_sync`` over contiguous successes, resolve failures."""
    finished_at = datetime.now(timezone.utc)
    state.runs.record(
        SyncRun(
            source=source,
            run_id=run_id,
            window_start=window.start,
            window_end=window.end,
            started_at=started_at,
            finished_at=finished_at,
            duration_s=(finished_at - started_at).total_seconds(),
            fetched=int(counts.get("fetched", 0)),
            filtered_out=int(counts.get("filtered_out", 0)),
            chunks=int(counts.get("chunks", 0)),
            embedded=int(counts.get("embedded", 0)),
            skipped_unchanged=int(counts.get("skipped_unchanged", 0)),
            upserted=int(counts.get("upserted", 0)),
            deleted=int(counts.get("deleted", 0)),
            errors=int(counts.get("errors", 0)),
            tokens=int(counts.get("tokens", 0)),
            cost_usd=float(counts.get("cost_usd", 0.0)),
            status=status,
            error_message=error_message,
        )
    )
    result: dict[str, Any] = {"status": status}
    if status == "success":
        result["last_sync"] = state.runs.advance_last_sync(source, window.start, window.end).isoformat()
        result["resolved_failures"] = state.runs.resolve_failures(source, finished_at)
    return result


def _chunks_by_document(chunk_hashes: Mapping[str, ChunkState]) -> dict[str, dict[str, ChunkState]]:
    grouped: dict[str, dict[str, ChunkState]] = {}
    for chunk_id, state in chunk_hashes.items():
        grouped.setdefault(chunk_id.rsplit("#", 1)[0], {})[chunk_id] = state
    return grouped


def _document_unchanged(entry: LedgerEntry | None, digest: str, body: str, fingerprint: str) -> bool:
    """Same embedding and same content apart from access (rows written before body hashes
    existed compare the full hash, access included)."""
    if entry is None or entry.deleted or entry.fingerprint != fingerprint:
        return False
    return entry.body_hash == body if entry.body_hash else entry.content_hash == digest


def _chunk_unchanged(previous: ChunkState | None, chunk_hash: str, body: str, fingerprint: str) -> bool:
    if previous is None or previous.fingerprint != fingerprint:
        return False
    return previous.body_hash == body if previous.body_hash else previous.content_hash == chunk_hash


def _access_row(doc_id: str, access: Access) -> dict[str, Any]:
    return {"id": doc_id, "access_only": True, "access_type": access.type, "access_list": list(access.emails)}


def _ledger_write(row: Mapping[str, Any]) -> LedgerWrite:
    access = Access.normal(row["access_type"], row["access_list"]) if "access_type" in row else None
    return LedgerWrite(
        row["id"],
        row["content_hash"],
        row["chunk_count"],
        row["fingerprint"],
        datetime.fromisoformat(row["updated_at"]),
        row.get("body_hash"),
        access,
    )


class _Appender:
    """Writes a list's items to a staged JSONL file whenever flushed, then empties the list."""

    def __init__(self, staged: staging.StagedRun, kind: Kind, batch: int, buffer: list[dict[str, Any]]) -> None:
        self.staged = staged
        self.kind = kind
        self.batch = batch
        self.buffer = buffer
        self.count = 0

    def __enter__(self) -> _Appender:
        self.handle = self.staged.open(self.kind, self.batch, "w")
        return self

    def flush(self) -> None:
        import json

        for record in self.buffer:
            self.handle.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n")
        self.count += len(self.buffer)
        self.buffer.clear()

    def __exit__(self, *exc: Any) -> None:
        if exc[0] is None:
            self.flush()
        self.handle.close()


def run_window(
    source: Source,
    window: Window,
    staged: staging.StagedRun,
    state: StateStore,
    embedder: Embedder,
    store: VectorStore,
    chunking: ChunkSettings,
    run_id: str,
    dry_run: bool = False,
    force: bool = False,
) -> dict[str, Any]:
    """Every step in order, in this process: the CLI's replays, benchmarks and tests."""
    started_at = datetime.now(timezone.utc)
    scopes = source.parts(window)
    fetched = [fetch(source, window, staged, scope, part) for part, scope in enumerate(scopes)]
    if not dry_run:
        for part_counts in fetched:
            note_skips(state, source.name, run_id, part_counts)
    counts: dict[str, Any] = sum_counts(fetched)
    filtered = filter_active_projects(
        staged, state.projects.known(), source.keep_unmapped, parts=range(len(scopes)), max_batches=MAX_BATCHES
    )
    counts.update({k: v for k, v in filtered.items() if k not in ("batches", "parts")})
    embedded = [embed(staged, state, embedder, chunking, dry_run=dry_run, force=force, batch=b) for b in filtered["batches"]]
    counts.update(sum_counts(embedded))
    if dry_run:
        return counts
    counts.update(
        sum_counts(upsert(staged, state, store, source.name, batch=b, removed_parts=filtered["parts"]) for b in filtered["batches"])
    )
    counts.update(record(state, source.name, run_id, window, started_at, counts))
    counts["duration_s"] = (datetime.now(timezone.utc) - started_at).total_seconds()
    return counts


def sum_counts(results: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Add up the counts of several parts or batches (``protocol.StepCounts``), flat."""
    return StepCounts.total(StepCounts.of(result) for result in results).as_dict()
