"""BM25 sparse vectors (vector_sync.sparse) and their collection statistics in the state DB
(vector_sync.state.bm25), on SQLite and PostgreSQL."""

from __future__ import annotations

import math
import random
import threading
from collections import Counter

import pytest

from tests.statekit import backend, pg_database, store  # noqa: F401 - fixtures
from vector_sync.sparse import (
    IDENTITY_BOOST,
    K1,
    MAX_NONZERO,
    TITLE_FIELD,
    B,
    CollectionStats,
    count_terms,
    document_vector,
    dot,
    identity_index,
    idf,
    query_field_terms,
    query_terms,
    query_vector,
    term_index,
    terms,
)

# --- the encoder ---------------------------------------------------------------------------


def bm25(query: str, doc: str, corpus: list[str]) -> float:
    """Textbook BM25 (Robertson; Lucene's idf), computed from the raw corpus."""
    docs = [Counter(terms(d)) for d in corpus]
    avgdl = sum(sum(d.values()) for d in docs) / len(docs)
    tf = Counter(terms(doc))
    score = 0.0
    for term in set(terms(query)):
        df = sum(1 for d in docs if term in d)
        weight = math.log(1 + (len(docs) - df + 0.5) / (df + 0.5))
        f = tf[term]
        score += weight * f * (K1 + 1) / (f + K1 * (1 - B + B * sum(tf.values()) / avgdl))
    return score


CORPUS = [
    "Invoice PDF export times out for large accounts",
    "Checkout redesign: new payment form and invoice preview",
    "Weekly sync notes: invoice invoice invoice backlog grooming",
    "Proration on mid-cycle plan upgrades",
    "Runbook step 12: restart the export worker when ERR_PDF_TIMEOUT shows",
]


def encode(corpus: list[str]) -> tuple[list, dict[int, int], CollectionStats]:
    counts = [count_terms(d) for d in corpus]
    df = Counter(i for c in counts for i in c.frequencies)
    stats = CollectionStats(len(counts), sum(c.length for c in counts))
    return [document_vector(c, stats.average_length) for c in counts], df, stats


@pytest.mark.parametrize("query", ["invoice export", "ERR_PDF_TIMEOUT", "plan upgrades proration", "invoice"])
def test_dot_product_is_bm25_up_to_a_constant_per_query(query):
    docs, df, stats = encode(CORPUS)
    indices = query_terms(query)
    q = query_vector(indices, df, stats.chunk_count)
    idf_sum = sum(idf(df.get(i, 0), stats.chunk_count) for i in indices)
    for text, vector in zip(CORPUS, docs):
        assert dot(q, vector) * idf_sum * (K1 + 1) == pytest.approx(bm25(query, text, CORPUS), rel=1e-9, abs=1e-12)


def test_idf_rewards_rare_terms_and_is_never_negative():
    assert idf(1, 1000) > idf(10, 1000) > idf(500, 1000) > idf(1000, 1000) > 0
    assert idf(0, 0) == pytest.approx(math.log(2))
    docs, df, stats = encode(CORPUS)
    q = query_vector(query_terms("invoice proration"), df, stats.chunk_count)
    weights = dict(zip(q.indices, q.values))
    assert weights[term_index("proration")] > weights[term_index("invoice")]  # 1 chunk vs 3
    assert sum(q.values) == pytest.approx(1.0)


def test_term_frequency_saturates_and_long_chunks_weigh_less():
    weight = lambda text, avgdl=10.0: dict(zip(*document_vector(count_terms(text), avgdl)))[term_index("invoice")]  # noqa: E731
    once, twice, ten = weight("invoice a1 a2 a3 a4"), weight("invoice invoice a2 a3 a4"), weight(" ".join(["invoice"] * 10))
    assert once < twice < ten < 1.0
    assert twice / once < 2 and ten / once < 3  # saturation: ten mentions are not ten times one
    long = "invoice " + " ".join(f"w{i}" for i in range(40))
    assert weight(long) < once  # the same single mention in a chunk four times the average length
    assert all(0 < v < 1 for v in document_vector(count_terms(CORPUS[2]), 8.0).values)


def test_identifiers_are_terms_of_their_own_and_their_parts():
    assert terms("Fix SUBS-123 now") == ["fix", "subs-123", "subs", "123", "now"]
    assert terms("ERR_PDF_TIMEOUT in invoice.pdf v2.3.1") == [
        "err_pdf_timeout",
        "err",
        "pdf",
        "timeout",
        "invoice.pdf",
        "invoice",
        "pdf",
        "v2.3.1",
        "v2",
        "3",
        "1",
    ]
    assert terms("https://example.com/browse/SUBS-123.") == ["https", "example.com", "example", "com", "browse", "subs-123", "subs", "123"]
    docs, df, stats = encode(["SUBS-123 checkout broken", "SUBS-12 and 3 more subs issues", "SUBS-1234 checkout"])
    q = query_vector(query_terms("SUBS-123"), df, stats.chunk_count)
    scores = [dot(q, d) for d in docs]
    assert scores[0] == max(scores) and scores[0] > 2 * max(scores[1:])


def test_titles_and_identities_are_fields_without_length_normalisation():
    short = count_terms("SUBS-123 logged 2h", identity="4201", title="Worklog on SUBS-123")
    long = count_terms(
        "SUBS-123 Invoice PDF export times out " + "details " * 200, identity="SUBS-123", title="SUBS-123 Invoice PDF export times out"
    )
    issue_id, title_term = identity_index("subs-123"), term_index(TITLE_FIELD + "invoice")
    assert issue_id in long.fields and issue_id in long.frequencies and issue_id not in short.frequencies
    assert title_term in long.fields and long.length == len(terms("SUBS-123 Invoice PDF export times out " + "details " * 200))
    weights = dict(zip(*document_vector(long, 10.0)))
    assert weights[issue_id] == weights[title_term] == pytest.approx(1 / (1 + K1))  # b = 0: not shrunk by the length
    assert weights[term_index("invoice")] < 1 / (1 + K1)  # the body term is
    fields = query_field_terms("ＳＵＢＳ-123 invoice")
    assert fields[identity_index("SUBS-123")] == IDENTITY_BOOST and fields[term_index(TITLE_FIELD + "invoice")] == 1.0
    assert identity_index("") is None


def test_odd_unicode():
    assert terms("ＳＵＢＳ－１２３") == terms("SUBS-123")  # fullwidth forms: NFKC
    assert terms("cafe\u0301") == terms("café") == ["café"]  # decomposed and composed
    assert terms("STRASSE") == terms("straße")  # case folding, not just lower()
    assert terms("bad \ud800 surrogate") == ["bad", "surrogate"]  # a lone surrogate is no crash
    assert terms("🚀🔥 — … \u200b\u200d") == []  # emoji, punctuation, zero-width characters
    assert terms("请求超时 error") == ["请", "求", "超", "时", "error"]  # unspaced scripts per character
    assert terms("x" * 65 + " ok") == ["ok"]  # not a word anyone types
    assert term_index("subs-123") == 3907028539  # stable across processes and releases
    assert all(0 <= term_index(t) < 2**32 for t in terms("ünïcödé 日本 العربية ελληνικά"))


def test_empty_text():
    assert terms("") == [] and terms("the of and") == []  # stop words only
    assert count_terms("").length == 0 and document_vector(count_terms(""), 10.0) is None
    assert query_terms("") == [] and query_vector([], {}, 10) is None


def test_at_most_1000_non_zeros_sorted_and_unique():
    text = " ".join(f"w{i}" for i in range(1500)) + " w7 w7 w7"
    vector = document_vector(count_terms(text), 1500.0)
    assert len(vector.indices) == MAX_NONZERO == len(vector.values)
    assert vector.indices == sorted(set(vector.indices))
    assert term_index("w7") in vector.indices  # the most frequent term is kept
    assert len(query_vector(list(range(1500)), {}, 10).indices) == MAX_NONZERO


# --- the statistics ----------------------------------------------------------------------------


def recount(chunks: dict[str, str]) -> tuple[CollectionStats, Counter]:
    """The statistics recomputed from scratch: what the incremental ones must equal."""
    counts = [count_terms(t) for t in chunks.values()]
    return CollectionStats(len(counts), sum(c.length for c in counts)), Counter(i for c in counts for i in c.frequencies)


def assert_matches(repo, collection: str, chunks: dict[str, str]) -> None:
    expected, df = recount(chunks)
    assert repo.stats(collection) == expected
    vocabulary = {term_index(t) for t in terms(" ".join(CORPUS + ["brand new words here"]))}
    assert repo.document_frequencies(collection, vocabulary) == {t: n for t, n in df.items() if t in vocabulary}


def test_upsert_reupsert_and_delete_keep_exact_counts(store):
    repo, held = store.bm25, {}

    def write(**texts):
        held.update(texts)
        return repo.apply("idx/ns", written={k: count_terms(v) for k, v in texts.items()})

    after = write(a=CORPUS[0], b=CORPUS[1], c=CORPUS[2])
    assert after == repo.stats("idx/ns") and after.chunk_count == 3
    assert_matches(repo, "idx/ns", held)
    write(a=CORPUS[0])  # re-upserted unchanged (a retried task): nothing counted twice
    assert_matches(repo, "idx/ns", held)
    write(b="brand new words here")  # re-upserted changed: the old terms leave
    assert_matches(repo, "idx/ns", held)
    assert repo.document_frequencies("idx/ns", [term_index("checkout")]) == {}
    repo.apply("idx/ns", deleted=["c", "never-written"])
    del held["c"]
    assert_matches(repo, "idx/ns", held)
    repo.apply("idx/ns", deleted=["c"])  # a retried delete
    assert_matches(repo, "idx/ns", held)
    assert repo.stats("other/ns") == CollectionStats()  # collections are apart
    repo.apply("idx/ns", deleted=list(held))
    assert repo.stats("idx/ns") == CollectionStats()
    assert repo.document_frequencies("idx/ns", {term_index(t) for t in terms(" ".join(CORPUS))}) == {}


def test_random_operations_equal_a_recount(store):
    rng = random.Random(17)
    words = [f"w{i}" for i in range(60)] + ["SUBS-123", "invoice", "ERR_PDF_TIMEOUT"]
    held: dict[str, str] = {}
    for _ in range(40):
        written = {f"c{rng.randrange(30)}": " ".join(rng.choices(words, k=rng.randrange(1, 30))) for _ in range(rng.randrange(0, 6))}
        deleted = [f"c{rng.randrange(30)}" for _ in range(rng.randrange(0, 4))]
        store.bm25.apply("r", written={k: count_terms(v) for k, v in written.items()}, deleted=deleted)
        for chunk_id in deleted:
            if chunk_id not in written:
                held.pop(chunk_id, None)
        held.update(written)
    expected, df = recount(held)
    assert store.bm25.stats("r") == expected
    assert store.bm25.document_frequencies("r", {term_index(t) for w in words for t in terms(w)}) == dict(df)


def test_concurrent_writers_lose_no_increment(backend):
    with backend.store() as first:
        first.migrate()
    texts = {f"t{n}:c{i}": f"shared words SUBS-{i} chunk {n}" for n in range(4) for i in range(25)}
    errors = []

    def writer(n: int) -> None:
        try:
            with backend.store() as state:
                for i in range(25):
                    state.bm25.apply("shared", written={f"t{n}:c{i}": count_terms(texts[f"t{n}:c{i}"])})
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    with backend.store() as state:
        expected, df = recount(texts)
        assert state.bm25.stats("shared") == expected
        assert state.bm25.document_frequencies("shared", [term_index("shared"), term_index("subs-3")]) == {
            term_index("shared"): 100,
            term_index("subs-3"): 4,
        }
