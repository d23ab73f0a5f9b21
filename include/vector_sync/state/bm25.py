"""BM25 collection statistics in the state database, kept current by upserts and deletes.

Per collection (a Pinecone index namespace): the chunk count and summed length
(``sparse_collections``), each term's document frequency (``sparse_terms``), and each chunk's
length and distinct terms (``sparse_chunks``). The chunk rows are what make the counts exact
and every call idempotent: a re-upserted chunk first takes its stored terms back out, a delete
(which carries only ids) takes out exactly what that chunk added, and a retried task repeats
the same replacement instead of counting twice. A hash of the term set would not do: a delete
must know *which* document frequencies to lower. They cost 4 bytes per distinct term per chunk.

Writers of one collection are serialised by a write on its ``sparse_collections`` row as the
first statement of each transaction (a row lock on PostgreSQL, the write lock on SQLite, taken
before any read so SQLite never has to upgrade a read snapshot), so concurrent upsert tasks
neither deadlock nor lose increments.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from vector_sync.sparse import CollectionStats, TermCounts
from vector_sync.state.schema import (
    IN_BATCH,
    WRITE_BATCH,
    batches,
    dialect_insert,
    sparse_chunks_table,
    sparse_collections_table,
    sparse_terms_table,
    unique,
    upsert,
)


def pack_terms(indices: Iterable[int]) -> bytes:
    """Sorted distinct uint32 term indices as little-endian bytes (the same on every host)."""
    return np.asarray(sorted(set(indices)), dtype="<u4").tobytes()


def unpack_terms(blob: bytes) -> list[int]:
    return np.frombuffer(bytes(blob), dtype="<u4").tolist()


@dataclass(frozen=True)
class TermStatsRepository:
    """Reads and writes of the BM25 statistics tables."""

    engine: Engine

    def stats(self, collection: str) -> CollectionStats:
        c = sparse_collections_table.c
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(c.chunk_count, c.total_length).where(c.collection == collection)).first()
        return CollectionStats(int(row[0]), int(row[1])) if row else CollectionStats()

    def document_frequencies(self, collection: str, terms: Iterable[int]) -> dict[int, int]:
        """``term -> df`` for the given terms (absent: no chunk holds it)."""
        wanted = sorted(set(terms))
        c = sparse_terms_table.c
        out: dict[int, int] = {}
        with self.engine.connect() as conn:
            for batch in batches(wanted, IN_BATCH):
                for term, df in conn.execute(sa.select(c.term, c.df).where(c.collection == collection, c.term.in_(batch))):
                    out[int(term)] = int(df)
        return out

    def apply(self, collection: str, written: Mapping[str, TermCounts] | None = None, deleted: Iterable[str] = ()) -> CollectionStats:
        """Count ``written`` chunks (replacing what they held before) and uncount ``deleted``
        ones, in one transaction; returns the collection's statistics afterwards.
        Unknown deleted ids change nothing."""
        written = dict(written or {})
        gone = [chunk_id for chunk_id in unique(deleted) if chunk_id not in written]
        with self.engine.begin() as conn:
            self._lock(conn, collection)
            old = self._chunks(conn, collection, list(written) + gone)
            df_delta: dict[int, int] = {}
            chunk_delta = length_delta = 0
            for length, terms in old.values():
                chunk_delta -= 1
                length_delta -= length
                for term in terms:
                    df_delta[term] = df_delta.get(term, 0) - 1
            rows = []
            for chunk_id, counts in written.items():
                chunk_delta += 1
                length_delta += counts.length
                for term in counts.frequencies:
                    df_delta[term] = df_delta.get(term, 0) + 1
                rows.append(
                    {"collection": collection, "chunk_id": chunk_id, "length": int(counts.length), "terms": pack_terms(counts.frequencies)}
                )
            self._add_frequencies(conn, collection, {t: d for t, d in df_delta.items() if d})
            c = sparse_chunks_table.c
            for batch in batches(gone, IN_BATCH):
                conn.execute(sparse_chunks_table.delete().where(c.collection == collection, c.chunk_id.in_(batch)))
            upsert(conn, sparse_chunks_table, rows, keys=["collection", "chunk_id"])
            t = sparse_collections_table.c
            conn.execute(
                sparse_collections_table.update()
                .where(t.collection == collection)
                .values(chunk_count=t.chunk_count + chunk_delta, total_length=t.total_length + length_delta)
            )
            row = conn.execute(sa.select(t.chunk_count, t.total_length).where(t.collection == collection)).one()
        return CollectionStats(int(row[0]), int(row[1]))

    def reset(self, collection: str) -> None:
        """Forget a collection (its index was emptied or replaced)."""
        with self.engine.begin() as conn:
            for table in (sparse_chunks_table, sparse_terms_table, sparse_collections_table):
                conn.execute(table.delete().where(table.c.collection == collection))

    # --- internals -------------------------------------------------------------------------

    @staticmethod
    def _lock(conn: Connection, collection: str) -> None:
        """Create the collection's row or write it unchanged: either way this transaction now
        holds the collection's write lock (see the module doc)."""
        insert = dialect_insert(conn)
        t = sparse_collections_table
        stmt = insert(t).values(collection=collection, chunk_count=0, total_length=0)
        conn.execute(stmt.on_conflict_do_update(index_elements=["collection"], set_={"chunk_count": t.c.chunk_count}))

    @staticmethod
    def _chunks(conn: Connection, collection: str, chunk_ids: list[str]) -> dict[str, tuple[int, list[int]]]:
        c = sparse_chunks_table.c
        out: dict[str, tuple[int, list[int]]] = {}
        for batch in batches(chunk_ids, IN_BATCH):
            query = sa.select(c.chunk_id, c.length, c.terms).where(c.collection == collection, c.chunk_id.in_(batch))
            for chunk_id, length, terms in conn.execute(query):
                out[chunk_id] = (int(length), unpack_terms(terms))
        return out

    @staticmethod
    def _add_frequencies(conn: Connection, collection: str, delta: Mapping[int, int]) -> None:
        """df += delta per term (in term order: one lock order for every writer); rows that
        reach zero are removed, so the table holds only terms some chunk has."""
        if not delta:
            return
        insert = dialect_insert(conn)
        t = sparse_terms_table
        terms = sorted(delta)
        for batch in batches(terms, WRITE_BATCH):
            stmt = insert(t)
            stmt = stmt.on_conflict_do_update(index_elements=["collection", "term"], set_={"df": t.c.df + stmt.excluded.df})
            conn.execute(stmt, [{"collection": collection, "term": term, "df": delta[term]} for term in batch])
        lowered = [term for term in terms if delta[term] < 0]
        for batch in batches(lowered, IN_BATCH):
            conn.execute(t.delete().where(t.c.collection == collection, t.c.term.in_(batch), t.c.df <= 0))
