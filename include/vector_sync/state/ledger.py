"""The document and chunk ledger: what the vector store holds, its hashes and its access."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from vector_sync.models import utc
from vector_sync.state.schema import IN_BATCH, batches, chunks_table, documents_table, unique, upsert


class Access(NamedTuple):
    """Who may see a document: ``("all", ())``, or a type and the emails it lists (lower-case,
    sorted, unique: ``normal`` makes every producer's form comparable)."""

    type: str
    emails: tuple[str, ...] = ()

    @classmethod
    def normal(cls, access_type: str | None, emails: Iterable[str] = ()) -> Access:
        return cls(str(access_type or "all"), tuple(sorted({str(e).strip().lower() for e in emails if e and str(e).strip()})))


class LedgerEntry(NamedTuple):
    """What the ledger knows about a document already in the vector store."""

    content_hash: str
    chunk_count: int
    fingerprint: str
    deleted: bool
    body_hash: str | None = None
    access: Access | None = None  # None: not recorded yet


class LedgerWrite(NamedTuple):
    doc_id: str
    content_hash: str
    chunk_count: int
    fingerprint: str
    updated_at: datetime | None
    body_hash: str | None = None
    access: Access | None = None


class ChunkWrite(NamedTuple):
    chunk_id: str
    doc_id: str
    content_hash: str
    fingerprint: str
    body_hash: str | None = None


class ChunkState(NamedTuple):
    content_hash: str
    fingerprint: str
    body_hash: str | None = None


@dataclass(frozen=True)
class LedgerRepository:
    """Reads and writes of ``documents`` and ``chunks``, so a re-run embeds only what changed."""

    engine: Engine

    def entries(self, doc_ids: Iterable[str]) -> dict[str, LedgerEntry]:
        """Ledger entries of the given documents (unknown ids are absent)."""
        ids = unique(doc_ids)
        c = documents_table.c
        out: dict[str, LedgerEntry] = {}
        with self.engine.connect() as conn:
            for batch in batches(ids, IN_BATCH):
                query = sa.select(
                    c.id, c.content_hash, c.chunk_count, c.fingerprint, c.deleted, c.body_hash, c.access_type, c.access_list
                ).where(c.id.in_(batch))
                for doc_id, content_hash, chunk_count, fingerprint, deleted, body_hash, access_type, access_list in conn.execute(query):
                    access = _read_access(access_type, access_list)
                    out[doc_id] = LedgerEntry(content_hash, chunk_count, fingerprint, bool(deleted), body_hash, access)
        return out

    def chunk_hashes(self, doc_ids: Iterable[str]) -> dict[str, ChunkState]:
        """``chunk_id -> (content_hash, fingerprint)`` for every stored chunk of the documents."""
        ids = unique(doc_ids)
        c = chunks_table.c
        out: dict[str, ChunkState] = {}
        with self.engine.connect() as conn:
            for batch in batches(ids, IN_BATCH):
                query = sa.select(c.id, c.content_hash, c.fingerprint, c.body_hash).where(c.document_id.in_(batch))
                for chunk_id, content_hash, fingerprint, body_hash in conn.execute(query):
                    out[chunk_id] = ChunkState(content_hash, fingerprint, body_hash)
        return out

    def write(
        self,
        source: str,
        documents: Sequence[LedgerWrite | tuple],
        chunks: Sequence[ChunkWrite | tuple],
        removed_chunk_ids: Iterable[str],
        synced_at: datetime,
        store_key: str | None = None,
    ) -> None:
        """Record what the vector store now holds, in one transaction: upsert the documents
        (un-deleting them) and their chunks, and drop the rows of removed chunks. ``store_key``
        names the store written to (``VectorStore.store_key``); None keeps what was recorded.

        Call only after the store accepted the write, so a crash re-does work, never skips it.
        """
        synced_at = utc(synced_at)
        doc_rows = [
            {
                "id": w.doc_id,
                "source": source,
                "content_hash": w.content_hash,
                "chunk_count": int(w.chunk_count),
                "fingerprint": w.fingerprint or "",
                "updated_at": w.updated_at,
                "synced_at": synced_at,
                "deleted": False,
                "body_hash": w.body_hash,
                **_access_row(w.access),
                **({"store_key": store_key} if store_key is not None else {}),
            }
            for w in map(_as_ledger_write, documents)
        ]
        chunk_rows = [
            {
                "id": w.chunk_id,
                "document_id": w.doc_id,
                "content_hash": w.content_hash,
                "fingerprint": w.fingerprint or "",
                "body_hash": w.body_hash,
            }
            for w in map(_as_chunk_write, chunks)
        ]
        removed = unique(removed_chunk_ids)
        with self.engine.begin() as conn:
            # Deletes first: a chunk both removed and written (a caller's mistake) survives.
            for batch in batches(removed, IN_BATCH):
                conn.execute(chunks_table.delete().where(chunks_table.c.id.in_(batch)))
            upsert(conn, documents_table, doc_rows, keys=["id"])
            upsert(conn, chunks_table, chunk_rows, keys=["id"])

    def mark_deleted(self, doc_ids: Iterable[str], synced_at: datetime) -> int:
        """Flag documents deleted upstream and drop their chunk rows; returns documents flagged."""
        ids = unique(doc_ids)
        synced_at = utc(synced_at)
        flagged = 0
        with self.engine.begin() as conn:
            for batch in batches(ids, IN_BATCH):
                result = conn.execute(
                    documents_table.update().where(documents_table.c.id.in_(batch)).values(deleted=True, chunk_count=0, synced_at=synced_at)
                )
                flagged += result.rowcount
                conn.execute(chunks_table.delete().where(chunks_table.c.document_id.in_(batch)))
        return flagged

    def set_access(self, doc_ids: Iterable[str], access: Access) -> int:
        """Record that the index now grants ``access`` to these documents (after the store's
        update); returns the live rows changed."""
        ids = unique(doc_ids)
        values = _access_row(access)
        changed = 0
        with self.engine.begin() as conn:
            for batch in batches(ids, IN_BATCH):
                stmt = documents_table.update().where(documents_table.c.id.in_(batch), documents_table.c.deleted.is_(False))
                changed += conn.execute(stmt.values(**values)).rowcount
        return changed

    def access_of_source(self, source: str) -> dict[str, tuple[Access | None, datetime | None]]:
        """Live documents of a source: ``id -> (recorded access or None, updated_at)``."""
        c = documents_table.c
        query = sa.select(c.id, c.access_type, c.access_list, c.updated_at).where(c.source == source, c.deleted.is_(False))
        with self.engine.connect() as conn:
            return {doc_id: (_read_access(kind, emails), updated) for doc_id, kind, emails, updated in conn.execute(query)}

    def documents_of_source(self, source: str, include_deleted: bool = False) -> list[str]:
        query = sa.select(documents_table.c.id).where(documents_table.c.source == source).order_by(documents_table.c.id)
        if not include_deleted:
            query = query.where(documents_table.c.deleted.is_(False))
        with self.engine.connect() as conn:
            return list(conn.scalars(query))

    def document_times(self, source: str) -> dict[str, datetime]:
        """Live documents of a source with their upstream ``updated_at`` (for pruning spans)."""
        query = sa.select(documents_table.c.id, documents_table.c.updated_at).where(
            documents_table.c.source == source, documents_table.c.deleted.is_(False)
        )
        with self.engine.connect() as conn:
            return {doc_id: updated for doc_id, updated in conn.execute(query)}

    def written_to(self, source: str) -> dict[tuple[str | None, str], int]:
        """Live documents of a source by where they were written: ``(store_key, fingerprint) ->
        count``; a ``store_key`` of None is unknown (written before it was recorded)."""
        c = documents_table.c
        query = (
            sa.select(c.store_key, c.fingerprint, sa.func.count())
            .where(c.source == source, c.deleted.is_(False))
            .group_by(c.store_key, c.fingerprint)
        )
        with self.engine.connect() as conn:
            return {(store_key, fingerprint or ""): int(count) for store_key, fingerprint, count in conn.execute(query)}

    def placements(self, source: str) -> dict[str, tuple[str | None, str]]:
        """Live documents of a source: ``id -> (store_key, fingerprint)``, what ``written_to``
        counts, per document (a rebuild's plan)."""
        c = documents_table.c
        query = sa.select(c.id, c.store_key, c.fingerprint).where(c.source == source, c.deleted.is_(False)).order_by(c.id)
        with self.engine.connect() as conn:
            return {doc_id: (store_key, fingerprint or "") for doc_id, store_key, fingerprint in conn.execute(query)}

    def move_to(self, doc_ids: Iterable[str], store_key: str) -> int:
        """Record that the live documents' chunks now live in ``store_key`` (copied there
        unchanged, so nothing else about them changes); returns the rows moved."""
        ids = unique(doc_ids)
        moved = 0
        with self.engine.begin() as conn:
            for batch in batches(ids, IN_BATCH):
                stmt = documents_table.update().where(documents_table.c.id.in_(batch), documents_table.c.deleted.is_(False))
                moved += conn.execute(stmt.values(store_key=store_key)).rowcount
        return moved

    def not_written_since(self, source: str, store_key: str, fingerprint: str, since: datetime) -> list[str]:
        """Live documents of a source not rewritten into ``store_key`` with ``fingerprint`` at
        or after ``since``: after a rebuild that re-read the whole history, the ones gone
        upstream."""
        c = documents_table.c
        rewritten = sa.and_(c.store_key == store_key, c.fingerprint == fingerprint, c.synced_at >= utc(since))
        query = (
            sa.select(c.id).where(c.source == source, c.deleted.is_(False), sa.not_(sa.func.coalesce(rewritten, sa.false()))).order_by(c.id)
        )
        with self.engine.connect() as conn:
            return list(conn.scalars(query))

    def live_chunk_ids(self, source: str) -> list[str]:
        """Every chunk id the ledger says the store holds for the source's live documents, sorted."""
        d, c = documents_table.c, chunks_table.c
        query = (
            sa.select(c.id)
            .select_from(chunks_table.join(documents_table, c.document_id == d.id))
            .where(d.source == source, d.deleted.is_(False))
            .order_by(c.id)
        )
        with self.engine.connect() as conn:
            return list(conn.scalars(query))

    def document_count(self, source: str | None = None) -> int:
        """Live (not deleted) documents, of one source or all."""
        query = sa.select(sa.func.count()).select_from(documents_table).where(documents_table.c.deleted.is_(False))
        if source is not None:
            query = query.where(documents_table.c.source == source)
        with self.engine.connect() as conn:
            return int(conn.scalar(query) or 0)


def _as_ledger_write(value: LedgerWrite | tuple) -> LedgerWrite:
    return value if isinstance(value, LedgerWrite) else LedgerWrite(*value)


def _as_chunk_write(value: ChunkWrite | tuple) -> ChunkWrite:
    return value if isinstance(value, ChunkWrite) else ChunkWrite(*value)


def _access_row(access: Access | None) -> dict[str, Any]:
    if access is None:
        return {"access_type": None, "access_list": None}
    access = Access.normal(*access)
    return {"access_type": access.type, "access_list": json.dumps(list(access.emails))}


def _read_access(access_type: str | None, access_list: str | None) -> Access | None:
    """The recorded access; None when unknown or unreadable (fail closed: the pass rewrites it)."""
    if access_type is None or access_list is None:
        return None
    try:
        emails = json.loads(access_list)
    except ValueError:
        return None
    return Access.normal(access_type, emails) if isinstance(emails, list) else None
