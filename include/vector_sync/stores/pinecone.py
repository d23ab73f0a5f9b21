"""Pinecone vector store (production), over a ready ``pinecone.Index`` (SDK 10.x, HTTP).

Writes are cut to the API's limits before they are sent: at most 1,000 vectors and 2 MB of
JSON per upsert (each record is measured with the same encoder the SDK uses), 40 KB of metadata
per record, 1,000 ids per delete. Upserts go out concurrently on a small thread pool; retries
of 429 and 5xx are the SDK's own (honouring Retry-After).

Each record's metadata is its chunk's flat metadata (Pinecone accepts str, number, bool and
lists of str, and no nulls) plus ``document_id`` and the chunk text under ``text``. A text that
would break the 40 KB budget is cut at a character boundary and marked with ``text_truncated``
and ``text_length`` (the full length in characters).

Keyword and hybrid search (issue #17) use Pinecone's sparse-dense vectors in the same index:
with a BM25 statistics repository attached (``bm25``, the state DB's ``TermStatsRepository``)
and an index of metric ``dotproduct``, every record also carries ``sparse_values``, its BM25
document weights (``vector_sync.sparse``), and the collection's statistics move with each
upsert and delete. A query then sends the dense vector scaled by ``alpha`` and the BM25 query
weights scaled by ``1 - alpha`` (the convex combination Pinecone documents); "keyword" is
``alpha = 0`` (a zero dense vector: a dense index always takes one). Dense values are written
unit-length on a dotproduct index, so the dense part of a score is the cosine it was before.
On an index of another metric, keyword and hybrid search are refused with the fix (never a
silent dense answer), writes stay dense-only (logged once) and ``modes`` says ``("dense",)``.

``count(source)`` lists ids by the prefix ``"{source}:"`` (ids are ``{source}:{native id}#{n}``)
because serverless indexes refuse a filter on ``describe_index_stats``; ``count()`` uses the
namespace's stats. The index dimension is checked once, before the first write, against
``describe_index_stats().dimension`` (a data-plane call: no control-plane client needed).
"""

from __future__ import annotations

import logging
import math
import threading
import warnings
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import numpy as np
import orjson  # the pinecone SDK's own JSON encoder: request sizes are measured with it
from pinecone import errors as pinecone_errors

from vector_sync import sparse
from vector_sync.errors import CredentialsError, FatalError
from vector_sync.models import SEARCH_MODES, Hit, MetadataValue, SearchFilter, VectorRecord, utc
from vector_sync.stores.base import VectorStore
from vector_sync.tokens import sanitize

log = logging.getLogger(__name__)

UPSERT_MAX_VECTORS = 1000
UPSERT_MAX_BYTES = 2_000_000  # "2 MB" per upsert request, read strictly (decimal)
METADATA_MAX_BYTES = 40_960  # per record, compact JSON
DELETE_MAX_IDS = 1000
# Ids per fetch: kept well under the URL length a GET carries (ids are up to 512 characters).
FETCH_MAX_IDS = 100
QUERY_MAX_TOP_K = 10_000
LIST_PAGE_SIZE = 100  # the maximum page of /vectors/list
ID_MAX_CHARS = 512
DEFAULT_CONCURRENCY = 4
ENCODE_ROWS = 256  # records converted to request JSON at a time (bounds memory)
DEFAULT_NAMESPACE_NAME = "__default__"  # how describe_index_stats names the "" namespace
# Ids per update-by-filter ``{"document_id": {"$in": [...]}}`` when no scope field is given.
UPDATE_FILTER_MAX_IDS = 1000
# Weight of the dense score in hybrid search: alpha * dense + (1 - alpha) * BM25. Chosen by
# measurement (README, "Keyword and hybrid search on Pinecone").
HYBRID_ALPHA = 0.3
SPARSE_METRIC = "dotproduct"  # the only metric Pinecone accepts sparse values with
COLLECTION_MAX_CHARS = 255  # sparse_collections.collection
# Metadata the filters and the pipeline rely on: never dropped to make room. ``channel_id``
# selects a Slack channel's chunks in one update (vector_sync.permissions).
FILTER_KEYS = frozenset({"source", "document_id", "projects", "access_type", "access_list", "timestamp_epoch", "chunk_index", "channel_id"})


class PineconeStore(VectorStore):
    """VectorStore on one namespace of a Pinecone index."""

    def __init__(
        self,
        index: Any,
        namespace: str = "",
        *,
        dimensions: int | None = None,
        upsert_max_vectors: int = UPSERT_MAX_VECTORS,
        upsert_max_bytes: int = UPSERT_MAX_BYTES,
        metadata_max_bytes: int = METADATA_MAX_BYTES,
        concurrency: int = DEFAULT_CONCURRENCY,
        conn_id: str = "pinecone_default",
        bm25: Any = None,
        collection: str | None = None,
        alpha: float = HYBRID_ALPHA,
    ) -> None:
        if index is None:
            raise FatalError(f"no Pinecone index: define the connection '{conn_id}' and the index name")
        self.index = index
        self.namespace = namespace or ""
        self.dimensions = dimensions
        self.upsert_max_vectors = min(int(upsert_max_vectors), UPSERT_MAX_VECTORS)
        self.upsert_max_bytes = min(int(upsert_max_bytes), UPSERT_MAX_BYTES)
        self.metadata_max_bytes = min(int(metadata_max_bytes), METADATA_MAX_BYTES)
        self.concurrency = max(1, int(concurrency))
        self.conn_id = conn_id
        self.requests_made = 0  # upsert and delete requests, for benchmarks
        self.bytes_sent = 0  # upsert request bytes
        self.bm25 = bm25  # TermStatsRepository, or None: dense only
        self.collection = collection or _collection_name(str(getattr(index, "host", "") or ""), self.namespace)
        if not 0.0 <= float(alpha) <= 1.0:
            raise ValueError(f"hybrid alpha must be between 0 and 1, got {alpha}")
        self.alpha = float(alpha)
        self._shape: Any = None  # describe_index_stats, read once: dimension and metric
        self._warned_dense_only = False
        self._lock = threading.Lock()
        envelope: dict[str, Any] = {"vectors": []}
        if self.namespace:
            envelope["namespace"] = self.namespace
        self._envelope_bytes = len(orjson.dumps(envelope))

    # --- VectorStore ----------------------------------------------------------------------

    @property
    def store_key(self) -> str:
        return f"pinecone:{self.collection}"  # the index's host and the namespace

    def upsert(self, records: Sequence[VectorRecord]) -> int:
        """Insert or replace ``records`` by id (the last one wins for a repeated id).

        Every record is checked before anything is sent; then records are encoded, packed and
        sent as a stream, so memory holds a few requests, not the whole call.
        """
        unique = list({r.id: r for r in records}.values())
        if not unique:
            return 0
        dim = self._check_records(unique)
        self._check_index_dimension(dim)
        sparse_values = self._document_vectors(unique)
        with _Sender(self._send_upsert, self.concurrency) as sender:
            for packed in self._pack(self._payloads(unique, sparse_values)):
                sender.submit(packed)
        return len(unique)

    def delete(self, ids: Sequence[str]) -> int:
        """Delete by chunk id, 1,000 ids per request; returns how many ids were sent."""
        ids = list(dict.fromkeys(ids))
        with _Sender(self._send_delete, self.concurrency) as sender:
            for start in range(0, len(ids), DELETE_MAX_IDS):
                sender.submit(ids[start : start + DELETE_MAX_IDS])
        if ids and self._sparse_ready():
            # After the index: a failure here is retried with the delete, which is idempotent.
            self.bm25.apply(self.collection, deleted=ids)
        return len(ids)

    def query(
        self,
        vector: Sequence[float] | None,
        top_k: int,
        flt: SearchFilter | None = None,
        *,
        text: str | None = None,
        mode: str = "dense",
    ) -> list[Hit]:
        """The best chunks passing ``flt`` (filtered by Pinecone, in every mode), best first.

        Scores: "dense" the cosine similarity; "keyword" the BM25 score normalised to [0, 1)
        (only chunks sharing a term with ``text``); "hybrid" ``alpha * dense + (1 - alpha) *
        keyword``. Raises ValueError for an unknown mode, a missing vector or text, and for
        keyword/hybrid where the index cannot hold sparse values (the message names the fix).
        """
        if mode not in SEARCH_MODES:
            raise ValueError(f"search mode must be one of {', '.join(SEARCH_MODES)}, got {mode!r}")
        if mode != "keyword" and vector is None:
            raise ValueError(f"{mode} search needs a query vector")
        if mode != "dense":
            self._require_sparse(mode)
            if not text or not text.strip():
                raise ValueError(f"{mode} search needs the query text")
        if top_k <= 0:
            return []
        dense = self._query_dense(vector) if vector is not None and mode != "keyword" else None
        sparse_query = self._query_sparse(text) if mode != "dense" else None
        if mode == "keyword":
            if sparse_query is None:
                return []  # nothing in the text a keyword index could match
            dense = [0.0] * int(self._index_shape().dimension or self.dimensions or 0)
        elif mode == "hybrid":
            dense = [v * self.alpha for v in dense]
            sparse_query = sparse_query.scaled(1.0 - self.alpha) if sparse_query is not None else None
        with self._errors():
            response = self.index.query(
                vector=dense,
                sparse_vector=sparse_query.as_dict() if sparse_query is not None else None,
                top_k=min(int(top_k), QUERY_MAX_TOP_K),
                namespace=self.namespace,
                filter=build_filter(flt),
                include_metadata=True,
            )
        hits = [_hit(match) for match in response.matches]
        if mode == "keyword":
            hits = [h for h in hits if h.score > 0]  # the zero dense part scores every chunk 0
        hits.sort(key=lambda h: (-h.score, h.id))
        return hits

    @property
    def modes(self) -> tuple[str, ...]:
        """The search modes this store serves: all three on a dotproduct index with BM25
        statistics attached, else "dense" only (asks the index once)."""
        return SEARCH_MODES if self._sparse_ready() else ("dense",)

    def count(self, source: str | None = None) -> int:
        """Vectors in the namespace; for one source, by listing its ids (see module doc)."""
        if source is not None:
            return sum(1 for _ in self.ids(f"{source}:"))
        with self._errors():
            stats = self.index.describe_index_stats()
        namespaces = stats.namespaces or {}
        summary = namespaces.get(self.namespace or DEFAULT_NAMESPACE_NAME) or (namespaces.get("") if not self.namespace else None)
        return int(summary.vector_count) if summary is not None else 0

    def ids(self, prefix: str = "") -> Iterator[str]:
        """Every stored chunk id starting with ``prefix``, 100 per request."""
        with self._errors():
            for page in self.index.list(prefix=prefix or None, limit=LIST_PAGE_SIZE, namespace=self.namespace):
                for item in page.vectors:
                    if item.id is not None:
                        yield item.id

    def fetch(self, ids: Sequence[str]) -> list[VectorRecord]:
        """``GET /vectors/fetch`` (the SDK's ``Index.fetch``), ``FETCH_MAX_IDS`` ids a request:
        the values as stored (unit length on a dotproduct index), ``text`` and ``document_id``
        taken back out of the metadata. A text cut to fit the metadata budget comes back cut
        (``text_truncated``)."""
        ids = list(dict.fromkeys(ids))
        records = []
        for start in range(0, len(ids), FETCH_MAX_IDS):
            with self._errors():
                response = self.index.fetch(ids=ids[start : start + FETCH_MAX_IDS], namespace=self.namespace)
            for vector_id, vector in (response.vectors or {}).items():
                metadata = dict(vector.metadata or {})
                text = str(metadata.pop("text", "") or "")
                document_id = str(metadata.pop("document_id", "") or vector_id.rsplit("#", 1)[0])
                records.append(VectorRecord(vector_id, document_id, list(vector.values or []), text, metadata))
        return records

    def update_access(
        self,
        document_ids: Sequence[str],
        access_type: str,
        access_list: Sequence[str],
        where: Mapping[str, str] | None = None,
    ) -> int:
        """Update by metadata filter: ``POST /vectors/update`` with ``filter`` and
        ``setMetadata`` (docs.pinecone.io/guides/manage-data/update-data, "Update by
        metadata"; the 2025-10 data-plane spec's ``UpdateRequest``). Only the two access
        fields change; vectors and the other metadata stay. With ``where`` one request covers
        the whole scope (e.g. every chunk of a Slack channel), else ``document_id $in`` 1,000
        ids a request. Pinecone applies the update asynchronously: a query right after may
        still see the old value. Returns the ``matchedRecords`` reported."""
        ids = list(dict.fromkeys(document_ids))
        emails = sorted({a.strip().lower() for a in access_list if a})
        set_metadata = {"access_type": str(access_type or "all"), "access_list": emails}
        if where:
            filters = [{key: {"$eq": value} for key, value in where.items()}]
        else:
            filters = [{"document_id": {"$in": ids[i : i + UPDATE_FILTER_MAX_IDS]}} for i in range(0, len(ids), UPDATE_FILTER_MAX_IDS)]
        matched = 0
        for flt in filters:
            with self._errors():
                response = self.index.update(filter=flt, set_metadata=set_metadata, namespace=self.namespace)
            with self._lock:
                self.requests_made += 1
            matched += int(getattr(response, "matched_records", None) or 0)
        return matched

    # --- metadata -------------------------------------------------------------------------

    def metadata_for(self, record: VectorRecord) -> dict[str, MetadataValue]:
        """The record's metadata as Pinecone accepts it, within ``metadata_max_bytes``."""
        metadata: dict[str, MetadataValue] = {}
        for key, value in record.metadata.items():
            clean = _clean_value(value)
            if clean is not None:
                metadata[_clean_str(str(key))] = clean
        metadata["document_id"] = record.document_id
        metadata.setdefault("source", record.id.split(":", 1)[0])
        metadata["text"] = sanitize(record.text)
        return fit_metadata(metadata, self.metadata_max_bytes, record.id)

    # --- internals ------------------------------------------------------------------------

    def _check_records(self, records: Sequence[VectorRecord]) -> int:
        """The records' common dimension; ValueError for anything Pinecone would refuse."""
        dim = self.common_dimension(records)
        for start in range(0, len(records), ENCODE_ROWS):
            part = records[start : start + ENCODE_ROWS]
            for record in part:
                _checked_id(record.id)
            matrix = np.asarray([r.values for r in part], dtype=np.float32)
            bad = ~np.isfinite(matrix).all(axis=1) | ~matrix.any(axis=1)
            if bad.any():
                raise ValueError(f"vector of {part[int(np.argmax(bad))].id} is zero or not finite")
        return dim

    def _payloads(
        self, records: Sequence[VectorRecord], sparse_values: Sequence[sparse.SparseVector | None] | None = None
    ) -> Iterator[tuple[dict[str, Any], int]]:
        """(request record, its JSON bytes), encoded ENCODE_ROWS at a time. On a dotproduct
        index the dense values are written unit-length (see the module doc)."""
        unit = self._index_shape().metric == SPARSE_METRIC
        for start in range(0, len(records), ENCODE_ROWS):
            part = records[start : start + ENCODE_ROWS]
            matrix = np.asarray([r.values for r in part], dtype=np.float32)
            if unit:
                matrix = matrix / np.linalg.norm(matrix, axis=1, keepdims=True)
            values = _compact(matrix)
            for offset, (record, vector) in enumerate(zip(part, values)):
                payload: dict[str, Any] = {"id": record.id, "values": vector, "metadata": self.metadata_for(record)}
                weights = sparse_values[start + offset] if sparse_values else None
                if weights is not None:
                    payload["sparse_values"] = weights.as_dict()
                yield payload, len(orjson.dumps(payload))

    # --- sparse (BM25) --------------------------------------------------------------------

    def _index_shape(self) -> Any:
        """``describe_index_stats`` of the index, read once (dimension and metric never change)."""
        if self._shape is None:
            with self._errors():
                self._shape = self.index.describe_index_stats()
        return self._shape

    def _sparse_ready(self) -> bool:
        return self.bm25 is not None and self._index_shape().metric == SPARSE_METRIC

    def _require_sparse(self, mode: str) -> None:
        if self.bm25 is None:
            raise ValueError(
                f"{mode} search on Pinecone needs the BM25 statistics of the state DB: build the store "
                "with vector_sync.runtime.build_store (or pass bm25=state.bm25)"
            )
        metric = self._index_shape().metric
        if metric != SPARSE_METRIC:
            raise ValueError(
                f"{mode} search needs a sparse-dense Pinecone index (metric dotproduct); the index at "
                f"{getattr(self.index, 'host', '?')} uses metric {metric or 'unknown'}. Create an index of metric dotproduct "
                "(the default of stores.pinecone.create_index), point setting 'index' of Variable vector_sync_config at it and re-sync; "
                "dense search keeps working on this one."
            )

    def _document_vectors(self, records: Sequence[VectorRecord]) -> list[sparse.SparseVector | None] | None:
        """BM25 document weights per record, after counting the records in the collection's
        statistics (before the write: counting is idempotent per chunk id, so a failed write
        that is retried counts nothing twice, and the weights use statistics that include the
        records themselves). None when the index takes no sparse values."""
        if not self._sparse_ready():
            if self.bm25 is not None and not self._warned_dense_only:
                self._warned_dense_only = True
                log.warning(
                    "Pinecone index at %s uses metric %s: writing dense vectors only, keyword and hybrid search need a dotproduct index",
                    getattr(self.index, "host", "?"),
                    self._index_shape().metric,
                )
            return None
        counts = {
            r.id: sparse.count_terms(r.text, identity=_native_id(r.document_id), title=str(r.metadata.get("title") or "")) for r in records
        }
        stats = self.bm25.apply(self.collection, written=counts)
        return [sparse.document_vector(counts[r.id], stats.average_length) for r in records]

    def _query_sparse(self, text: str | None) -> sparse.SparseVector | None:
        """BM25 query weights from the collection's current statistics."""
        indices = sparse.query_terms(text or "")
        fields = sparse.query_field_terms(text or "")
        if not indices and not fields:
            return None
        frequencies = self.bm25.document_frequencies(self.collection, [*indices, *fields])
        indices += [i for i in fields if frequencies.get(i)]  # only titles and ids that exist
        if not indices:
            return None
        return sparse.query_vector(indices, frequencies, self.bm25.stats(self.collection).chunk_count, boosts=fields)

    def _query_dense(self, vector: Sequence[float]) -> list[float]:
        query = np.asarray(vector, dtype=np.float32)
        if self.dimensions is not None and query.shape != (self.dimensions,):
            raise ValueError(f"query vector has {query.size} dimensions, the store expects {self.dimensions}")
        if not np.isfinite(query).all() or not query.any():
            raise ValueError("query vector must be finite and non-zero")
        if self._index_shape().metric == SPARSE_METRIC:
            query = query / np.linalg.norm(query)
        return _compact(query[None, :])[0]

    def _check_index_dimension(self, dim: int) -> None:
        """Refuse to write vectors of the wrong width before the first write, with a clear message."""
        stats = self._index_shape()
        if getattr(stats, "vector_type", None) == "sparse":
            raise FatalError(
                f"Pinecone index at {getattr(self.index, 'host', '?')} is a sparse index (vector_type sparse): vector-sync "
                "writes dense vectors with their BM25 sparse values into one dense index of metric dotproduct. Point "
                "setting 'index' of Variable vector_sync_config at such an index."
            )
        if stats.dimension is not None and int(stats.dimension) != dim:
            raise FatalError(
                f"Pinecone index at {getattr(self.index, 'host', '?')} holds {stats.dimension}-dimensional vectors, "
                f"the embedder produces {dim}: the embedder (or its dimensions) changed. Use an index of that "
                "dimension (setting 'index' of Variable vector_sync_config) and re-sync."
            )

    def _pack(self, payloads: Iterator[tuple[dict[str, Any], int]]) -> Iterator[tuple[list[dict[str, Any]], int]]:
        """Greedy, in order: a request closes when one more record would break a cap.

        Yields (records, request bytes); the bytes are exact (the SDK's encoder and body shape).
        """
        batch: list[dict[str, Any]] = []
        size = self._envelope_bytes
        for payload, length in payloads:
            if self._envelope_bytes + length > self.upsert_max_bytes:
                raise ValueError(f"record {payload['id']} alone is {length} bytes, over the {self.upsert_max_bytes}-byte request cap")
            added = length + (1 if batch else 0)  # the comma between records
            if batch and (len(batch) >= self.upsert_max_vectors or size + added > self.upsert_max_bytes):
                yield batch, size
                batch, size, added = [], self._envelope_bytes, length
            batch.append(payload)
            size += added
        if batch:
            yield batch, size

    def _send_upsert(self, packed: tuple[list[dict[str, Any]], int]) -> None:
        batch, size = packed
        with self._errors():
            self.index.upsert(vectors=batch, namespace=self.namespace)
        with self._lock:
            self.requests_made += 1
            self.bytes_sent += size

    def _send_delete(self, batch: list[str]) -> None:
        with self._errors():
            self.index.delete(ids=batch, namespace=self.namespace)
        with self._lock:
            self.requests_made += 1

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """Credentials and refused requests fail the task at once; the rest may be retried."""
        try:
            yield
        except (pinecone_errors.UnauthorizedError, pinecone_errors.ForbiddenError) as exc:
            raise CredentialsError(self.conn_id, "Pinecone", _message(exc).rstrip(".")) from None
        except pinecone_errors.NotFoundError as exc:
            raise FatalError(f"Pinecone index at {getattr(self.index, 'host', '?')} not found: {_message(exc)}") from None
        except pinecone_errors.ApiError as exc:
            if getattr(exc, "status_code", None) in (400, 413):
                raise FatalError(f"Pinecone refused the request: {_message(exc)}") from None
            raise


class _Sender:
    """Runs ``send`` on a bounded thread pool: at most ``2 x concurrency`` items in flight, so a
    producer streaming requests never holds more than that; the first failure is re-raised.
    A single item is sent on the calling thread (no pool for one request)."""

    def __init__(self, send: Any, concurrency: int) -> None:
        self.send = send
        self.concurrency = concurrency
        self.pool: ThreadPoolExecutor | None = None
        self.pending: set[Future] = set()
        self.held: list[Any] = []  # the first item, until a second shows a pool is worth it

    def submit(self, item: Any) -> None:
        if self.concurrency <= 1:
            self.send(item)
            return
        if self.pool is None:
            if not self.held:
                self.held.append(item)
                return
            self.pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="pinecone")
            self.pending.add(self.pool.submit(self.send, self.held.pop()))
        if len(self.pending) >= 2 * self.concurrency:
            done, self.pending = wait(self.pending, return_when=FIRST_COMPLETED)
            for future in done:
                future.result()
        self.pending.add(self.pool.submit(self.send, item))

    def __enter__(self) -> _Sender:
        return self

    def __exit__(self, exc_type: Any, *exc: Any) -> None:
        if self.pool is None:
            if self.held and exc_type is None:
                self.send(self.held.pop())
            return
        try:
            if exc_type is not None:
                for future in self.pending:
                    future.cancel()
                return
            for future in self.pending:
                future.result()
        finally:
            self.pool.shutdown(wait=True)


# --- filters ---------------------------------------------------------------------------------


def build_filter(flt: SearchFilter | None) -> dict[str, Any] | None:
    """Translate ``flt`` into a Pinecone metadata filter; ``None`` for no filter.

    Sources and projects are ``$in`` (``projects`` is a string list: any overlap matches), the
    time bounds are half-open on ``timestamp_epoch`` (integer seconds, as LanceDB's), and the
    access rule is ``access_type == "all"`` or the user's email in ``access_list``. No
    filter is the default filter: public items only; ``None`` only for all-access.
    """
    flt = flt or SearchFilter()
    clauses: list[dict[str, Any]] = []
    if flt.sources:
        clauses.append({"source": {"$in": list(flt.sources)}})
    if flt.documents:
        clauses.append({"document_id": {"$in": list(flt.documents)}})
    if flt.projects:
        clauses.append({"projects": {"$in": list(flt.projects)}})
    if flt.since is not None:
        clauses.append({"timestamp_epoch": {"$gte": math.ceil(_epoch(flt.since))}})
    if flt.until is not None:
        # Integer seconds: t < until  <=>  t < ceil(until).
        clauses.append({"timestamp_epoch": {"$lt": math.ceil(_epoch(flt.until))}})
    if flt.user is not None:
        clauses.append({"$or": [{"access_type": {"$eq": "all"}}, {"access_list": {"$in": [flt.user]}}]})
    elif not flt.all_access:
        clauses.append({"access_type": {"$eq": "all"}})
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


def _epoch(moment: datetime) -> float:
    return utc(moment).timestamp()


# --- metadata --------------------------------------------------------------------------------


def fit_metadata(metadata: dict[str, MetadataValue], max_bytes: int, record_id: str = "") -> dict[str, MetadataValue]:
    """``metadata`` within ``max_bytes`` of compact JSON: the text is cut first, then optional
    fields (largest first) are dropped; the filter fields are never touched."""
    if _size(metadata) <= max_bytes:
        return metadata
    text = str(metadata.get("text", ""))
    trimmed = {**metadata, "text": "", "text_length": len(text), "text_truncated": True}
    optional = sorted(
        (k for k in trimmed if k not in FILTER_KEYS and k not in ("text", "text_length", "text_truncated")),
        key=lambda k: -len(orjson.dumps(trimmed[k])),
    )
    while _size(trimmed) > max_bytes and optional:
        dropped = optional.pop(0)
        del trimmed[dropped]
        log.warning("metadata of %s over %d bytes: dropped field %r", record_id, max_bytes, dropped)
    base = _size(trimmed)
    if base > max_bytes:
        raise ValueError(f"metadata of {record_id} is {base} bytes without its text, over Pinecone's {max_bytes}-byte limit")
    budget = max_bytes - base
    # Longest prefix (in characters, so never inside a UTF-8 sequence) whose JSON fits the budget.
    low, high = 0, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        if len(orjson.dumps(text[:middle])) - 2 <= budget:
            low = middle
        else:
            high = middle - 1
    trimmed["text"] = text[:low]
    return trimmed


def _size(value: Any) -> int:
    return len(orjson.dumps(value))


def _clean_value(value: Any) -> MetadataValue | None:
    """A value Pinecone accepts, or None to drop it (nulls, NaN, nested objects)."""
    kind = type(value)
    if kind is str:
        return _clean_str(value)
    if value is None or kind is bool:
        return value
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(float(value)) else None
    if isinstance(value, str):
        return _clean_str(value)
    if isinstance(value, datetime):
        return utc(value).isoformat()
    if isinstance(value, Mapping):
        return None
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=str) if isinstance(value, (set, frozenset)) else value
        return [_clean_str(str(v)) for v in items if v is not None and not isinstance(v, Mapping)]
    return _clean_str(str(value))


def _clean_str(text: str) -> str:
    # Printable ASCII (most ids, emails, urls) needs none of sanitize()'s repairs.
    return text if text.isascii() and text.isprintable() else sanitize(text)


def _checked_id(record_id: str) -> str:
    if not record_id or len(record_id) > ID_MAX_CHARS or not record_id.isascii() or "\x00" in record_id:
        raise ValueError(f"Pinecone ids must be 1-{ID_MAX_CHARS} ASCII characters without NUL: {record_id[:80]!r}")
    return record_id


def _compact(matrix: np.ndarray) -> list[list[float]]:
    """Rows as floats whose JSON is the shortest that round-trips float32.

    Pinecone stores float32: the SDK would otherwise send each value's float64 form (about 20
    characters instead of 12), which makes every upsert ~40% larger and needs that many more
    requests under the 2 MB cap. orjson writes numpy float32 in its shortest form; reading that
    back gives Python floats that print the same way, exactly equal to the float32 values.
    """
    return orjson.loads(orjson.dumps(np.ascontiguousarray(matrix, dtype=np.float32), option=orjson.OPT_SERIALIZE_NUMPY))


def _hit(match: Any) -> Hit:
    metadata = dict(match.metadata or {})
    text = metadata.pop("text", "")
    return Hit(
        id=match.id,
        score=float(match.score),
        source=str(metadata.get("source") or match.id.split(":", 1)[0]),
        title=str(metadata.get("title") or ""),
        text=str(text or ""),
        url=str(metadata.get("url") or ""),
        metadata=metadata,
    )


def _native_id(document_id: str) -> str:
    """``SUBS-123`` of ``jira:SUBS-123``: what people type to name the document."""
    return document_id.split(":", 1)[1] if ":" in document_id else document_id


def _collection_name(host: str, namespace: str) -> str:
    """The BM25 statistics' key for one namespace of one index: its host (unique per index and
    project) and namespace, hashed when longer than the column."""
    name = f"{host.split('://', 1)[-1].rstrip('/')}/{namespace}"
    if len(name) <= COLLECTION_MAX_CHARS:
        return name
    import hashlib

    return f"{name[:200]}#{hashlib.sha256(name.encode('utf-8', 'surrogatepass')).hexdigest()[:32]}"


def _message(exc: Exception) -> str:
    return str(getattr(exc, "message", None) or exc)


# --- index management (control plane) -------------------------------------------------------


def create_index(
    pc: Any,
    name: str,
    dimension: int,
    metric: str = SPARSE_METRIC,
    cloud: str = "aws",
    region: str = "us-east-1",
    timeout_s: int = 300,
) -> str:
    """Create the serverless index ``name`` unless it exists; returns its data-plane host.

    The default metric is dotproduct: the one sparse-dense (keyword and hybrid) search needs;
    the store writes unit vectors to it, so dense scores equal cosine. A new index is waited
    for (the SDK polls ``describe`` until ``status.ready``, up to ``timeout_s``); an existing one
    must have ``dimension`` (:func:`check_dimension`); one of another metric is kept, with a
    warning that it serves dense search only.
    """
    from pinecone import ServerlessSpec

    if not pc.has_index(name):
        try:
            pc.create_index(
                name=name, dimension=dimension, metric=metric, spec=ServerlessSpec(cloud=cloud, region=region), timeout=timeout_s
            )
        except pinecone_errors.ConflictError:
            log.info("index %s was created concurrently", name)
    return check_dimension(pc, name, dimension)


def check_dimension(pc: Any, name: str, dimension: int) -> str:
    """Raise :class:`FatalError` unless index ``name`` exists with ``dimension``; returns its host."""
    try:
        model = pc.describe_index(name)
    except pinecone_errors.NotFoundError:
        raise FatalError(f"Pinecone index '{name}' does not exist: create it with dimension {dimension}") from None
    except pinecone_errors.UnauthorizedError as exc:
        raise CredentialsError("pinecone_default", "Pinecone", _message(exc).rstrip(".")) from None
    actual = index_dimension(model)
    if actual != dimension:
        raise FatalError(
            f"Pinecone index '{name}' has dimension {actual}, the embedder produces {dimension}: "
            "use an index of that dimension (or the matching embedder) before writing"
        )
    metric = index_metric(model)
    if metric != SPARSE_METRIC:
        log.warning(
            "Pinecone index '%s' uses metric %s: dense search only; keyword and hybrid search need a "
            "dotproduct index (create one under a new name and re-sync)",
            name,
            metric,
        )
    return str(model.host)


def index_metric(model: Any) -> str | None:
    """The dense metric of a described index (SDK 10: ``schema.fields``; older: ``metric``)."""
    fields = getattr(getattr(model, "schema", None), "fields", None) or {}
    for spec in fields.values():
        if type(spec).__name__ == "DenseVectorField":
            return getattr(spec, "metric", None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return getattr(model, "metric", None)


def index_dimension(model: Any) -> int | None:
    """The dense dimension of a described index (SDK 10: ``schema.fields``; older: ``dimension``)."""
    fields = getattr(getattr(model, "schema", None), "fields", None) or {}
    for spec in fields.values():
        if getattr(spec, "dimension", None) is not None and type(spec).__name__ == "DenseVectorField":
            return int(spec.dimension)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        value = getattr(model, "dimension", None)
    return int(value) if value is not None else None
