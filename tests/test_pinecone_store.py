"""PineconeStore through the real pinecone SDK (10.x, HTTP) against the sandbox's simulator."""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone

import numpy as np
import pytest
from pinecone import Pinecone

from sandbox.pinecone import PineconeSimulator
from sandbox.server import Fault, Sandbox
from vector_sync.embedders.hashing import HashingEmbedder
from vector_sync.errors import CredentialsError, FatalError
from vector_sync.models import SEARCH_MODES, SearchFilter, VectorRecord
from vector_sync.sparse import CollectionStats
from vector_sync.state import StateStore
from vector_sync.stores.lancedb import LanceDBStore
from vector_sync.stores.pinecone import (
    HYBRID_ALPHA,
    METADATA_MAX_BYTES,
    UPSERT_MAX_BYTES,
    PineconeStore,
    build_filter,
    check_dimension,
    create_index,
    fit_metadata,
)

TOKEN = "sandbox-token"
DIM = 8
UPSERT = r"/data/vs/vectors/upsert$"


@pytest.fixture()
def box(workspace):
    with Sandbox([PineconeSimulator(workspace)]) as sandbox:
        yield sandbox


@pytest.fixture()
def pc(box) -> Pinecone:
    return Pinecone(api_key=TOKEN, host=box.simulator("pinecone").control_url)


@pytest.fixture()
def store(box, pc) -> PineconeStore:
    host = create_index(pc, "vs", DIM)
    box.log.reset()
    return PineconeStore(pc.Index(host=host), namespace="test")


def record(i: int, source: str = "jira", text: str | None = None, dim: int = DIM, **metadata) -> VectorRecord:
    rng = np.random.default_rng(i)
    base = {
        "source": source,
        "title": f"Item {i}",
        "url": f"https://example.com/{i}",
        "projects": ["SUBS"],
        "access_type": "all",
        "access_list": [],
        "timestamp_epoch": 1_700_000_000 + i,
        "chunk_index": 0,
    }
    return VectorRecord(
        id=f"{source}:ITEM-{i}#0",
        document_id=f"{source}:ITEM-{i}",
        values=rng.standard_normal(dim).astype(np.float32).tolist(),
        text=text if text is not None else f"text of item {i}",
        metadata={**base, **metadata},
    )


def fetched(store: PineconeStore, ids: list[str]) -> dict:
    return {k: v for k, v in store.index.fetch(ids=ids, namespace=store.namespace).vectors.items()}


# --- writes at the API's limits ---------------------------------------------------------------


def test_upsert_splits_by_count(store, box):
    assert store.upsert([record(i) for i in range(2500)]) == 2500
    assert box.log.count("pinecone", path=UPSERT) == 3 == store.requests_made
    assert store.count() == 2500


def test_upsert_splits_by_size(store, box):
    # ~35 KB of text per record: about 56 records fit in 2 MB, far below the 1,000 cap.
    records = [record(i, text="word " * 7_000) for i in range(150)]
    store.upsert(records)
    requests_made = box.log.count("pinecone", path=UPSERT)
    assert box.log.status_count("pinecone", 400) == 0  # every request was under the simulator's 2 MB
    assert requests_made == store.requests_made == math.ceil(store.bytes_sent / UPSERT_MAX_BYTES)
    assert requests_made == 3
    assert store.count() == 150


def test_values_travel_as_shortest_float32(pc):
    cosine = PineconeStore(pc.Index(host=create_index(pc, "cos", DIM, metric="cosine")), namespace="test")
    rec = record(1)
    cosine.upsert([rec])
    values = fetched(cosine, [rec.id])[rec.id].values
    assert np.array_equal(np.asarray(values, dtype=np.float32), np.asarray(rec.values, dtype=np.float32))


def test_a_dotproduct_index_holds_unit_vectors(store):
    rec = record(1)
    store.upsert([rec])
    values = np.asarray(fetched(store, [rec.id])[rec.id].values, dtype=np.float32)
    raw = np.asarray(rec.values, dtype=np.float32)
    assert np.linalg.norm(values) == pytest.approx(1.0, abs=1e-6)
    assert np.allclose(values, raw / np.linalg.norm(raw), atol=1e-7)


def test_metadata_over_40kb_is_trimmed_at_a_character_boundary(store):
    text = "é🚀 " * 20_000  # 60,000 characters, ~140 KB of UTF-8
    rec = record(1, text=text)
    store.upsert([rec])
    metadata = fetched(store, [rec.id])[rec.id].metadata
    assert metadata["text_truncated"] is True and metadata["text_length"] == len(text)
    assert text.startswith(metadata["text"]) and 0 < len(metadata["text"]) < len(text)
    size = len(json.dumps(metadata, ensure_ascii=False, separators=(",", ":")).encode())
    assert METADATA_MAX_BYTES - 8 <= size <= METADATA_MAX_BYTES  # cut as late as it fits
    assert metadata["document_id"] == rec.document_id and metadata["projects"] == ["SUBS"]
    small = record(2)
    store.upsert([small])
    assert "text_truncated" not in fetched(store, [small.id])[small.id].metadata


def test_fit_metadata_drops_optional_fields_but_never_filter_fields():
    metadata = {"source": "s", "document_id": "s:1", "access_list": ["a@example.com"], "blob": "x" * 50_000, "text": "t" * 100}
    fitted = fit_metadata(metadata, METADATA_MAX_BYTES, "s:1#0")
    assert "blob" not in fitted and fitted["access_list"] == ["a@example.com"] and fitted["text"] == "t" * 100
    with pytest.raises(ValueError, match="without its text"):
        fit_metadata({"source": "s", "access_list": ["x" * 50_000], "text": "t"}, METADATA_MAX_BYTES, "s:2#0")


def test_nulls_and_unsupported_values_are_dropped(store):
    # The simulator refuses nulls: the upsert succeeding shows none were sent.
    rec = record(1, owner=None, ratio=float("nan"), nested={"a": 1}, labels=["x", None], when=datetime(2026, 1, 2, tzinfo=timezone.utc))
    store.upsert([rec])
    metadata = fetched(store, [rec.id])[rec.id].metadata
    assert not {"owner", "ratio", "nested"} & set(metadata)
    assert metadata["labels"] == ["x"] and metadata["when"] == "2026-01-02T00:00:00+00:00"


def test_bad_records_are_refused_before_sending(store, box):
    with pytest.raises(ValueError, match="ASCII"):
        store.upsert([VectorRecord("jira:caf\u00e9#0", "jira:caf\u00e9", [1.0] * DIM, "t", {})])
    with pytest.raises(ValueError, match="zero"):
        store.upsert([VectorRecord("jira:a#0", "jira:a", [0.0] * DIM, "t", {})])
    with pytest.raises(ValueError, match="mix"):
        store.upsert([record(1), record(2, dim=DIM + 1)])
    assert box.log.count("pinecone", path=UPSERT) == 0


def test_dimension_mismatch_is_refused_before_any_write(store, box, pc):
    with pytest.raises(FatalError, match="holds 8-dimensional vectors, the embedder produces 16"):
        store.upsert([record(1, dim=16)])
    assert box.log.count("pinecone", path=UPSERT) == 0
    with pytest.raises(FatalError, match="has dimension 8, the embedder produces 16"):
        check_dimension(pc, "vs", 16)
    with pytest.raises(FatalError, match="has dimension 8"):
        create_index(pc, "vs", 16)  # exists with another dimension
    with pytest.raises(FatalError, match="does not exist"):
        check_dimension(pc, "missing", 8)


def test_create_index_is_idempotent(pc, box):
    host = create_index(pc, "fresh", DIM)
    assert host == box.simulator("pinecone").index_host("fresh")
    assert create_index(pc, "fresh", DIM) == host
    assert box.log.count("pinecone", path=r"^/indexes$", method="POST") == 1


def test_delete_in_batches_of_1000(store, box):
    records = [record(i) for i in range(2500)]
    store.upsert(records)
    box.log.reset()
    assert store.delete([r.id for r in records] + ["jira:never#0"]) == 2501
    assert box.log.count("pinecone", path=r"/vectors/delete$") == 3
    assert store.count() == 0
    assert store.delete([]) == 0


def test_ids_by_prefix_and_count_by_source(store, box):
    store.upsert([record(i, "jira") for i in range(250)] + [record(i, "slack") for i in range(7)])
    box.log.reset()
    jira_ids = list(store.ids("jira:"))
    assert len(jira_ids) == 250 and all(i.startswith("jira:") for i in jira_ids)
    assert box.log.count("pinecone", path=r"/vectors/list$") == 3  # pages of 100
    assert store.count("jira") == 250 and store.count("slack") == 7 and store.count("notion") == 0
    assert store.count() == 257 and len(list(store.ids())) == 257


def test_fetch_reads_records_back_as_written_in_pages(store, box, tmp_path):
    """What a rebuild's copy path reads: values, text, document id and metadata as upserted
    (what LanceDB's fetch gives for the same records), 100 ids a request, unknown ids absent."""
    from vector_sync.stores.lancedb import LanceDBStore

    records = [record(i) for i in range(250)]
    store.upsert(records)
    lance = LanceDBStore(str(tmp_path / "lancedb"))
    lance.upsert(records)
    box.log.reset()
    wanted = [r.id for r in records] + ["jira:never#0"]
    got = {r.id: r for r in store.fetch(wanted)}
    assert box.log.count("pinecone", path=r"/vectors/fetch$") == 3
    assert sorted(got) == sorted(r.id for r in records)
    from_lance = {r.id: r for r in lance.fetch(wanted)}
    assert sorted(from_lance) == sorted(got)
    for original in records[:20]:
        unit = np.asarray(original.values) / np.linalg.norm(original.values)  # a dotproduct index holds unit vectors
        for copy, values in ((got[original.id], unit), (from_lance[original.id], original.values)):
            assert (copy.document_id, copy.text) == (original.document_id, original.text)
            assert copy.values == pytest.approx(list(values), abs=1e-6)
            assert {k: copy.metadata[k] for k in original.metadata} == dict(original.metadata)
    assert store.fetch([]) == [] and lance.fetch([]) == []


# --- queries ---------------------------------------------------------------------------------


def test_build_filter_is_the_pinecone_translation():
    since = datetime(2026, 1, 1, tzinfo=timezone.utc)
    until = datetime(2026, 1, 2, 0, 0, 0, 500_000, tzinfo=timezone.utc)
    flt = SearchFilter(sources=("jira", "slack"), projects=("SUBS",), user=" Ana@Example.com ", since=since, until=until)
    assert build_filter(flt) == {
        "$and": [
            {"source": {"$in": ["jira", "slack"]}},
            {"projects": {"$in": ["SUBS"]}},
            {"timestamp_epoch": {"$gte": 1767225600}},
            {"timestamp_epoch": {"$lt": 1767312001}},
            {"$or": [{"access_type": {"$eq": "all"}}, {"access_list": {"$in": ["ana@example.com"]}}]},
        ]
    }
    public = {"access_type": {"$eq": "all"}}
    assert build_filter(SearchFilter(sources=("jira",))) == {"$and": [{"source": {"$in": ["jira"]}}, public]}
    assert build_filter(SearchFilter()) == build_filter(None) == public  # fail closed: public items only
    assert build_filter(SearchFilter(all_access=True)) is None


def test_private_documents_are_visible_only_to_listed_users(store):
    public = record(1, text="roadmap review")
    private = record(2, text="salary review", access_type="private", access_list=["ana@example.com"])
    store.upsert([public, private])
    visible = lambda user: {h.id for h in store.query(private.values, 10, SearchFilter(user=user))}  # noqa: E731
    assert visible("ana@example.com") == {public.id, private.id}
    assert visible("ANA@example.com") == {public.id, private.id}
    assert visible("bob@example.com") == {public.id}
    assert {h.id for h in store.query(private.values, 10)} == {public.id}  # nobody named: public only
    assert {h.id for h in store.query(private.values, 10, SearchFilter(all_access=True))} == {public.id, private.id}


def test_hits_carry_text_and_metadata(store):
    rec = record(5, text="the deploy failed")
    store.upsert([rec, record(6)])
    best = store.query(rec.values, 1)[0]
    assert (best.id, best.source, best.title, best.url, best.text) == (
        rec.id,
        "jira",
        "Item 5",
        "https://example.com/5",
        "the deploy failed",
    )
    assert best.score == pytest.approx(1.0, abs=1e-5)
    assert "text" not in best.metadata and best.metadata["document_id"] == rec.document_id
    with pytest.raises(ValueError):
        store.query([0.0] * DIM, 3)
    assert store.query(rec.values, 0) == []


def test_filters_select_what_lancedb_selects(store, tmp_path):
    records = [
        record(
            i,
            source=("jira", "slack", "notion")[i % 3],
            projects=[("SUBS", "BC", "ARCH")[i % 3]],
            access_type="all" if i % 4 else "private",
            access_list=["ana@example.com"] if i % 8 == 0 else [],
        )
        for i in range(60)
    ]
    lance = LanceDBStore(str(tmp_path / "lancedb"))
    lance.upsert(records)
    store.upsert(records)
    filters = [
        SearchFilter(sources=("slack",)),
        SearchFilter(sources=("slack",), all_access=True),
        SearchFilter(projects=("BC", "ARCH")),
        SearchFilter(user="ana@example.com"),
        SearchFilter(user="bob@example.com", sources=("jira", "notion")),
        SearchFilter(
            since=datetime.fromtimestamp(1_700_000_010, timezone.utc), until=datetime.fromtimestamp(1_700_000_040.5, timezone.utc)
        ),
    ]
    for flt in filters:
        expected = {h.id for h in lance.query(records[0].values, 100, flt)}
        assert {h.id for h in store.query(records[0].values, 100, flt)} == expected, flt
        assert expected


# --- errors ----------------------------------------------------------------------------------


def test_rejected_key_fails_fast(box, store):
    bad = Pinecone(api_key="wrong", host=box.simulator("pinecone").control_url)
    broken = PineconeStore(bad.Index(host=store.index.host), conn_id="pinecone_prod")
    with pytest.raises(CredentialsError, match="pinecone_prod"):
        broken.upsert([record(1)])


def test_rate_limited_upsert_is_retried_by_the_sdk(store, box):
    box.faults.add(Fault(api="pinecone", kind="status", status=429, path="vectors/upsert", times=1, retry_after_s=0))
    assert store.upsert([record(1)]) == 1
    assert box.log.status_count("pinecone", 429) == 1 and store.count() == 1


def test_missing_index_is_a_configuration_error():
    with pytest.raises(FatalError, match="pinecone_default"):
        PineconeStore(None)


# --- keyword and hybrid search (sparse-dense, issue #17) --------------------------------------

EMBEDDER = HashingEmbedder(dimensions=DIM * 8)


@pytest.fixture()
def state(tmp_path):
    with StateStore(f"sqlite:///{tmp_path / 'state.db'}") as state:
        state.migrate()
        yield state


@pytest.fixture()
def hybrid(pc, state) -> PineconeStore:
    return PineconeStore(pc.Index(host=create_index(pc, "hybrid", EMBEDDER.dimensions)), namespace="test", bm25=state.bm25)


def doc(key: str, text: str, source: str = "jira", **metadata) -> VectorRecord:
    base = {
        "source": source,
        "title": key,
        "url": f"https://example.com/{key}",
        "projects": ["SUBS"],
        "access_type": "all",
        "access_list": [],
        "timestamp_epoch": 1_700_000_000,
        "chunk_index": 0,
    }
    return VectorRecord(f"{source}:{key}#0", f"{source}:{key}", EMBEDDER.embed([text])[0], text, {**base, **metadata})


NOISE = [
    doc("SUBS-12", "SUBS-12 Checkout redesign: the payment form shows the invoice preview"),
    doc("SUBS-1234", "SUBS-1234 Invoice PDF export is slow for accounts with many invoices"),
    doc("SUBS-99", "SUBS-99 Subscriptions: 123 customers were charged twice for their subscription plan"),
    doc("BC-7", "BC-7 Billing console timeout when exporting invoices to PDF"),
    doc("note", "Weekly sync: invoice export, PDF timeouts, subscriptions, checkout and the billing console", source="notion"),
]
TARGETS = [
    doc("SUBS-123", "SUBS-123 Invoice PDF export times out"),
    doc("runbook", "Step 12 of the runbook: when the worker logs ERR_PDF_RENDER_TIMEOUT restart it", source="notion"),
]


def ask(store: PineconeStore, text: str, mode: str, top_k: int = 10, flt: SearchFilter | None = None) -> list:
    vector = EMBEDDER.embed([text])[0] if mode != "keyword" else None
    return store.query(vector, top_k, flt, text=text, mode=mode)


@pytest.mark.parametrize("mode", ["keyword", "hybrid"])
@pytest.mark.parametrize(
    "query, expected",
    [
        ("SUBS-123", "jira:SUBS-123#0"),
        ("ERR_PDF_RENDER_TIMEOUT", "notion:runbook#0"),
        ("what does ERR_PDF_RENDER_TIMEOUT mean", "notion:runbook#0"),
    ],
)
def test_an_exact_identifier_is_found_first(hybrid, mode, query, expected):
    hybrid.upsert(NOISE + TARGETS)
    assert hybrid.modes == SEARCH_MODES
    hits = ask(hybrid, query, mode)
    assert hits[0].id == expected, [(h.id, round(h.score, 3)) for h in hits]
    assert hits[0].score > hits[1].score if len(hits) > 1 else True


def test_keyword_scores_are_bm25_and_hybrid_the_convex_combination(hybrid):
    hybrid.upsert(NOISE + TARGETS)
    keyword = {h.id: h.score for h in ask(hybrid, "invoice export", "keyword")}
    dense = {h.id: h.score for h in ask(hybrid, "invoice export", "dense")}
    mixed = {h.id: h.score for h in ask(hybrid, "invoice export", "hybrid")}
    assert set(keyword) == {"jira:SUBS-12#0", "jira:SUBS-1234#0", "notion:note#0", "jira:SUBS-123#0"}  # sharing a term
    assert all(0 < score < 1 for score in keyword.values())
    for chunk_id, score in mixed.items():
        expected = HYBRID_ALPHA * dense[chunk_id] + (1 - HYBRID_ALPHA) * keyword.get(chunk_id, 0.0)
        assert score == pytest.approx(expected, abs=1e-5), chunk_id
    assert ask(hybrid, "zebra", "keyword") == [] and ask(hybrid, "the of and", "keyword") == []
    assert [h.id for h in ask(hybrid, "the of and", "hybrid")] == [h.id for h in ask(hybrid, "the of and", "dense")]


def test_statistics_follow_upserts_and_deletes(hybrid, state):
    records = NOISE + TARGETS
    hybrid.upsert(records)
    first = state.bm25.stats(hybrid.collection)
    assert first.chunk_count == len(records) and first.total_length > 0
    hybrid.upsert(records[:3])  # re-upserted: counted once
    assert state.bm25.stats(hybrid.collection) == first
    sent = hybrid.index.fetch(ids=[TARGETS[0].id], namespace="test").vectors[TARGETS[0].id].sparse_values
    assert sent is not None and len(sent.indices) == len(set(sent.indices)) > 0
    hybrid.delete([TARGETS[0].id, "jira:never#0"])
    after = state.bm25.stats(hybrid.collection)
    assert after.chunk_count == len(records) - 1
    assert [h.id for h in ask(hybrid, "SUBS-123", "keyword")][:1] != [TARGETS[0].id]
    hybrid.delete([r.id for r in records])
    assert state.bm25.stats(hybrid.collection) == CollectionStats() and hybrid.count() == 0


RECORDS = [
    doc(
        f"ITEM-{i}",
        f"roadmap item {i} for {('jira', 'slack', 'notion')[i % 3]}",
        source=("jira", "slack", "notion")[i % 3],
        projects=[("SUBS", "BC", "ARCH")[i % 3]],
        access_type="all" if i % 4 else "private",
        access_list=["ana@example.com"] if i % 8 == 0 else [],
        timestamp_epoch=1_700_000_000 + i,
    )
    for i in range(48)
]


@pytest.mark.parametrize(
    "flt",
    [
        None,
        SearchFilter(sources=("slack",)),
        SearchFilter(sources=("slack",), all_access=True),
        SearchFilter(projects=("BC", "ARCH")),
        SearchFilter(user="ana@example.com"),
        SearchFilter(user="bob@example.com", sources=("jira", "notion")),
        SearchFilter(
            since=datetime.fromtimestamp(1_700_000_010, timezone.utc), until=datetime.fromtimestamp(1_700_000_040.5, timezone.utc)
        ),
    ],
    ids=lambda f: repr(f)[:60],
)
def test_every_mode_sees_exactly_the_permitted_set(hybrid, flt):
    hybrid.upsert(RECORDS)
    permitted = {h.id for h in ask(hybrid, "roadmap", "dense", 100, flt)}  # every record holds "roadmap"
    assert permitted
    assert {h.id for h in ask(hybrid, "roadmap", "keyword", 100, flt)} == permitted
    assert {h.id for h in ask(hybrid, "roadmap", "hybrid", 100, flt)} == permitted


def test_a_private_identifier_stays_private_in_hybrid_mode(hybrid):
    secret = doc("C1-42", "SUBS-777 salary bands for the ops team", source="slack", access_type="private", access_list=["ana@example.com"])
    hybrid.upsert(NOISE + [secret])
    for mode in ("keyword", "hybrid"):
        assert ask(hybrid, "SUBS-777", mode, flt=SearchFilter(user="ana@example.com"))[0].id == secret.id
        assert secret.id not in {h.id for h in ask(hybrid, "SUBS-777", mode, flt=SearchFilter(user="bob@example.com"))}
        assert secret.id not in {h.id for h in ask(hybrid, "SUBS-777", mode)}  # nobody named: public only


def test_a_cosine_index_serves_dense_only_and_says_how_to_fix_it(pc, state, box):
    cosine = PineconeStore(pc.Index(host=create_index(pc, "cos", EMBEDDER.dimensions, metric="cosine")), bm25=state.bm25)
    cosine.upsert(NOISE)  # writes go on, dense only
    assert box.log.status_count("pinecone", 400) == 0 and cosine.count() == len(NOISE)
    assert state.bm25.stats(cosine.collection) == CollectionStats()
    assert cosine.modes == ("dense",)
    for mode in ("keyword", "hybrid"):
        with pytest.raises(ValueError, match="metric dotproduct.*uses metric cosine"):
            ask(cosine, "SUBS-12", mode)
    assert ask(cosine, "SUBS-12", "dense")[0].id == "jira:SUBS-12#0"
    plain = PineconeStore(pc.Index(host=create_index(pc, "plain", EMBEDDER.dimensions)))  # no statistics attached
    assert plain.modes == ("dense",)
    with pytest.raises(ValueError, match="BM25 statistics"):
        ask(plain, "SUBS-12", "keyword")


def test_a_rare_word_in_a_long_repetitive_chunk_is_found_first(hybrid):
    """Issue #17's first finding, on Pinecone: the hashing embedder's buckets let a page's
    repeated words cancel a rare one; BM25 does not."""
    steps = [f"Step {n} of the runbook: check the dashboard, then restart the billing worker." for n in range(140)]
    chunks = [doc("runbook", "Failover runbook", source="notion")]
    for part in range(7):
        body = steps[part * 20 : (part + 1) * 20]
        if part == 4:
            body.insert(11, "Toggle: escalation > on-call: the code name for the standby cluster is Kestrelfall.")
        chunks.append(
            VectorRecord(
                f"notion:runbook#{part + 1}",
                "notion:runbook",
                EMBEDDER.embed(["\n".join(body)])[0],
                "\n".join(body),
                {**chunks[0].metadata, "chunk_index": part + 1},
            )
        )
    hybrid.upsert(chunks)
    for mode in ("keyword", "hybrid"):
        assert ask(hybrid, "Kestrelfall", mode)[0].id == "notion:runbook#5", mode


def test_a_sparse_only_index_is_refused_before_any_write(pc, state, box):
    from pinecone import ServerlessSpec

    model = pc.create_index(
        name="keywords", vector_type="sparse", metric="dotproduct", spec=ServerlessSpec(cloud="aws", region="us-east-1")
    )
    box.log.reset()
    with pytest.raises(FatalError, match="is a sparse index"):
        PineconeStore(pc.Index(host=model.host), bm25=state.bm25).upsert(NOISE)
    assert box.log.count("pinecone", path=r"/vectors/upsert$") == 0


def test_query_arguments_are_checked(hybrid):
    hybrid.upsert(NOISE)
    with pytest.raises(ValueError, match="mode must be one of"):
        hybrid.query(None, 3, text="x", mode="fuzzy")
    with pytest.raises(ValueError, match="needs the query text"):
        hybrid.query(None, 3, text="  ", mode="keyword")
    with pytest.raises(ValueError, match="needs a query vector"):
        hybrid.query(None, 3, text="invoice", mode="hybrid")
    assert hybrid.query(None, 0, text="invoice", mode="keyword") == []


def test_build_store_attaches_the_state_dbs_statistics(pc, tmp_path):
    from vector_sync.runtime import RuntimeConfig, build_store

    config = RuntimeConfig(
        state_url=f"sqlite:///{tmp_path / 'wired.db'}", staging_url="", store="pinecone", options={"namespace": "team", "hybrid_alpha": 0.4}
    )
    store = build_store(config, pc.Index(host=create_index(pc, "wired", EMBEDDER.dimensions)))
    assert (store.namespace, store.alpha, store.modes) == ("team", 0.4, SEARCH_MODES)
    store.upsert(TARGETS)
    assert StateStore(config.state_url).bm25.stats(store.collection).chunk_count == len(TARGETS)
    assert ask(store, "SUBS-123", "hybrid")[0].id == "jira:SUBS-123#0"
    with pytest.raises(ValueError, match="'hybrid_alpha' of Variable vector_sync_config must be a number from 0 to 1"):
        build_store(config.with_overrides({"options": {"hybrid_alpha": 1.5}}), store.index)


def test_the_optimize_dag_leaves_a_hosted_index_to_pinecone(store):
    store.upsert([record(i) for i in range(3)])
    assert store.index_vectors() == {"vector_index": "managed", "reason": "PineconeStore maintains its own index"}
    assert store.compact() == {"compacted": False, "reason": "PineconeStore manages its own storage"}
    assert store.count() == 3
