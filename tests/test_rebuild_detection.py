"""Issue #22: the ledger records where each document was written, and status says
"needs-rebuild" when that is not the active store or embedder (unknown is not a mismatch)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import sqlalchemy as sa

from tests.statekit import backend, pg_database, store  # noqa: F401 - fixtures
from vector_sync.health import HealthBook, check
from vector_sync.models import VectorRecord
from vector_sync.state import LedgerWrite, StateStore
from vector_sync.status import HEALTHY, NEEDS_REBUILD, describe, source_status
from vector_sync.stores.lancedb import LanceDBStore

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)
FP = "minilm:all-MiniLM-L6-v2+title:384"


def write(state: StateStore, doc_id: str, store_key: str | None, fingerprint: str = FP, at: datetime = T0) -> None:
    state.ledger.write(
        "jira", [LedgerWrite(doc_id, "h", 1, fingerprint, at)], [(f"{doc_id}#0", doc_id, "c", fingerprint)], [], at, store_key=store_key
    )


def test_the_ledger_records_the_store_and_keeps_it_when_none_is_given(store):
    write(store, "jira:SUBS-1", "lancedb:/data/lancedb#chunks")
    write(store, "jira:SUBS-2", None)  # a writer that names no store: unknown
    assert store.ledger.written_to("jira") == {("lancedb:/data/lancedb#chunks", FP): 1, (None, FP): 1}
    write(store, "jira:SUBS-1", None, fingerprint="openai:text-embedding-3-small:1536")  # keeps the recorded store
    write(store, "jira:SUBS-2", "pinecone:idx.example.com/")
    assert store.ledger.written_to("jira") == {
        ("lancedb:/data/lancedb#chunks", "openai:text-embedding-3-small:1536"): 1,
        ("pinecone:idx.example.com/", FP): 1,
    }
    store.ledger.mark_deleted(["jira:SUBS-2"], T0)
    assert store.ledger.written_to("jira") == {("lancedb:/data/lancedb#chunks", "openai:text-embedding-3-small:1536"): 1}
    assert store.ledger.live_chunk_ids("jira") == ["jira:SUBS-1#0"]


def test_migrate_adds_the_store_column_and_old_rows_read_as_unknown(backend):
    engine = sa.create_engine(backend.url_with())
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE documents (id VARCHAR(512) PRIMARY KEY, source VARCHAR(50) NOT NULL, content_hash VARCHAR(128) NOT NULL, "
            "chunk_count INTEGER NOT NULL DEFAULT 0, fingerprint VARCHAR(255) NOT NULL DEFAULT '', updated_at TIMESTAMP, "
            "synced_at TIMESTAMP NOT NULL, deleted BOOLEAN NOT NULL DEFAULT FALSE)"
        )
        conn.exec_driver_sql(
            f"INSERT INTO documents (id, source, content_hash, fingerprint, synced_at) VALUES ('jira:OLD-1', 'jira', 'h', '{FP}', '2026-11-01 00:00:00')"
        )
    engine.dispose()
    with backend.store() as s:
        s.migrate()
        s.migrate()  # idempotent
        assert s.ledger.written_to("jira") == {(None, FP): 1}


def test_status_needs_rebuild_when_the_store_or_the_embedder_changed(tmp_path):
    state = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    state.migrate()
    lance = LanceDBStore(str(tmp_path / "lancedb"))
    now = T0 + timedelta(minutes=5)
    state.runs.advance_last_sync("jira", T0 - timedelta(minutes=15), T0)

    write(state, "jira:SUBS-1", lance.store_key, at=T0 - timedelta(days=40))
    write(state, "jira:SUBS-2", None)  # recorded before stores were: unknown, not a mismatch
    lance.upsert([vector("jira:SUBS-1"), vector("jira:SUBS-2")])
    assert source_status("jira", state, lance, now, fingerprint=FP).health == HEALTHY

    # The embedder changed: every document embedded with the old model needs a rebuild.
    switched = source_status("jira", state, lance, now, fingerprint="openai:text-embedding-3-small:1536")
    assert switched.health == NEEDS_REBUILD
    [problem] = switched.problems
    assert f"2 of 2 documents were embedded with {FP}" in problem
    assert "run `vector-sync rebuild jira`" in problem
    assert NEEDS_REBUILD in describe([switched]) and "vector-sync rebuild jira" in describe([switched])

    # The store changed (another table): the rows recorded for the old one need a rebuild.
    other = LanceDBStore(str(tmp_path / "lancedb"), table="elsewhere")
    moved = source_status("jira", state, other, now, fingerprint=FP)
    assert moved.health == NEEDS_REBUILD
    assert f"1 of 2 documents were written to {lance.store_key}, not the active store {other.store_key}" in moved.problems[0]
    assert source_status("jira", state, other, now).health == NEEDS_REBUILD  # no fingerprint given: the store alone
    assert source_status("slack", state, other, now, fingerprint=FP).health != NEEDS_REBUILD  # nothing of slack anywhere


def test_an_empty_active_store_needs_a_rebuild_even_when_no_row_names_a_store(tmp_path):
    """The issue's story before stores were recorded: every row's store is unknown, and the
    store switched to holds nothing of the source."""
    state = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    state.migrate()
    state.runs.advance_last_sync("jira", T0 - timedelta(minutes=15), T0)
    write(state, "jira:SUBS-1", None)
    empty = LanceDBStore(str(tmp_path / "lancedb"))
    status = source_status("jira", state, empty, T0, fingerprint=FP)
    assert status.health == NEEDS_REBUILD and status.vectors == 0
    assert status.problems == [
        f"the ledger lists 1 documents but the active store {empty.store_key} holds no vector of jira: searches miss them "
        "until they are rebuilt; run `vector-sync rebuild jira` (`--dry-run` first for the cost)"
    ]
    empty.upsert([vector("jira:SUBS-1")])
    assert source_status("jira", state, empty, T0, fingerprint=FP).health == HEALTHY
    assert source_status("tempo", state, empty, T0, fingerprint=FP).health != NEEDS_REBUILD  # no documents, nothing missing


def vector(doc_id: str) -> VectorRecord:
    return VectorRecord(f"{doc_id}#0", doc_id, [1.0, 0.5, 0.25, 0.125], "text", {"source": doc_id.split(":", 1)[0], "title": doc_id})


def test_the_health_check_alerts_once_for_a_needed_rebuild(tmp_path):
    state = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    state.migrate()
    lance = LanceDBStore(str(tmp_path / "lancedb"))
    state.runs.advance_last_sync("jira", T0 - timedelta(minutes=15), T0)
    write(state, "jira:SUBS-1", "pinecone:idx.example.com/")
    book = HealthBook(state.engine)
    book.migrate()
    first = check([source_status("jira", state, lance, T0, fingerprint=FP)], book, T0)
    assert [(e.kind, e.health) for e in first] == [("opened", NEEDS_REBUILD)]
    book.mark_alerted("jira", T0)
    later = T0 + timedelta(minutes=15)
    assert check([source_status("jira", state, lance, later, fingerprint=FP)], book, later) == []
