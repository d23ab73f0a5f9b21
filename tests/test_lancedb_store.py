"""LanceDBStore against a real LanceDB directory (no mocks)."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timezone

import pytest

from vector_sync.models import SEARCH_MODES, SearchFilter, VectorRecord
from vector_sync.stores import lancedb as lancedb_store
from vector_sync.stores.base import keyword_text
from vector_sync.stores.lancedb import KEYWORD_COVERAGE_POWER, KEYWORD_WEIGHT, LanceDBStore, fuse_scores, keyword_weight, where_clause

DAY = 86_400
T0 = int(datetime(2026, 11, 1, tzinfo=timezone.utc).timestamp())


def record(
    id: str,
    vector: list[float],
    text: str = "some text",
    source: str | None = None,
    projects: tuple[str, ...] = (),
    access_type: str = "all",
    access_list: tuple[str, ...] = (),
    timestamp: int = T0,
    **extra,
) -> VectorRecord:
    document_id = id.split("#")[0]
    metadata = {
        "source": source or id.split(":")[0],
        "document_id": document_id,
        "title": f"Title of {document_id}",
        "url": f"https://example.com/{document_id}",
        "chunk_index": int(id.rsplit("#", 1)[1]) if "#" in id else 0,
        "projects": list(projects),
        "access_type": access_type,
        "access_list": list(access_list),
        "timestamp_epoch": timestamp,
        **extra,
    }
    return VectorRecord(id=id, document_id=document_id, values=vector, text=text, metadata=metadata)


@pytest.fixture()
def store(tmp_path) -> LanceDBStore:
    return LanceDBStore(str(tmp_path / "lancedb"))


def ids_of(hits) -> list[str]:
    return [h.id for h in hits]


def test_empty_store_is_graceful(store):
    assert store.count() == 0
    assert store.count("slack") == 0
    assert store.query([1.0, 0.0, 0.0, 0.0], top_k=5) == []
    assert list(store.ids()) == []
    assert store.delete(["slack:a#0"]) == 1
    assert store.upsert([]) == 0


def test_upsert_then_query_returns_nearest_first(store):
    records = [
        record("slack:C1-1#0", [1.0, 0.0, 0.0, 0.0], text="alpha"),
        record("jira:KEY-1#0", [0.0, 1.0, 0.0, 0.0], text="beta"),
        record("notion:p1#0", [0.7, 0.7, 0.0, 0.0], text="gamma"),
    ]
    assert store.upsert(records) == 3
    assert store.count() == 3
    hits = store.query([0.9, 0.1, 0.0, 0.0], top_k=3)
    assert ids_of(hits) == ["slack:C1-1#0", "notion:p1#0", "jira:KEY-1#0"]
    assert hits[0].score > hits[1].score > hits[2].score
    top = store.query([1.0, 0.0, 0.0, 0.0], top_k=1)[0]
    assert top.score == pytest.approx(1.0, abs=1e-6)
    assert (top.source, top.title, top.text, top.url) == ("slack", "Title of slack:C1-1", "alpha", "https://example.com/slack:C1-1")
    assert top.metadata == dict(records[0].metadata)


def test_upsert_same_id_replaces(store):
    store.upsert([record("slack:C1-1#0", [1.0, 0.0, 0.0, 0.0], text="first")])
    store.upsert([record("slack:C1-1#0", [0.0, 0.0, 1.0, 0.0], text="second")])
    assert store.count() == 1
    (hit,) = store.query([0.0, 0.0, 1.0, 0.0], top_k=5)
    assert hit.text == "second" and hit.score == pytest.approx(1.0, abs=1e-6)


def test_repeated_id_in_one_batch_keeps_the_last(store):
    written = store.upsert([record("jira:K-1#0", [1.0, 0.0, 0.0, 0.0], text="old"), record("jira:K-1#0", [1.0, 0.0, 0.0, 0.0], text="new")])
    assert written == 1 and store.count() == 1
    assert store.query([1.0, 0.0, 0.0, 0.0], top_k=1)[0].text == "new"


def test_delete_by_ids_with_awkward_characters(store):
    awkward = ["jira:O'Brien#0", "notion:a'b'c#1", 'slack:"quoted"#2', "slack:back\\slash#0", "slack:semi;colon -- #0"]
    store.upsert([record(i, [1.0, float(n), 0.0, 1.0]) for n, i in enumerate(awkward + ["slack:keep#0"])])
    assert store.delete(awkward[:3] + ["slack:missing#9"]) == 4
    assert sorted(store.ids()) == sorted(awkward[3:] + ["slack:keep#0"])
    store.delete(awkward[3:])
    assert list(store.ids()) == ["slack:keep#0"]


def test_delete_more_ids_than_one_batch(store):
    store.upsert([record(f"tempo:w{i}#0", [1.0, i / 3000, 0.5, 0.0]) for i in range(2500)])
    assert store.count() == 2500
    assert store.delete([f"tempo:w{i}#0" for i in range(2400)]) == 2400
    assert store.count() == 100


def test_count_by_source_and_ids_by_prefix(store):
    store.upsert(
        [
            record("jira:A_1#0", [1.0, 0.0]),
            record("jira:A_1#1", [1.0, 0.1]),
            record("jira:AB1#0", [1.0, 0.2]),
            record("jira:A%2#0", [1.0, 0.3]),
            record("slack:A_1#0", [1.0, 0.4]),
        ]
    )
    assert store.count("jira") == 4 and store.count("slack") == 1 and store.count("tempo") == 0
    # '_' and '%' are literal in a prefix (no LIKE wildcards).
    assert sorted(store.ids("jira:A_1#")) == ["jira:A_1#0", "jira:A_1#1"]
    assert sorted(store.ids("jira:A%")) == ["jira:A%2#0"]
    assert len(list(store.ids())) == 5


@pytest.fixture()
def filtered(store) -> LanceDBStore:
    v = [1.0, 0.0, 0.0, 0.0]
    store.upsert(
        [
            record("slack:public#0", v, projects=("APOLLO",), timestamp=T0),
            record("jira:zeus#0", [0.9, 0.1, 0.0, 0.0], projects=("ZEUS", "APOLLO"), timestamp=T0 + DAY),
            record("jira:hermes#0", [0.8, 0.2, 0.0, 0.0], projects=("HERMES",), timestamp=T0 + 2 * DAY),
            record(
                "slack:dm#0",
                [0.7, 0.3, 0.0, 0.0],
                access_type="private",
                access_list=("Amy.Lee@Example.com", "bob@example.com"),
                timestamp=T0 + 3 * DAY,
            ),
        ]
    )
    return store


def search(store, **kwargs) -> list[str]:
    return sorted(ids_of(store.query([1.0, 0.0, 0.0, 0.0], top_k=10, flt=SearchFilter(**kwargs))))


def test_filter_by_source(filtered):
    assert search(filtered, sources=("jira",)) == ["jira:hermes#0", "jira:zeus#0"]
    assert search(filtered, sources=("jira", "slack"), all_access=True) == sorted(
        ["jira:hermes#0", "jira:zeus#0", "slack:dm#0", "slack:public#0"]
    )
    assert search(filtered, sources=("jira", "slack")) == sorted(["jira:hermes#0", "jira:zeus#0", "slack:public#0"])
    assert search(filtered, sources=("notion",)) == []


def test_filter_by_projects_matches_any(filtered):
    assert search(filtered, projects=("APOLLO",)) == ["jira:zeus#0", "slack:public#0"]
    assert search(filtered, projects=("HERMES", "ZEUS")) == ["jira:hermes#0", "jira:zeus#0"]


def test_filter_by_dates_is_half_open(filtered):
    since = datetime.fromtimestamp(T0 + DAY, timezone.utc)
    until = datetime.fromtimestamp(T0 + 3 * DAY, timezone.utc)
    assert search(filtered, since=since, until=until) == ["jira:hermes#0", "jira:zeus#0"]
    assert search(filtered, until=datetime.fromtimestamp(T0, timezone.utc)) == []
    assert search(filtered, since=datetime.fromtimestamp(T0 + 3 * DAY + 0.5, timezone.utc)) == []


def test_private_chunk_visible_only_to_listed_users_case_insensitively(filtered):
    public = ["jira:hermes#0", "jira:zeus#0", "slack:public#0"]
    assert search(filtered, user="carol@example.com") == public
    assert search(filtered, user="AMY.LEE@example.COM") == sorted(public + ["slack:dm#0"])
    assert search(filtered, user=" Bob@Example.com ") == sorted(public + ["slack:dm#0"])
    assert search(filtered, user="o'hara@example.com") == public
    assert search(filtered) == public  # no user: public items only (fail closed)
    assert search(filtered, all_access=True) == sorted(public + ["slack:dm#0"])  # the operator's explicit view
    assert ids_of(filtered.query([1.0, 0.0, 0.0, 0.0], top_k=10)) and "slack:dm#0" not in ids_of(
        filtered.query([1.0, 0.0, 0.0, 0.0], top_k=10)
    )


@pytest.mark.parametrize("blank", ["", "   ", "\t\n"])
def test_blank_user_is_refused_not_read_as_nobody(blank):
    with pytest.raises(ValueError, match="blank"):
        SearchFilter(user=blank)
    with pytest.raises(ValueError, match="exclude"):
        SearchFilter(user="amy@example.com", all_access=True)


def test_filters_combine(filtered):
    assert search(filtered, sources=("slack",), user="carol@example.com") == ["slack:public#0"]
    assert search(filtered, sources=("jira",), projects=("APOLLO",), user="amy.lee@example.com") == ["jira:zeus#0"]


def test_filter_applies_before_top_k(filtered):
    hits = filtered.query([1.0, 0.0, 0.0, 0.0], top_k=1, flt=SearchFilter(sources=("jira",), projects=("HERMES",)))
    assert ids_of(hits) == ["jira:hermes#0"]


def test_where_clause_quotes_values():
    clause = where_clause(SearchFilter(sources=("it's",), projects=("a'b",), user="O'Hara@X.com"))
    assert "'it''s'" in clause and "'a''b'" in clause and "'o''hara@x.com'" in clause
    assert where_clause(None) == where_clause(SearchFilter()) == "(access_type = 'all')"
    assert where_clause(SearchFilter(all_access=True)) == ""


def test_dimension_mismatch_is_refused_before_writing(store, tmp_path):
    store.upsert([record("slack:a#0", [1.0, 0.0, 0.0, 0.0])])
    with pytest.raises(ValueError, match="4-dimensional"):
        store.upsert([record("slack:b#0", [1.0] * 8)])
    reopened = LanceDBStore(str(tmp_path / "lancedb"))
    with pytest.raises(ValueError):
        reopened.upsert([record("slack:c#0", [1.0] * 3)])
    assert store.count() == 1
    with pytest.raises(ValueError):
        store.query([1.0, 0.0], top_k=3)
    with pytest.raises(ValueError):
        store.upsert([record("slack:d#0", [1.0] * 4), record("slack:e#0", [1.0] * 5)])


def test_configured_dimensions_are_enforced(tmp_path):
    store = LanceDBStore(str(tmp_path / "db"), table="vectors", dimensions=4)
    with pytest.raises(ValueError):
        store.upsert([record("slack:a#0", [1.0, 0.0])])
    assert store.count() == 0


@pytest.mark.parametrize("bad", [[float("nan"), 0.0, 0.0, 1.0], [0.0, 0.0, 0.0, 0.0], [float("inf"), 1.0, 0.0, 0.0]])
def test_nan_and_zero_vectors_are_refused(store, bad):
    with pytest.raises(ValueError):
        store.upsert([record("slack:ok#0", [1.0, 0.0, 0.0, 0.0]), record("slack:bad#0", bad)])
    assert store.count() == 0


def test_access_list_is_stored_lower_case(store):
    store.upsert([record("slack:dm#0", [1.0, 0.0], access_type="private", access_list=("Amy@Example.COM",))])
    hits = store.query([1.0, 0.0], top_k=1, flt=SearchFilter(user="amy@example.com"))
    assert ids_of(hits) == ["slack:dm#0"]


def test_second_handle_sees_writes_of_the_first(tmp_path):
    uri = str(tmp_path / "shared")
    reader = LanceDBStore(uri)
    writer = LanceDBStore(uri)
    assert reader.count() == 0
    writer.upsert([record("slack:a#0", [1.0, 0.0])])
    assert reader.count() == 1
    writer.upsert([record("slack:b#0", [0.0, 1.0])])
    assert ids_of(reader.query([0.0, 1.0], top_k=1)) == ["slack:b#0"]


# --- keyword and hybrid -------------------------------------------------------------------


def keyword_ids(store: LanceDBStore, text: str, **flt) -> list[str]:
    return ids_of(store.query(None, top_k=10, flt=SearchFilter(**flt), text=text, mode="keyword"))


def test_keyword_search_ranks_by_words_in_title_and_text(store):
    store.upsert(
        [
            record("jira:A#0", [1.0, 0.0], text="Checkout copy tweaks", title="A: Refund flow"),
            record("notion:p#0", [1.0, 0.0], text="The refund flow for annual plans"),
            record("slack:c#0", [1.0, 0.0], text="lunch?"),
        ]
    )
    # The title match (boosted) first, the body match second; stemming: "refunds" finds "refund".
    assert keyword_ids(store, "refunds flow") == ["jira:A#0", "notion:p#0"]
    hits = store.query(None, top_k=10, text="refunds flow", mode="keyword")
    assert hits[0].score > hits[1].score > 0
    assert keyword_ids(store, "the") == []  # stop words alone match nothing


def test_a_chunk_is_findable_by_keyword_right_after_each_write(store, monkeypatch):
    monkeypatch.setattr(lancedb_store, "TEXT_INDEX_MAX_UNINDEXED_ROWS", 20)
    store.upsert([record(f"jira:K-{n}#0", [1.0, n / 50], text=f"routine note code{n}") for n in range(30)])
    table = store._open()
    assert {i.columns[0] for i in table.list_indices() if i.index_type == "FTS"} == {"title", "text"}
    assert all(table.index_stats(f"{c}_idx").num_unindexed_rows == 0 for c in ("title", "text"))  # folded in

    store.upsert([record("jira:K-3#0", [1.0, 0.5], text="renamed to Kestrel")])  # outside the index for now
    assert table.index_stats("text_idx").num_unindexed_rows == 1
    assert keyword_ids(store, "kestrel") == ["jira:K-3#0"]
    assert keyword_ids(store, "code3") == [] and keyword_ids(store, "code2") == ["jira:K-2#0"]  # the replaced text is gone
    store.delete(["jira:K-3#0", "jira:K-4#0"])
    assert keyword_ids(store, "kestrel") == [] and "jira:K-4#0" not in keyword_ids(store, "routine")
    store.compact()
    assert keyword_ids(store, "kestrel") == [] and "jira:K-4#0" not in keyword_ids(store, "routine")
    assert len(keyword_ids(store, "routine")) == 10


def test_an_access_change_keeps_keyword_search_current(store, monkeypatch):
    monkeypatch.setattr(lancedb_store, "TEXT_INDEX_MAX_UNINDEXED_ROWS", 1)
    store.upsert([record("slack:G1#0", [1.0, 0.0], text="Zanzibar plan", access_type="private", access_list=("amy@example.com",))])
    assert keyword_ids(store, "zanzibar") == []
    assert store.update_access(["slack:G1"], "all", []) == 1
    assert keyword_ids(store, "zanzibar") == ["slack:G1#0"]
    store.update_access(["slack:G1"], "private", ["amy@example.com"])
    assert keyword_ids(store, "zanzibar") == [] and keyword_ids(store, "zanzibar", user="amy@example.com") == ["slack:G1#0"]


def test_a_table_written_before_the_keyword_index_gets_one(tmp_path):
    uri = str(tmp_path / "old")
    old = LanceDBStore(uri)
    old.upsert([record("jira:A#0", [1.0, 0.0], text="legacy words")])
    table = old._open()
    for index in list(table.list_indices()):
        table.drop_index(index.name)
    assert keyword_ids(LanceDBStore(uri), "legacy") == ["jira:A#0"]  # found without the index (flat)
    LanceDBStore(uri).compact()
    assert {i.columns[0] for i in old._open().list_indices()} == {"title", "text", *lancedb_store.FILTER_INDEXES}
    assert keyword_ids(LanceDBStore(uri), "legacy") == ["jira:A#0"]


def test_hybrid_fuses_both_rankings_inside_the_filter(filtered):
    filtered.upsert([record("jira:apollo#0", [0.0, 0.0, 0.0, 1.0], text="Apollo launch checklist", projects=("APOLLO",))])
    hits = filtered.query([1.0, 0.0, 0.0, 0.0], top_k=10, flt=SearchFilter(projects=("APOLLO",)), text="apollo launch", mode="hybrid")
    # Only APOLLO chunks in either leg: by vector public (cosine 1), zeus (0.9 / sqrt(0.82)),
    # apollo (0, orthogonal), normalised to 1, 0.994, 0; by words apollo alone (1).
    # Fused w x words + (1 - w) x vector (w = KEYWORD_WEIGHT, 0.8): apollo w, public 1 - w,
    # zeus (1 - w) x 0.994.
    assert ids_of(hits) == ["jira:apollo#0", "slack:public#0", "jira:zeus#0"]
    w = KEYWORD_WEIGHT
    assert [h.score for h in hits] == pytest.approx([w, 1 - w, (1 - w) * 0.9 / 0.82**0.5], rel=1e-5)
    private = filtered.query([0.7, 0.3, 0.0, 0.0], top_k=10, text="some text", mode="hybrid")
    assert "slack:dm#0" not in ids_of(private)  # no user: public only, in both legs


def test_the_keyword_leg_counts_as_much_of_the_question_as_its_best_match_covers():
    best = [(9.0, {"id": "a", "title": "BC-7: Invoice PDF export times out", "text": "Exports of invoices time out."})]
    assert keyword_weight("BC-7", best) == KEYWORD_WEIGHT
    assert keyword_weight("invoice exports", best) == KEYWORD_WEIGHT  # plurals folded
    # Other words for it: only "invoice" of invoice / download / hang / forever (stop words aside).
    assert keyword_weight("why does the invoice download hang forever", best) == pytest.approx(
        KEYWORD_WEIGHT * 0.25**KEYWORD_COVERAGE_POWER
    )
    assert keyword_weight("anything", []) == KEYWORD_WEIGHT  # no keyword leg: nothing to scale


def test_hybrid_leans_on_meaning_when_the_words_match_only_in_passing(store):
    store.upsert(
        [
            record("jira:A#0", [1.0, 0.0], text="Partial refund button disabled"),  # the meaning
            record("jira:B#0", [0.0, 1.0], text="Greyed out wording in the money page"),  # two stray words
        ]
    )
    query = "the give money back button is greyed out"  # "button" aside, no word of A
    hits = store.query([0.9, 0.1], top_k=2, text=query, mode="hybrid")
    assert ids_of(hits) == ["jira:A#0", "jira:B#0"]


def test_fuse_scores_combines_normalised_scores_and_prefers_keyword_matches_on_ties():
    def rows(*scored):
        return [(score, {"id": i}) for i, score in scored]

    dense = rows(("a", 0.9), ("b", 0.8), ("c", 0.5))  # normalised 1, 0.75, 0
    keyword = rows(("c", 12.0), ("x", 2.0))  # normalised 1, 0: c's lead over x counts, not only its rank
    fused = fuse_scores(dense, keyword, keyword_weight=0.6)
    assert [row["id"] for _, row in fused] == ["c", "a", "b", "x"]
    assert [score for score, _ in fused] == pytest.approx([0.6, 0.4, 0.3, 0.0])
    # a (vector only) and z (words only) tie at 0.5, b and y at 0: the keyword match first each time.
    tie = fuse_scores(rows(("a", 0.9), ("b", 0.1)), rows(("z", 3.0), ("y", 1.0)), keyword_weight=0.5)
    assert [row["id"] for _, row in tie] == ["z", "a", "y", "b"]


@pytest.mark.parametrize(
    "query",
    [
        'title:foo AND (bar OR "baz',
        "*",
        "\x00\x07 zebra \ud800",
        "a" * 100_000,
        "🦓 zèbre ｚｅｂｒａ",
        "-NOT +must ~fuzzy^2 [1 TO 5]",
        "SELECT * FROM chunks; DROP TABLE chunks; --",
        "' OR 1=1 --",
    ],
)
def test_keyword_and_hybrid_never_raise_on_what_users_type(store, query):
    store.upsert([record("jira:Z#0", [1.0, 0.0], text="the zebra crossing")])
    for mode in ("keyword", "hybrid"):
        try:
            hits = store.query([1.0, 0.0], top_k=5, text=query, mode=mode)
        except ValueError as exc:
            assert mode == "keyword" and "no words" in str(exc)
            continue
        assert all(h.id == "jira:Z#0" for h in hits)
    assert store.count() == 1


def test_keyword_text_keeps_words_only():
    assert keyword_text('title:"SUBS-123" AND (refund*)') == "title SUBS 123 AND refund"
    assert keyword_text("ｚｅｂｒａ Zebra zebra_crossing") == "zebra crossing"
    assert len(keyword_text(" ".join(f"w{n}" for n in range(500))).split()) == 64
    assert keyword_text("x" * 41 + " ok") == "ok"  # longer than any indexed token
    with pytest.raises(ValueError, match="no words"):
        keyword_text(" -- ** !? ")


def test_modes_and_missing_inputs_are_refused(store):
    assert LanceDBStore.modes == SEARCH_MODES
    store.upsert([record("jira:A#0", [1.0, 0.0], text="words")])
    with pytest.raises(ValueError, match="needs a query vector"):
        store.query(None, top_k=5, text="words", mode="hybrid")
    with pytest.raises(ValueError, match="search mode"):
        store.query([1.0, 0.0], top_k=5, text="words", mode="sparse")


WRITER = """
import sys
from vector_sync.models import VectorRecord
from vector_sync.stores.lancedb import LanceDBStore
uri, name = sys.argv[1], sys.argv[2]
store = LanceDBStore(uri)
for batch in range(8):
    records = [
        VectorRecord(id=f"{key}:{n}#0", document_id=f"{key}:{n}", values=[1.0, n / 100.0, batch / 10.0],
                     text=name, metadata={"source": key})
        for key in (name, "shared") for n in range(25)
    ]
    store.upsert(records)
    store.delete([f"{name}:{batch}#0"])
"""


def test_concurrent_writers_in_separate_processes(tmp_path):
    """Three processes upsert the same 25 new ids at once: without the store's writer lock,
    Lance commits two inserts of one new id side by side (about one run in ten here)."""
    uri = str(tmp_path / "concurrent")
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, uri, name], stderr=subprocess.PIPE, text=True)
        for name in ("alpha", "beta", "gamma")
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err[-2000:]
    store = LanceDBStore(uri)
    # Each batch re-writes all 25 own ids, so only the last batch's delete sticks:
    # 3 writers x 24 own ids, plus the 25 shared ids all three wrote, each exactly once.
    ids = list(store.ids())
    assert len(ids) == len(set(ids)) == 3 * 24 + 25
    assert store.count("shared") == 25
    assert not {"alpha:7#0", "beta:7#0", "gamma:7#0"} & set(ids)
