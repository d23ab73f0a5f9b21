"""Embedded vector store on LanceDB (the default without credentials).

One table of chunks; the filterable fields are real columns (so filters run as a SQL prefilter
before the cosine search and the full-text search, in every search mode) and the full
flat metadata rides along as JSON. The table is created on the first upsert, with that batch's
vector dimension; its full-text indexes (title, text) and filter-column indexes with the first
write after it (see ``TEXT_INDEX_MAX_UNINDEXED_ROWS`` for how they stay current). Its vector
index and compaction are the maintenance DAG's (``index_vectors``, ``compact``), never a sync
task's.

Writers of a table on a local disk take turns (an exclusive ``flock`` on a file beside it):
Lance detects concurrent updates of existing rows but not two ``merge_insert`` calls that both
insert the same new id — both commit, and the id is stored twice (lancedb/lancedb#2463). The
lock makes parallel Airflow tasks on one machine safe; readers never wait for it.
"""

from __future__ import annotations

import fcntl
import json
import logging
import math
import random
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import lancedb
import numpy as np
import pyarrow as pa
from lancedb.index import FTS, Bitmap, BTree, IvfSq, LabelList
from lancedb.query import MultiMatchQuery

from vector_sync.models import SEARCH_MODES, Hit, SearchFilter, VectorRecord, utc
from vector_sync.stores.base import VectorStore, keyword_coverage, keyword_text
from vector_sync.tokens import sanitize

log = logging.getLogger(__name__)

T = TypeVar("T")

# Rows per merge_insert: each call is one commit (a new table version), so larger is cheaper,
# bounded by memory (5,000 x 1,536 float32 is about 30 MB).
UPSERT_BATCH_ROWS = 5_000
# Ids per DELETE ... WHERE id IN (...): keeps the SQL text and its parse time bounded.
DELETE_BATCH_IDS = 1_000
# Two Airflow tasks (separate processes) writing the same table can both commit on top of the
# same version. Lance retries merge_insert internally; these retries cover what still fails.
CONFLICT_RETRIES = 5
_CONFLICT_BACKOFF_S = 0.2
_CONFLICT_MESSAGE = re.compile(r"conflict|concurrent|retryable commit", re.IGNORECASE)
# Full-text (BM25) indexes, one per column: LanceDB's native FTS indexes one column each, and a
# multi-match query searches both. Default tokenizer: words, lower case, English stemming, stop
# words removed, accents folded; no positions (no phrase queries, a smaller index).
TEXT_INDEX_COLUMNS = ("title", "text")
# Indexes on the filter columns: the prefilter (access rule, source, project, dates) then reads
# an index instead of every row's lists; at 100,000 chunks it cut a filtered query's time by a
# third to a half here. Built and rebuilt together with the full-text indexes.
FILTER_INDEXES = {"source": Bitmap, "access_type": Bitmap, "projects": LabelList, "access_list": LabelList, "timestamp_epoch": BTree}
# A word in the title is worth twice one in the body: the title names what a document is about.
TITLE_BOOST = 2.0
# Rows written since the full-text indexes were last built are still found (LanceDB scans them
# flat) but cost ~25 us each per keyword query. The write that leaves this many unindexed
# rebuilds the indexes (seconds at 100,000 rows). A rebuild, not optimize(): optimize also
# compacts the table, which took an upsert task's peak RSS from 375 to 530 MB at 20,000 chunks.
TEXT_INDEX_MAX_UNINDEXED_ROWS = 5_000
FTS_BUILD_MEMORY_MB = 128
# Hybrid fusion (see fuse_scores): the keyword leg's share of a convex combination of the two
# legs' min-max normalised scores. Chosen on bench/search_quality.py (wordllama, LanceDB):
# hybrid recall@5 / MRR@10 were 0.663 / 0.670 at 0.5, 0.678 / 0.682 at 0.6, 0.683 / 0.670 at
# 0.7 and 0.8, against 0.632 / 0.645 for reciprocal rank fusion (k = 60) and 0.631 / 0.631 for
# RRF with the keyword leg weighted 2; 0.6 has the best MRR and keeps dense a real say.
# Scaled per query by the best keyword match's coverage (keyword_weight): 0.709 / 0.726, and
# paraphrases back to dense's 0.25 from 0.17 (coverage squared: 0.687 / 0.709).
# With MiniLM, the default since, a paraphrase's stray keyword matches already lose their say
# by coverage, and a fuller keyword share helps the rest: hybrid 0.814 / 0.838 at 0.6, 0.818 /
# 0.844 at 0.7, 0.824 / 0.842 at 0.8 (cross-source 0.83 -> 0.885, above keyword alone), 0.825
# / 0.844 at 0.9 but exact identifiers in the top 3 0.93 -> 0.89, 0.785 / 0.809 at 1.0.
KEYWORD_WEIGHT = 0.8
# The coverage's power in keyword_weight. With MiniLM, 1.5 against 1 (linear): hybrid recall@5
# 0.865 -> 0.870, MRR@10 0.896 -> 0.898, exact 0.950 -> 0.957 (every id still in the top 3),
# paraphrase 0.683 -> 0.691 (dense alone: 0.704); 2 and 3 cost exact identifiers (0.914).
KEYWORD_COVERAGE_POWER = 1.5
# Versions compact() keeps, so a reader still on an older version keeps working.
KEEP_VERSIONS_FOR = timedelta(days=1)
# The vector (ANN) index, built by the maintenance DAG (vector_sync_optimize), never by a sync
# task. Below VECTOR_INDEX_MIN_ROWS the exact scan is fast enough (about 1 ms per 1,000 rows
# here). At 100,000 chunks the exact scan took 80-100 ms of a search (hybrid p95 163-196 ms);
# IVF_SQ (8-bit scalar quantised vectors in IVF partitions) with VECTOR_INDEX_NPROBES
# partitions probed and the best VECTOR_INDEX_REFINE x k re-ranked on the full vectors gave
# dense p50 16 ms, p95 25 ms, and the exact scan's top 10 in every one of 60 probes (filtered
# and not). It builds in 4-5 s at 100,000 rows, peaking at 406-432 MB in a process importing
# this module; IVF_PQ took 30-55 s and 556 MB, IVF_HNSW_SQ 41 s and 544 MB, IVF_FLAT 742 MB.
VECTOR_INDEX_MIN_ROWS = 20_000
VECTOR_INDEX_NAME = "vector_idx"
VECTOR_INDEX_NPROBES = 40
VECTOR_INDEX_REFINE = 5
# Rows written since the vector index was trained, as a share of those it holds, past which
# index_vectors() retrains it (a backfill that doubled the table); fewer are folded into the
# trained partitions by compact(), which is cheap.
VECTOR_INDEX_RETRAIN_SHARE = 0.5


def _schema(dimensions: int) -> pa.Schema:
    return pa.schema(
        [
            pa.field("id", pa.string(), nullable=False),
            pa.field("document_id", pa.string()),
            pa.field("source", pa.string()),
            pa.field("title", pa.string()),
            pa.field("url", pa.string()),
            pa.field("text", pa.string()),
            pa.field("projects", pa.list_(pa.string())),
            pa.field("access_type", pa.string()),
            pa.field("access_list", pa.list_(pa.string())),
            pa.field("timestamp_epoch", pa.int64()),
            pa.field("metadata_json", pa.string()),
            pa.field("vector", pa.list_(pa.float32(), dimensions)),
        ]
    )


_HIT_COLUMNS = ["id", "source", "title", "url", "text", "metadata_json", "access_type", "access_list"]


class LanceDBStore(VectorStore):
    """VectorStore on a LanceDB table at ``uri`` (a directory, or an object-store URI)."""

    modes = SEARCH_MODES

    def __init__(self, uri: str, table: str = "chunks", dimensions: int | None = None) -> None:
        self.uri = str(uri)
        self.table_name = table
        self.dimensions = dimensions
        # Strong consistency: every call sees commits made by other processes (another task,
        # the CLI) instead of the version this handle first opened.
        self._db = lancedb.connect(self.uri, read_consistency_interval=timedelta(0))
        self._table: Any = None
        scheme = urlsplit(self.uri).scheme
        local = not scheme or scheme == "file" or len(scheme) == 1  # a Windows drive letter reads as a scheme
        folder = Path(urlsplit(self.uri).path if scheme == "file" else self.uri)
        # Object stores have no lock: the embedded index is one machine's (README, "Embedded backends").
        self._lock_file = folder / f".{table}.write-lock" if local else None

    # --- VectorStore ----------------------------------------------------------------------

    @property
    def store_key(self) -> str:
        return f"lancedb:{self.uri}#{self.table_name}"

    def upsert(self, records: Sequence[VectorRecord]) -> int:
        """Insert or replace ``records`` by id (the last one wins for a repeated id)."""
        if not records:
            return 0
        unique = list({r.id: r for r in records}.values())
        dim = self._record_dimension(unique)
        for start in range(0, len(unique), UPSERT_BATCH_ROWS):
            batch = _to_arrow(unique[start : start + UPSERT_BATCH_ROWS], dim)
            with self._writing():
                table = self._table_for_write(dim)
                self._retry(
                    lambda: table.merge_insert("id").when_matched_update_all().when_not_matched_insert_all().execute(batch)  # noqa: B023 (called at once)
                )
        self._keep_indexes_current()
        return len(unique)

    def delete(self, ids: Sequence[str]) -> int:
        """Delete chunks by id; returns how many ids were sent (missing ids are fine)."""
        ids = list(dict.fromkeys(ids))
        table = self._open()
        if table is None or not ids:
            return len(ids)
        for start in range(0, len(ids), DELETE_BATCH_IDS):
            where = f"id IN ({', '.join(_quote(i) for i in ids[start : start + DELETE_BATCH_IDS])})"
            with self._writing():
                self._retry(lambda: table.delete(where))  # noqa: B023 (called at once)
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
        """The best chunks passing ``flt`` (a SQL prefilter in every mode), best first.

        "dense": cosine search (through the vector index where ``index_vectors`` built one, its
        candidates re-ranked exactly; see ``_dense_leg``), score = 1 - cosine distance. "keyword": BM25 over the
        full-text indexes of ``title`` (boosted ``TITLE_BOOST``) and ``text``, score = BM25.
        "hybrid": both of those (``top_k`` each), each prefiltered, fused by a convex combination
        of their normalised scores (``fuse_scores``) with the keyword leg's weight for this query
        (``keyword_weight``), score = the fused one, every candidate of either leg returned (up
        to 2 x ``top_k``); dense alone when ``text`` has no words.
        """
        if mode not in self.modes:
            raise ValueError(f"search mode must be one of {', '.join(self.modes)}, got {mode!r}")
        if mode != "keyword" and vector is None:
            raise ValueError(f"{mode} search needs a query vector")
        keywords = None
        if mode != "dense":
            try:
                keywords = keyword_text(text)
            except ValueError:
                if mode == "keyword":
                    raise
                log.info("The query has no words to match by keyword; hybrid search ranks by vector alone")
        table = self._open()
        if table is None or top_k <= 0:
            return []
        where = where_clause(flt)
        query_vector = self._query_vector(table, vector) if mode != "keyword" else None
        if keywords is None:
            return [_hit(row, score) for score, row in _dense_leg(table, query_vector, top_k, where)]
        if query_vector is None:
            return [_hit(row, score) for score, row in _keyword_leg(table, keywords, top_k, where)]
        # The two legs run side by side (LanceDB releases the GIL while it searches). A pool per
        # query, as LanceDB's own hybrid query does: a process-wide one would not survive a fork.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="lancedb-dense-leg") as pool:
            dense = pool.submit(_dense_leg, table, query_vector, top_k, where)
            keyword = _keyword_leg(table, keywords, top_k, where)
        fused = fuse_scores(dense.result(), keyword, keyword_weight(keywords, keyword))
        # Every candidate either leg found, not the fused top_k: a chunk that one leg ranks low
        # and the other high (a ticket whose assignee the question names, far down the vector
        # leg) must reach the ranking for work, whose rules can lift it. MiniLM hybrid, exact
        # identifiers recall@5 0.986 -> 0.993, people & time 0.958 -> 0.978.
        return [_hit(row, score) for score, row in fused]

    def count(self, source: str | None = None) -> int:
        table = self._open()
        if table is None:
            return 0
        return int(table.count_rows(f"source = {_quote(source)}" if source is not None else None))

    def ids(self, prefix: str = "") -> Iterator[str]:
        """Every stored chunk id starting with ``prefix``, reading only the id column."""
        table = self._open()
        if table is None:
            return
        scan = table.search().select(["id"]).limit(None)
        if prefix:
            scan = scan.where(f"starts_with(id, {_quote(prefix)})")
        for batch in scan.to_batches():
            yield from batch.column("id").to_pylist()

    def fetch(self, ids: Sequence[str]) -> list[VectorRecord]:
        """The rows of ``ids`` as records: metadata from its JSON copy with the access columns
        (authoritative, see ``_hit``) laid over it, vectors as stored (float32)."""
        ids = list(dict.fromkeys(ids))
        table = self._open()
        if table is None or not ids:
            return []
        columns = ["id", "document_id", "text", "vector", "metadata_json", "access_type", "access_list"]
        records = []
        for start in range(0, len(ids), DELETE_BATCH_IDS):
            where = f"id IN ({', '.join(_quote(i) for i in ids[start : start + DELETE_BATCH_IDS])})"
            for row in table.search().select(columns).where(where).limit(None).to_arrow().to_pylist():
                metadata = {
                    **json.loads(row["metadata_json"] or "{}"),
                    "access_type": row["access_type"] or "all",
                    "access_list": list(row["access_list"] or []),
                }
                records.append(VectorRecord(row["id"], row["document_id"] or "", list(row["vector"]), row["text"] or "", metadata))
        return records

    def update_access(
        self,
        document_ids: Sequence[str],
        access_type: str,
        access_list: Sequence[str],
        where: Mapping[str, str] | None = None,
    ) -> int:
        """``UPDATE ... SET access_type, access_list WHERE document_id IN (...)`` (1,000 ids a
        commit, under the writer lock); vectors and text stay. ``where`` is not needed here:
        the ledger's ids are exact. Returns the rows updated."""
        ids = list(dict.fromkeys(document_ids))
        table = self._open()
        if table is None or not ids:
            return 0
        emails = sorted({a.strip().lower() for a in access_list if a})
        # SQL values: lancedb's plain ``values`` cannot express an empty list (an empty concat).
        values = {
            "access_type": _quote(str(access_type or "all")),
            "access_list": f"arrow_cast(make_array({', '.join(_quote(e) for e in emails)}), 'List(Utf8)')",
        }
        updated = 0
        for start in range(0, len(ids), DELETE_BATCH_IDS):
            predicate = f"document_id IN ({', '.join(_quote(i) for i in ids[start : start + DELETE_BATCH_IDS])})"
            with self._writing():
                result = self._retry(lambda: table.update(where=predicate, values_sql=values))  # noqa: B023 (called at once)
            updated += int(getattr(result, "rows_updated", 0) or 0)
        self._keep_indexes_current()  # updated rows are rewritten, outside the indexes
        return updated

    # --- maintenance ----------------------------------------------------------------------

    def compact(self, keep_versions_for: timedelta = KEEP_VERSIONS_FOR) -> dict[str, Any]:
        """Merge the small fragments left by many upserts, fold rows written since into every
        index (creating missing ones on a table written before they existed) and drop versions
        older than ``keep_versions_for``.

        Every upsert, delete and access update commits a new version and fragment; without this,
        reads slow down and disk use grows with every run. Younger versions are kept, so a
        concurrent reader on an older version keeps working. Returns fragments and versions
        before and after."""
        table = self._open()
        if table is None:
            return {"rows": 0, "compacted": False}
        with self._writing():
            before = _layout(table)
            self._retry(lambda: _create_indexes(table))
            self._retry(lambda: table.optimize(cleanup_older_than=keep_versions_for))
            after = _layout(table)
        return {
            "rows": table.count_rows(),
            "compacted": True,
            "fragments_before": before[0],
            "fragments_after": after[0],
            "versions_before": before[1],
            "versions_after": after[1],
        }

    def index_vectors(self, retrain: bool = False) -> dict[str, Any]:
        """Build the vector index once the table holds ``VECTOR_INDEX_MIN_ROWS`` rows; retrain
        it when the rows written since it was trained reach ``VECTOR_INDEX_RETRAIN_SHARE`` of
        those it holds, or with ``retrain``. Otherwise it is current: ``compact`` folds new
        rows in, and queries scan the few not in it yet exactly. Returns what it did."""
        table = self._open()
        if table is None:
            return {"vector_index": "none", "rows": 0, "reason": "no table yet"}
        rows = table.count_rows()
        stats = _vector_index_stats(table)
        if stats is None and rows < VECTOR_INDEX_MIN_ROWS:
            return {"vector_index": "none", "rows": rows, "reason": f"fewer than {VECTOR_INDEX_MIN_ROWS:,} rows: the exact scan is fast"}
        if stats is not None and not retrain and stats.num_unindexed_rows < VECTOR_INDEX_RETRAIN_SHARE * stats.num_indexed_rows:
            return {
                "vector_index": "current",
                "rows": rows,
                "indexed_rows": stats.num_indexed_rows,
                "unindexed_rows": stats.num_unindexed_rows,
            }
        started = time.perf_counter()
        config = IvfSq(distance_type="cosine")
        with self._writing():
            self._retry(lambda: table.create_index("vector", config=config, replace=True, name=VECTOR_INDEX_NAME))
        seconds = round(time.perf_counter() - started, 1)
        log.info("Built the vector index of LanceDB table '%s' over %d rows in %.1f s", self.table_name, rows, seconds)
        return {"vector_index": "retrained" if stats is not None else "built", "rows": rows, "seconds": seconds}

    def _keep_indexes_current(self) -> None:
        """After a write: create missing indexes; past ``TEXT_INDEX_MAX_UNINDEXED_ROWS`` rows
        outside the full-text indexes, rebuild them all."""
        table = self._open()
        if table is None:
            return
        with self._writing():
            if self._retry(lambda: _create_indexes(table)) >= TEXT_INDEX_MAX_UNINDEXED_ROWS:
                log.info("Rebuilding the indexes of LanceDB table '%s'", self.table_name)
                self._retry(lambda: _create_indexes(table, rebuild=True))

    # --- internals ------------------------------------------------------------------------

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """Hold this table's writer lock (local disks; see the module docstring)."""
        if self._lock_file is None:
            yield
            return
        self._lock_file.parent.mkdir(parents=True, exist_ok=True)
        with open(self._lock_file, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def stored_dimension(self) -> int | None:
        """The vector size of the existing table (the embedder it was built with), or None."""
        table = self._open()
        return None if table is None else self._table_dimension(table)

    def _open(self) -> Any:
        """The table, or ``None`` while nobody has written to it yet."""
        if self._table is None:
            try:
                self._table = self._db.open_table(self.table_name)
            except (ValueError, FileNotFoundError):
                return None
        return self._table

    def _table_for_write(self, dim: int) -> Any:
        table = self._open()
        if table is None:
            try:
                # exist_ok: another process may create it between our open and this create.
                table = self._db.create_table(self.table_name, schema=_schema(dim), exist_ok=True)
            except Exception:  # lost a creation race in an unexpected way: the table is there now
                table = self._db.open_table(self.table_name)
            self._table = table
        existing = self._table_dimension(table)
        if existing != dim:
            raise ValueError(
                f"LanceDB table '{self.table_name}' at {self.uri} holds {existing}-dimensional vectors, "
                f"the records have {dim}: the embedder changed. Use another table (or delete this one) "
                "and re-sync."
            )
        return table

    def _query_vector(self, table: Any, vector: Sequence[float]) -> np.ndarray:
        query_vector = np.asarray(vector, dtype=np.float32)
        dim = self._table_dimension(table)
        if query_vector.shape != (dim,):
            raise ValueError(f"query vector has {query_vector.size} dimensions, table '{self.table_name}' has {dim}")
        if not np.isfinite(query_vector).all() or not query_vector.any():
            raise ValueError("query vector must be finite and non-zero")
        return query_vector

    def _record_dimension(self, records: Sequence[VectorRecord]) -> int:
        return self.common_dimension(records)

    @staticmethod
    def _table_dimension(table: Any) -> int:
        return int(table.schema.field("vector").type.list_size)

    @staticmethod
    def _retry(operation: Callable[[], T]) -> T:
        for attempt in range(CONFLICT_RETRIES + 1):
            try:
                return operation()
            except Exception as exc:
                if attempt == CONFLICT_RETRIES or not _CONFLICT_MESSAGE.search(str(exc)):
                    raise
                # Another writer committed first: back off with jitter so the two do not collide
                # again, then retry against the new version.
                pause = _CONFLICT_BACKOFF_S * (2**attempt) * (0.5 + random.random())
                log.warning("LanceDB commit conflict (attempt %d), retrying in %.2fs: %s", attempt + 1, pause, exc)
                time.sleep(pause)
        raise AssertionError("unreachable")


def _index_configs() -> dict[str, Any]:
    # FTS build memory is bounded (not persisted with the index): an upsert task's peak stays
    # that of its data, not of the index build.
    text = {column: FTS(memory_limit=FTS_BUILD_MEMORY_MB, num_workers=1) for column in TEXT_INDEX_COLUMNS}
    return {**{column: config() for column, config in FILTER_INDEXES.items()}, **text}


def _create_indexes(table: Any, rebuild: bool = False) -> int:
    """Create the full-text and filter indexes ``table`` lacks (all of them with ``rebuild``);
    returns the most rows a full-text index does not cover yet."""
    existing = {tuple(index.columns): index.name for index in table.list_indices()}
    for column, config in _index_configs().items():
        if rebuild or (column,) not in existing:
            table.create_index(column, config=config, replace=True)
    unindexed = 0
    for column in TEXT_INDEX_COLUMNS:
        stats = table.index_stats(existing.get((column,)) or f"{column}_idx")
        unindexed = max(unindexed, stats.num_unindexed_rows if stats is not None else 0)
    return unindexed


Ranked = list[tuple[float, dict[str, Any]]]


def _dense_leg(table: Any, vector: np.ndarray, top_k: int, where: str) -> Ranked:
    """Cosine search: (1 - cosine distance, row), best first, ties by id. Through the vector
    index where there is one (its candidates re-ranked on the full vectors; rows written since
    it was built scanned exactly), else exact. Fewer than ``top_k`` through the index (a narrow
    filter whose rows lie outside the probed partitions): the exact scan instead, so a filter
    never loses matches."""

    def run(exact: bool) -> Ranked:
        search = table.search(vector, vector_column_name="vector").distance_type("cosine")
        search = search.bypass_vector_index() if exact else search.nprobes(VECTOR_INDEX_NPROBES).refine_factor(VECTOR_INDEX_REFINE)
        return _ranked(
            search, [*_HIT_COLUMNS, "_distance"], top_k, where, lambda row: None if row["_distance"] is None else 1.0 - row["_distance"]
        )

    if _vector_index_name(table) is None:  # (reading the manifest's index list: ~0.5 ms)
        return run(exact=True)
    ranked = run(exact=False)
    return ranked if len(ranked) >= top_k else run(exact=True)


def _vector_index_name(table: Any) -> str | None:
    return next((index.name for index in table.list_indices() if list(index.columns) == ["vector"]), None)


def _vector_index_stats(table: Any) -> Any:
    """The vector index's statistics, or None when the table has none."""
    name = _vector_index_name(table)
    return None if name is None else table.index_stats(name)


def _layout(table: Any) -> tuple[int, int]:
    """(fragments, versions) of ``table``: what compaction reduces."""
    return int(table.stats()["fragment_stats"]["num_fragments"]), len(table.list_versions())


def _keyword_leg(table: Any, keywords: str, top_k: int, where: str) -> Ranked:
    """BM25 over title (boosted) and text: (score, row), best first, ties by id. The
    keywords (already ``keyword_text``) are matched as words, never parsed as query syntax."""
    search = table.search(MultiMatchQuery(keywords, list(TEXT_INDEX_COLUMNS), boosts=[TITLE_BOOST, 1.0]), query_type="fts")
    return _ranked(search, [*_HIT_COLUMNS, "_score"], top_k, where, lambda row: row["_score"])


def _ranked(search: Any, columns: list[str], top_k: int, where: str, score: Callable[[dict[str, Any]], float]) -> Ranked:
    # Each leg selects its own score column (LanceDB's hybrid builder cannot: it projects the
    # same columns into both legs, and Lance then logs a deprecation warning per leg and query).
    search = search.select(columns).limit(top_k)
    if where:
        search = search.where(where, prefilter=True)
    ranked = []
    for row in search.to_arrow().to_pylist():
        value = score(row)
        if value is not None and not math.isnan(value):
            ranked.append((float(value), row))
    ranked.sort(key=lambda entry: (-entry[0], entry[1]["id"]))
    return ranked


def keyword_weight(keywords: str, keyword: Ranked) -> float:
    """The keyword leg's share in hybrid fusion for this query: ``KEYWORD_WEIGHT`` x the share
    of the query's content words its best match holds (``keyword_coverage`` of its title and
    text, to the power ``KEYWORD_COVERAGE_POWER``). An identifier or a title asked for is matched whole and keeps the full weight; a
    question put in other words matches only stray words ("when", "customers"), and min-max
    normalisation would still give that best stray match a full 1: its say shrinks instead."""
    if not keyword:
        return KEYWORD_WEIGHT
    best = keyword[0][1]
    return KEYWORD_WEIGHT * keyword_coverage(keywords, f"{best['title'] or ''}\n{best['text'] or ''}") ** KEYWORD_COVERAGE_POWER


def fuse_scores(dense: Ranked, keyword: Ranked, keyword_weight: float = KEYWORD_WEIGHT) -> Ranked:
    """Convex combination of the two legs' scores, each min-max normalised over its own list.

    A row scores ``keyword_weight`` x its keyword score + (1 - ``keyword_weight``) x its dense
    score, each as (score - the list's lowest) / (the list's highest - its lowest), 0 when
    absent from that list. Unlike reciprocal rank fusion, how far apart two candidates are
    counts, not only their order: a BM25 score several times the next one (an exact
    identifier) stays on top, where RRF let a weak vector leg's neighbours push it out of the
    top 5. At equal scores a keyword match ranks before a vector-only neighbour, then by id.
    """
    fused: dict[str, list[Any]] = {}
    for leg, weight, is_keyword in ((dense, 1.0 - keyword_weight, False), (keyword, keyword_weight, True)):
        if not leg:
            continue
        top, low = leg[0][0], leg[-1][0]  # each leg is sorted best first
        for score, row in leg:
            entry = fused.setdefault(row["id"], [0.0, False, row])
            entry[0] += weight * ((score - low) / (top - low) if top > low else 1.0)
            entry[1] = entry[1] or is_keyword
    best = sorted(fused.values(), key=lambda entry: (-entry[0], not entry[1], entry[2]["id"]))
    return [(score, row) for score, _, row in best]


def _hit(row: Mapping[str, Any], score: float) -> Hit:
    return Hit(
        id=row["id"],
        score=score,
        source=row["source"] or "",
        title=row["title"] or "",
        text=row["text"] or "",
        url=row["url"] or "",
        # The access columns are authoritative: update_access rewrites them, not the JSON copy.
        metadata={
            **json.loads(row["metadata_json"] or "{}"),
            "access_type": row["access_type"] or "all",
            "access_list": list(row["access_list"] or []),
        },
    )


def where_clause(flt: SearchFilter | None) -> str:
    """Translate ``flt`` into a LanceDB (DataFusion) SQL predicate. No filter is the
    default filter: public items only (see ``SearchFilter``); empty only for all-access."""
    flt = flt or SearchFilter()
    parts = []
    if flt.sources:
        parts.append(f"source IN ({', '.join(_quote(s) for s in flt.sources)})")
    if flt.documents:
        parts.append(f"document_id IN ({', '.join(_quote(d) for d in flt.documents)})")
    if flt.projects:
        parts.append(f"array_has_any(projects, [{', '.join(_quote(p) for p in flt.projects)}])")
    if flt.since is not None:
        parts.append(f"timestamp_epoch >= {math.ceil(_epoch(flt.since))}")
    if flt.until is not None:
        # Integer seconds: t < until  <=>  t < ceil(until).
        parts.append(f"timestamp_epoch < {math.ceil(_epoch(flt.until))}")
    if flt.user is not None:
        parts.append(f"(access_type = 'all' OR array_has(access_list, {_quote(flt.user)}))")
    elif not flt.all_access:
        parts.append("access_type = 'all'")
    return " AND ".join(f"({p})" for p in parts)


def _quote(value: str) -> str:
    """A SQL string literal: single quotes doubled; backslashes are literal in DataFusion."""
    return "'" + str(value).replace("\x00", "").replace("'", "''") + "'"


def _epoch(moment: datetime) -> float:
    return utc(moment).timestamp()


def _to_arrow(records: Sequence[VectorRecord], dim: int) -> pa.Table:
    matrix = np.asarray([r.values for r in records], dtype=np.float32)
    if not np.isfinite(matrix).all():
        bad = next(r.id for r, row in zip(records, matrix) if not np.isfinite(row).all())
        raise ValueError(f"vector of {bad} contains NaN or infinity")
    zero = ~matrix.any(axis=1)
    if zero.any():
        raise ValueError(f"vector of {records[int(np.argmax(zero))].id} is all zeros (cosine is undefined)")
    columns: dict[str, list[Any]] = {name: [] for name in _schema(dim).names if name != "vector"}
    for record in records:
        md: Mapping[str, Any] = record.metadata
        columns["id"].append(record.id)
        columns["document_id"].append(record.document_id)
        columns["source"].append(str(md.get("source") or record.id.split(":", 1)[0]))
        columns["title"].append(sanitize(str(md.get("title") or "")))
        columns["url"].append(str(md.get("url") or ""))
        columns["text"].append(sanitize(record.text))
        columns["projects"].append(_strings(md.get("projects")))
        columns["access_type"].append(str(md.get("access_type") or "all"))
        columns["access_list"].append([a.strip().lower() for a in _strings(md.get("access_list"))])
        columns["timestamp_epoch"].append(_int_or_none(md.get("timestamp_epoch")))
        columns["metadata_json"].append(sanitize(json.dumps(dict(md), ensure_ascii=False, sort_keys=True, default=str)))
    vectors = pa.FixedSizeListArray.from_arrays(pa.array(matrix.reshape(-1), type=pa.float32()), dim)
    schema = _schema(dim)
    arrays = [pa.array(columns[name], type=schema.field(name).type) for name in schema.names if name != "vector"]
    return pa.Table.from_arrays([*arrays, vectors], schema=schema)


def _strings(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value if v is not None]


def _int_or_none(value: Any) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return int(number) if math.isfinite(number) else None
