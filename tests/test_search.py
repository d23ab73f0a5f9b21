"""search(): chunk, embed and store for real, then query; and the snippet helper."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from vector_sync.chunking import chunk_document
from vector_sync.embedders.hashing import HashingEmbedder
from vector_sync.models import Document, SearchFilter, VectorRecord
from vector_sync.search import best_per_document, search, snippet
from vector_sync.stores.lancedb import LanceDBStore

UPDATED = datetime(2026, 11, 2, tzinfo=timezone.utc)


def doc(id: str, title: str, text: str, **kwargs) -> Document:
    return Document(id=id, source=id.split(":")[0], title=title, text=text, url=f"https://example.com/{id}", updated_at=UPDATED, **kwargs)


def index(store: LanceDBStore, embedder: HashingEmbedder, docs: list[Document], max_tokens: int = 64) -> None:
    chunks = [c for d in docs for c in chunk_document(d, max_tokens=max_tokens, overlap_tokens=8)]
    vectors = embedder.embed([c.text for c in chunks])
    store.upsert([VectorRecord(c.id, c.document_id, v, c.text, c.metadata) for c, v in zip(chunks, vectors)])


@pytest.fixture()
def setup(tmp_path):
    embedder = HashingEmbedder()
    store = LanceDBStore(str(tmp_path / "db"))
    # A long document whose every chunk mentions the deploy: it must still appear only once.
    runbook = " ".join(f"Step {n}: check the production deploy pipeline and the deploy logs." for n in range(200))
    index(
        store,
        embedder,
        [
            doc("notion:runbook", "Deploy runbook", runbook),
            doc("jira:OPS-1", "Deploy failed on Friday", "The production deploy failed on Friday night; rolled back."),
            doc("slack:C1-99", "#ops", "Friday deploy failed, looking into it.", access_type="private", access_list=("amy@example.com",)),
            doc("fireflies:m1", "Budget review", "We reviewed the quarterly budget and hiring plan."),
            doc("tempo:w1", "Worklog", "Invoice reconciliation for the finance team."),
        ],
    )
    return embedder, store


def test_search_returns_one_hit_per_document_best_first(setup):
    embedder, store = setup
    assert store.count("notion") > 40  # more than the 4 x top_k candidates asked first
    hits = search("deploy failed on friday", embedder, store, SearchFilter(user="amy@example.com"), top_k=3)
    assert [h.id.split("#")[0] for h in hits] == ["jira:OPS-1", "slack:C1-99", "notion:runbook"]
    assert hits[0].score >= hits[1].score >= hits[2].score
    assert len({h.metadata["document_id"] for h in hits}) == 3


def test_search_widens_when_one_document_floods_the_candidates(setup):
    embedder, store = setup
    hits = search("check the production deploy pipeline and the deploy logs", embedder, store, SearchFilter(all_access=True), top_k=5)
    assert hits[0].id.startswith("notion:runbook#")
    assert len(hits) == 5  # the runbook's many chunks did not crowd out the other documents
    assert len({h.metadata["document_id"] for h in hits}) == 5


def test_search_applies_the_filter(setup):
    embedder, store = setup
    hits = search("deploy failed on friday", embedder, store, SearchFilter(user="bob@example.com"), top_k=10)
    assert "slack:C1-99" not in {h.metadata["document_id"] for h in hits}
    assert "slack:C1-99" not in {h.metadata["document_id"] for h in search("deploy failed on friday", embedder, store, top_k=10)}
    hits = search("deploy failed", embedder, store, SearchFilter(sources=("jira",)), top_k=10)
    assert [h.metadata["document_id"] for h in hits] == ["jira:OPS-1"]


def test_search_on_an_empty_store(tmp_path):
    assert search("anything", HashingEmbedder(), LanceDBStore(str(tmp_path / "empty"))) == []


@pytest.mark.parametrize("query", ["", "   "])
def test_empty_query_is_refused(setup, query):
    embedder, store = setup
    with pytest.raises(ValueError):
        search(query, embedder, store)


def test_best_per_document_keeps_highest_score():
    from vector_sync.models import Hit

    def hit(id, score):
        return Hit(id=id, score=score, source="s", title="t", text="x", url="u", metadata={})

    best = best_per_document([hit("a:1#0", 0.5), hit("a:1#3", 0.9), hit("b:2#0", 0.7)])
    assert [(h.id, h.score) for h in best] == [("a:1#3", 0.9), ("b:2#0", 0.7)]


def test_snippet_windows_around_the_first_match_without_the_title():
    text = "Deploy runbook\n" + "Intro words here. " * 20 + "The ROLLBACK procedure starts with the pager. " + "Tail text. " * 20
    result = snippet(text, "how to rollback", width=80)
    assert "ROLLBACK procedure" in result
    assert result.startswith("…") and result.endswith("…")
    assert "Deploy runbook" not in result
    assert len(result) <= 82


def test_snippet_without_a_match_is_the_start():
    text = "Title\n" + "First sentence of the body. " * 20
    assert snippet(text, "zebra", width=60).startswith("First sentence of the body.")


def test_snippet_of_short_text_is_the_whole_body_on_one_line():
    assert snippet("Title\nshort\nbody", "body") == "short body"
    assert snippet("Title\nbody", "x", title="Title") == "body"
    assert snippet("No title line here", "x", title="") == "No title line here"
    assert snippet("Title", "x", title="Title") == ""
