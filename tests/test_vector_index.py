"""The embedded store's vector index and compaction (vector_sync_optimize), on real LanceDB.

The index may change how fast a search answers, never what it answers: every ranking here is
checked against an exact cosine ranking computed with NumPy over the records that pass the
filter."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import numpy as np
import pytest

from tests.alertkit import SmtpSink, make_world, slack_posts
from tests.test_lancedb_store import T0, record
from vector_sync.models import SearchFilter
from vector_sync.stores import lancedb as lancedb_store
from vector_sync.stores.lancedb import LanceDBStore

DIM = 24
USERS = ("amy@example.com", "ben@example.com", "cleo@example.com")


@pytest.fixture()
def small_threshold(monkeypatch):
    """An index from 300 rows instead of 20,000, so a test table of a few hundred gets one."""
    monkeypatch.setattr(lancedb_store, "VECTOR_INDEX_MIN_ROWS", 300)


def corpus(first: int, last: int, seed: int = 7) -> list:
    """Records with random unit vectors, spread over sources, projects, access and days."""
    rng = np.random.default_rng(seed + first)
    records = []
    for n in range(first, last):
        vector = rng.normal(size=DIM)
        private = n % 5 == 0
        records.append(
            record(
                f"{('jira', 'slack', 'notion')[n % 3]}:D{n}#0",
                list(vector / np.linalg.norm(vector)),
                text=f"note {n}",
                projects=("SUBS",) if n % 2 else ("BC",),
                access_type="private" if private else "all",
                access_list=(USERS[n % 3],) if private else (),
                timestamp=T0 + n * 600,
            )
        )
    return records


def exact_ranking(records, query: np.ndarray, keep, top_k: int) -> list[str]:
    """The oracle: cosine similarity over every record ``keep`` admits, best first."""
    scored = [(float(np.dot(r.values, query) / np.linalg.norm(r.values) / np.linalg.norm(query)), r.id) for r in records if keep(r)]
    return [id for _, id in sorted(scored, reverse=True)[:top_k]]


def visible_to(user: str):
    return lambda r: r.metadata["access_type"] == "all" or user in r.metadata["access_list"]


FILTERS = [
    (None, lambda r: r.metadata["access_type"] == "all"),  # no user named: public only
    (SearchFilter(sources=("jira",)), lambda r: r.metadata["source"] == "jira" and r.metadata["access_type"] == "all"),
    (SearchFilter(projects=("BC",), user=USERS[1]), lambda r: "BC" in r.metadata["projects"] and visible_to(USERS[1])(r)),
    (SearchFilter(user=USERS[2]), visible_to(USERS[2])),
]


def ranked_ids(store: LanceDBStore, query: np.ndarray, flt: SearchFilter | None, top_k: int = 10) -> list[str]:
    return [hit.id for hit in store.query(list(query), top_k=top_k, flt=flt)]


def test_the_index_answers_what_the_exact_scan_answers_inside_every_filter(tmp_path, small_threshold):
    store = LanceDBStore(str(tmp_path / "lancedb"))
    records = corpus(0, 900)
    store.upsert(records)
    assert store.index_vectors() == {"vector_index": "built", "rows": 900, "seconds": pytest.approx(0, abs=30)}
    assert any(list(index.columns) == ["vector"] and index.index_type == "IvfSq" for index in store._open().list_indices())

    rng = np.random.default_rng(1)
    for query in rng.normal(size=(12, DIM)):
        for flt, keep in FILTERS:
            assert ranked_ids(store, query, flt) == exact_ranking(records, query, keep, 10)

    # A narrow filter (three rows, one private): both public rows. Dates are [since, until).
    since, until = T0 + 400 * 600, T0 + 403 * 600
    narrow = SearchFilter(since=datetime.fromtimestamp(since, timezone.utc), until=datetime.fromtimestamp(until, timezone.utc))
    in_range = lambda r: since <= r.metadata["timestamp_epoch"] < until and r.metadata["access_type"] == "all"  # noqa: E731
    query = rng.normal(size=DIM)
    expected = exact_ranking(records, query, in_range, 10)
    assert 0 < len(expected) < 10 and ranked_ids(store, query, narrow) == expected


def test_a_filter_whose_rows_lie_outside_the_probed_partitions_loses_none(tmp_path, small_threshold, monkeypatch):
    # 20,000 rows make several partitions; probing one of them finds 5 of the 10 rows of a
    # 100-minute range: the store sees fewer than k and answers with the exact scan.
    monkeypatch.setattr(lancedb_store, "VECTOR_INDEX_NPROBES", 1)
    store = LanceDBStore(str(tmp_path / "lancedb"))
    records = corpus(0, 20_000)
    store.upsert(records)
    store.index_vectors()
    since, until = T0 + 400 * 600, T0 + 410 * 600
    narrow = SearchFilter(since=datetime.fromtimestamp(since, timezone.utc), until=datetime.fromtimestamp(until, timezone.utc))
    in_range = lambda r: since <= r.metadata["timestamp_epoch"] < until and r.metadata["access_type"] == "all"  # noqa: E731
    for query in np.random.default_rng(5).normal(size=(3, DIM)):
        assert ranked_ids(store, query, narrow, top_k=10) == exact_ranking(records, query, in_range, 10)


def test_rows_written_after_the_index_are_found_before_and_after_compaction(tmp_path, small_threshold):
    store = LanceDBStore(str(tmp_path / "lancedb"))
    records = corpus(0, 600)
    store.upsert(records)
    store.index_vectors()
    newer = corpus(600, 650, seed=99)
    store.upsert(newer)
    probe = np.asarray(newer[7].values)
    assert ranked_ids(store, probe, None, top_k=1) == [newer[7].id]  # outside the index: scanned exactly

    assert store.index_vectors() == {"vector_index": "current", "rows": 650, "indexed_rows": 600, "unindexed_rows": 50}
    store.compact()
    stats = lancedb_store._vector_index_stats(store._open())
    assert (stats.num_indexed_rows, stats.num_unindexed_rows) == (650, 0)  # folded in by compaction
    everything = records + newer
    for query in np.random.default_rng(3).normal(size=(6, DIM)):
        for flt, keep in FILTERS:
            assert ranked_ids(store, query, flt) == exact_ranking(everything, query, keep, 10)


def test_the_index_waits_for_enough_rows_and_is_retrained_after_a_large_backfill(tmp_path, small_threshold):
    store = LanceDBStore(str(tmp_path / "lancedb"))
    assert store.index_vectors() == {"vector_index": "none", "rows": 0, "reason": "no table yet"}
    store.upsert(corpus(0, 200))
    report = store.index_vectors()
    assert report["vector_index"] == "none" and "fewer than 300 rows" in report["reason"]
    assert lancedb_store._vector_index_stats(store._open()) is None

    store.upsert(corpus(200, 400))
    assert store.index_vectors()["vector_index"] == "built"
    store.upsert(corpus(400, 550))  # 150 new rows on 400 indexed: under half, left to compaction
    assert store.index_vectors()["vector_index"] == "current"
    store.upsert(corpus(550, 700))  # 300 new on 400: a backfill, retrained on all 700
    assert store.index_vectors()["vector_index"] == "retrained"
    stats = lancedb_store._vector_index_stats(store._open())
    assert (stats.num_indexed_rows, stats.num_unindexed_rows) == (700, 0)
    assert store.index_vectors(retrain=True)["vector_index"] == "retrained"  # by hand (vector-sync optimize --retrain)


def test_compaction_merges_fragments_drops_old_versions_and_keeps_every_row(tmp_path):
    store = LanceDBStore(str(tmp_path / "lancedb"))
    for first in range(0, 300, 30):  # ten syncs' upserts: ten fragments, a version each
        store.upsert(corpus(first, first + 30))
    store.delete([f"slack:D{n}#0" for n in range(1, 300, 3)])
    report = store.compact(keep_versions_for=timedelta(milliseconds=1))
    assert report["fragments_before"] >= 10 and report["fragments_after"] <= 2
    assert report["versions_before"] > 10 and report["versions_after"] <= 2
    assert report["rows"] == store.count() == 200
    assert sorted(store.ids("slack:")) == []
    assert store.query([1.0] + [0.0] * (DIM - 1), top_k=200, flt=SearchFilter(user=USERS[0]))


def test_the_optimize_dag_indexes_and_compacts_the_store_it_is_configured_with(airflow_env, small_threshold):
    from vector_sync.airflow.optimize import OPTIMIZE_SCHEDULE, build_optimize_dag

    _, store = airflow_env
    for first in range(0, 600, 100):
        store.upsert(corpus(first, first + 100))
    dag = build_optimize_dag()
    assert dag.dag_id == "vector_sync_optimize" and sorted(dag.task_ids) == ["compact", "index_vectors"]
    assert dag.get_task("index_vectors").downstream_task_ids == {"compact"}
    assert dag.timetable.expression == OPTIMIZE_SCHEDULE and dag.catchup is False and dag.max_active_runs == 1

    now = datetime.now(timezone.utc)
    run = dag.test(logical_date=now, run_after=now)
    assert str(run.state) == "success"
    table = LanceDBStore(store.uri)._open()
    assert lancedb_store._vector_index_stats(table).num_indexed_rows == 600
    assert table.stats()["fragment_stats"]["num_fragments"] <= 2


def test_a_failed_optimize_run_alerts_with_what_it_means(airflow_db, sandbox, monkeypatch, tmp_path):
    from vector_sync.airflow.callbacks import on_optimize_failure

    with SmtpSink() as smtp:
        make_world(monkeypatch, sandbox, tmp_path, smtp)
        task = SimpleNamespace(task_id="compact", log_url="http://localhost:8080/log", dag_id="vector_sync_optimize")
        on_optimize_failure({"ti": task, "run_id": "scheduled__2026-12-06T10:50:00+00:00", "exception": OSError("No space left on device")})
        [post] = slack_posts(sandbox)
        assert "the index maintenance failed" in post["text"]
        assert "vector_sync_optimize.compact" in post["text"] and "No space left on device" in post["text"]
        assert [m.subject for m in smtp.mails] and "index maintenance failed" in smtp.mails[0].subject


def test_the_command_reports_both_steps(airflow_env, small_threshold, capsys):
    from vector_sync.cli import main

    _, store = airflow_env
    store.upsert(corpus(0, 400))
    assert main(["optimize", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["index_vectors"]["vector_index"] == "built" and report["compact"]["rows"] == 400
    assert main(["optimize"]) == 0
    out = capsys.readouterr().out
    assert "vector index: current over 400 rows" in out and "compacted 400 rows" in out
