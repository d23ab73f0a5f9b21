"""Access updated in place: the stores (LanceDB; Pinecone through its SDK and the simulator),
the simulator's ``/vectors/update`` against the vendor spec, and the ledger's access columns
on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pytest
import requests
import sqlalchemy as sa
from pinecone import Pinecone

from sandbox.pinecone import PineconeSimulator
from sandbox.server import Sandbox
from tests.pineconekit import V2025, assert_valid, box, call, component, data_spec, host, schema_of, sim  # noqa: F401 - fixtures among them
from tests.statekit import backend, pg_database, store  # noqa: F401 - fixtures
from vector_sync.models import SearchFilter, VectorRecord
from vector_sync.state import Access, LedgerWrite, StateStore, documents_table
from vector_sync.stores.lancedb import LanceDBStore
from vector_sync.stores.pinecone import PineconeStore, create_index

DIM = 8
T0 = datetime(2026, 11, 20, tzinfo=timezone.utc)


def records() -> list[VectorRecord]:
    """Two Slack channels (two documents of two chunks each) and a meeting."""
    out = []
    for channel in ("C1", "C2"):
        for ts in ("1.0", "2.0"):
            for n in range(2):
                doc_id = f"slack:{channel}:{ts}"
                out.append(
                    VectorRecord(
                        id=f"{doc_id}#{n}",
                        document_id=doc_id,
                        values=np.random.default_rng(len(out)).standard_normal(DIM).tolist(),
                        text=f"message {channel} {ts} {n}",
                        metadata={
                            "source": "slack",
                            "channel_id": channel,
                            "access_type": "private",
                            "access_list": ["a@x.com", "b@x.com"],
                            "title": "t",
                            "chunk_index": n,
                            "timestamp_epoch": 1_700_000_000,
                        },
                    )
                )
    out.append(
        VectorRecord(
            id="fireflies:m1#0",
            document_id="fireflies:m1",
            values=[1.0] * DIM,
            text="meeting",
            metadata={"source": "fireflies", "meeting_id": "m1", "access_type": "all", "access_list": []},
        )
    )
    return out


def audience(store, user: str | None) -> set[str]:
    return {h.id for h in store.query([1.0] * DIM, top_k=100, flt=SearchFilter(user=user))}


def check_store(store, by_filter: bool) -> None:
    store.upsert(records())
    c1 = {r.id for r in records() if "C1" in r.id}
    assert c1 <= audience(store, "b@x.com")
    where = {"source": "slack", "channel_id": "C1"} if by_filter else None
    matched = store.update_access(["slack:C1:1.0", "slack:C1:2.0"], "private", ["A@x.com"], where=where)
    assert matched == 4
    assert not c1 & audience(store, "b@x.com")  # removed
    assert c1 <= audience(store, "a@x.com")
    assert {r.id for r in records() if "C2" in r.id} <= audience(store, "b@x.com")  # other channel untouched
    hits = {h.id: h for h in store.query([1.0] * DIM, top_k=100, flt=SearchFilter(all_access=True))}
    assert hits["slack:C1:1.0#0"].metadata["access_list"] == ["a@x.com"] and hits["slack:C1:1.0#0"].text == "message C1 1.0 0"
    assert hits["slack:C1:1.0#0"].metadata["channel_id"] == "C1"  # the other metadata stays
    # Public, then restricted to nobody (an empty list).
    assert store.update_access(["fireflies:m1"], "shared", [], where={"document_id": "fireflies:m1"} if by_filter else None) == 1
    assert "fireflies:m1#0" not in audience(store, None) | audience(store, "a@x.com")
    store.update_access(["fireflies:m1"], "all", [])
    assert "fireflies:m1#0" in audience(store, None)
    assert store.count() == len(records())  # nothing added or removed


def test_lancedb_update_access(tmp_path):
    store = LanceDBStore(str(tmp_path / "db"))
    check_store(store, by_filter=False)
    assert store.update_access(["slack:NOPE:1"], "all", []) == 0


@pytest.fixture()
def pinecone_store(workspace):
    with Sandbox([PineconeSimulator(workspace)]) as box:
        pc = Pinecone(api_key="sandbox-token", host=box.simulator("pinecone").control_url)
        yield PineconeStore(pc.Index(host=create_index(pc, "vs", DIM)), namespace="test"), box


@pytest.mark.parametrize("by_filter", [True, False])
def test_pinecone_update_access(pinecone_store, by_filter):
    store, box = pinecone_store
    box.log.reset()
    check_store(store, by_filter)
    assert box.log.count("pinecone", r"/vectors/update$") == 3  # one request per scope either way


def test_simulator_update_matches_the_spec(host, data_spec):  # noqa: F811
    vectors = [{"id": f"v{i}", "values": [1.0, 0, 0, float(i)], "metadata": {"source": "a" if i % 2 else "b", "keep": i}} for i in range(4)]
    call(host, "POST", "/vectors/upsert", json={"vectors": vectors, "namespace": "ns"})
    body = {"filter": {"source": {"$eq": "a"}}, "setMetadata": {"access_type": "private", "access_list": ["x@y.z"]}, "namespace": "ns"}
    assert_valid(component(data_spec, "UpdateRequest"), body)
    dry = call(host, "POST", "/vectors/update", json={**body, "dryRun": True})
    assert dry.status_code == 200 and dry.json() == {"matchedRecords": 2}
    answer = call(host, "POST", "/vectors/update", json=body)
    assert answer.status_code == 200 and answer.json() == {"matchedRecords": 2}
    assert_valid(schema_of(data_spec, "/vectors/update", "post", "200"), answer.json())
    fetched = call(host, "GET", "/vectors/fetch", params=[("ids", "v1"), ("ids", "v2"), ("namespace", "ns")]).json()["vectors"]
    assert fetched["v1"]["metadata"] == {"source": "a", "keep": 1, "access_type": "private", "access_list": ["x@y.z"]}
    assert fetched["v2"]["metadata"] == {"source": "b", "keep": 2}
    by_id = call(
        host, "POST", "/vectors/update", json={"id": "v2", "values": [0, 1.0, 0, 0], "setMetadata": {"keep": 9}, "namespace": "ns"}
    )
    assert by_id.status_code == 200 and by_id.json() == {}
    assert call(host, "POST", "/vectors/update", json={"id": "missing", "setMetadata": {"keep": 1}, "namespace": "ns"}).status_code == 200
    for bad in (
        {"id": "v1", "filter": {"source": {"$eq": "a"}}},
        {},
        {"filter": {}, "setMetadata": {"a": 1}},
        {"filter": {"source": {"$eq": "a"}}, "values": [1, 0, 0, 0]},
        {"filter": {"source": {"$eq": "a"}}, "setMetadata": {"a": None}},
        {"filter": {"source": {"$bogus": 1}}, "setMetadata": {"a": 1}},
    ):
        refused = call(host, "POST", "/vectors/update", json={**bad, "namespace": "ns"})
        assert refused.status_code == 400, bad
        assert_valid(component(data_spec, "rpcStatus"), refused.json())


def test_ledger_access_round_trip_and_migration(store: StateStore):  # noqa: F811
    store.ledger.write("slack", [LedgerWrite("slack:C1:1", "h", 1, "fp", T0, "b", Access("private", ("B@x.com", "a@x.com")))], [], [], T0)
    store.ledger.write("slack", [LedgerWrite("slack:C1:2", "h", 1, "fp", T0)], [], [], T0)  # access unknown
    known = store.ledger.access_of_source("slack")
    assert known["slack:C1:1"][0] == Access("private", ("a@x.com", "b@x.com")) and known["slack:C1:2"][0] is None
    assert store.ledger.entries(["slack:C1:1"])["slack:C1:1"].body_hash == "b"
    assert store.ledger.set_access(["slack:C1:1", "slack:C1:2", "slack:NOPE"], Access.normal("all")) == 2
    assert {a for a, _ in store.ledger.access_of_source("slack").values()} == {Access("all", ())}
    store.ledger.mark_deleted(["slack:C1:2"], T0)
    assert set(store.ledger.access_of_source("slack")) == {"slack:C1:1"}
    # An older ledger without the columns gains them, idempotently, keeping its rows.
    with store.engine.begin() as conn:
        for column in ("access_type", "access_list", "body_hash"):
            conn.execute(sa.text(f"ALTER TABLE documents DROP COLUMN {column}"))
    store.migrate()
    store.migrate()
    assert {c.name for c in documents_table.columns} <= {c["name"] for c in sa.inspect(store.engine).get_columns("documents")}
    assert store.ledger.access_of_source("slack") == {"slack:C1:1": (None, T0)}


def test_spec_of_update_request_is_what_the_sdk_sends(host):  # noqa: F811
    """The SDK's update-by-filter body reaches the simulator as the spec spells it."""
    pc_index = Pinecone(api_key="sandbox-token", host=host.rsplit("/data/", 1)[0]).Index(host=host)
    pc_index.upsert(vectors=[("v", [1.0, 0, 0, 0], {"source": "a"})], namespace="ns")
    answer = pc_index.update(filter={"source": {"$eq": "a"}}, set_metadata={"access_type": "all"}, namespace="ns")
    assert answer.matched_records == 1
    assert requests.get(f"{host}/vectors/fetch", params=[("ids", "v"), ("namespace", "ns")], headers=V2025, timeout=10).json()["vectors"][
        "v"
    ]["metadata"] == {"source": "a", "access_type": "all"}
