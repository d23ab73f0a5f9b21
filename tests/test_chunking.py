"""The token-aware chunker: budgets, boundaries, ids, metadata and hostile input."""

from __future__ import annotations

import random
import time
from datetime import datetime, timezone

import pytest

from vector_sync.chunking import chunk_document
from vector_sync.models import Document, Segment
from vector_sync.tokens import OPENAI_MAX_INPUT_TOKENS, count_tokens, decode, encode, sanitize

UPDATED = datetime(2026, 11, 2, 9, 30, tzinfo=timezone.utc)
WORDS = "deploy release budget incident customer meeting roadmap latency invoice migration".split()


def make_doc(text: str = "", title: str = "Weekly sync", segments: tuple[Segment, ...] = (), **kwargs) -> Document:
    fields = dict(
        id="notion:page-1",
        source="notion",
        title=title,
        text=text,
        url="https://example.com/page-1",
        updated_at=UPDATED,
        projects=("APOLLO",),
        access_type="all",
        access_list=(),
        metadata={},
        segments=segments,
    )
    fields.update(kwargs)
    return Document(**fields)


def sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


def paragraphs(count: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(sentence(rng, rng.randint(4, 14)) for _ in range(rng.randint(2, 6))) for _ in range(count)]


def assert_within(chunks, limit: int) -> None:
    assert chunks
    for chunk in chunks:
        assert chunk.tokens == count_tokens(chunk.text)
        assert chunk.tokens <= limit, (chunk.id, chunk.tokens)


def test_tokens_round_trip_and_count():
    text = "Deploy window moved to Friday 🚀 — مرحبا"
    assert decode(encode(text)) == text
    assert count_tokens(text) == len(encode(text))
    assert count_tokens("") == 0
    # Special-token strings are ordinary text, as the embeddings API treats them.
    assert count_tokens("<|endoftext|>") > 1


def test_short_document_is_one_chunk_with_title_line():
    chunks = chunk_document(make_doc("The deploy moved to Friday."), max_tokens=512, overlap_tokens=64)
    assert [c.id for c in chunks] == ["notion:page-1#0"]
    assert chunks[0].text == "Weekly sync\nThe deploy moved to Friday."
    assert chunks[0].index == 0 and chunks[0].document_id == "notion:page-1"


def test_every_chunk_starts_with_title_and_ids_are_stable():
    doc = make_doc("\n\n".join(paragraphs(60)))
    first = chunk_document(doc, max_tokens=120, overlap_tokens=20)
    second = chunk_document(doc, max_tokens=120, overlap_tokens=20)
    assert len(first) > 5
    assert [c.id for c in first] == [f"notion:page-1#{n}" for n in range(len(first))]
    assert [(c.id, c.text, c.metadata) for c in first] == [(c.id, c.text, c.metadata) for c in second]
    assert all(c.text.startswith("Weekly sync\n") for c in first)
    assert [c.metadata["chunk_index"] for c in first] == list(range(len(first)))
    assert_within(first, 120)


def test_cuts_fall_on_paragraph_boundaries_when_possible():
    paras = paragraphs(40)
    doc = make_doc("\n\n".join(paras))
    chunks = chunk_document(doc, max_tokens=200, overlap_tokens=0)
    assert_within(chunks, 200)
    for chunk in chunks:
        body = chunk.text.split("\n", 1)[1]
        assert all(part in paras for part in body.split("\n\n")), body[:80]
    # Nothing lost, nothing repeated without overlap.
    assert [p for c in chunks for p in c.text.split("\n", 1)[1].split("\n\n")] == paras


def test_overlap_repeats_the_end_of_the_previous_chunk():
    text = " ".join(sentence(random.Random(i), 12) for i in range(200))  # one long paragraph
    chunks = chunk_document(make_doc(text), max_tokens=150, overlap_tokens=30)
    assert_within(chunks, 150)
    for previous, current in zip(chunks, chunks[1:]):
        head = current.text.split("\n", 1)[1][:40]
        assert head in previous.text, head
        # Overlaps begin at a sentence start here (every sentence is short).
        assert head[0].isupper()


def test_long_unbroken_text_is_cut_by_tokens():
    text = "x" * 5000 + "莫" * 3000 + "🙂" * 2000
    chunks = chunk_document(make_doc(text), max_tokens=64, overlap_tokens=8)
    assert_within(chunks, 64)
    assert "\ufffd" not in "".join(c.text for c in chunks)  # never cut inside a character


@pytest.mark.parametrize("max_tokens", [8, 16, 33, 100, 512, 2000])
def test_token_limit_never_exceeded(max_tokens):
    rng = random.Random(max_tokens)
    pieces = [
        "\n\n".join(paragraphs(30, seed=max_tokens)),
        "https://example.com/" + "a/b?c=d&" * 400,
        "表" * 1500 + " naïve café " * 100,
        "\n".join("    " + "🙂 " * rng.randint(1, 30) for _ in range(100)),
        "<|endoftext|> " * 200,
    ]
    doc = make_doc("\n\n".join(pieces), title="A title with several words in it " * 3)
    chunks = chunk_document(doc, max_tokens=max_tokens, overlap_tokens=max_tokens // 4)
    assert_within(chunks, max_tokens)
    assert all(c.text.split("\n", 1)[0] for c in chunks)  # the (shortened) title line is kept


def test_budget_is_capped_at_openai_input_limit():
    text = "\n\n".join(paragraphs(900))
    assert count_tokens(text) > 3 * OPENAI_MAX_INPUT_TOKENS
    chunks = chunk_document(make_doc(text), max_tokens=100_000, overlap_tokens=0)
    assert len(chunks) >= 3
    assert_within(chunks, OPENAI_MAX_INPUT_TOKENS)


def test_segments_are_packed_whole_with_first_segment_metadata():
    rng = random.Random(3)
    turns = tuple(
        Segment(f"Speaker {i % 3}: {sentence(rng, rng.randint(5, 40))}", {"start_time": float(i * 15), "speaker": f"s{i % 3}"})
        for i in range(40)
    )
    doc = make_doc("ignored when segments exist", title="Standup", segments=turns, source="fireflies", id="fireflies:m1")
    chunks = chunk_document(doc, max_tokens=150, overlap_tokens=20)
    assert_within(chunks, 150)
    assert len(chunks) > 3
    by_text = {t.text: t for t in turns}
    seen = []
    for chunk in chunks:
        title, body = chunk.text.split("\n", 1)
        assert title == "Standup"
        parts = body.split("\n\n")
        assert all(p in by_text for p in parts)  # only whole turns
        assert chunk.metadata["start_time"] == by_text[parts[0]].metadata["start_time"]
        assert chunk.metadata["speaker"] == by_text[parts[0]].metadata["speaker"]
        seen.extend(parts)
    assert seen == [t.text for t in turns]  # in order, each exactly once


def test_oversized_segment_is_split_with_its_metadata():
    long_turn = " ".join(sentence(random.Random(i), 10) for i in range(120))
    turns = (
        Segment("Amy: Quick hello.", {"start_time": 0.0}),
        Segment(f"Bob: {long_turn}", {"start_time": 12.5}),
        Segment("Amy: Thanks, bye.", {"start_time": 600.0}),
    )
    chunks = chunk_document(make_doc(segments=turns, title="Demo call"), max_tokens=100, overlap_tokens=15)
    assert_within(chunks, 100)
    starts = [c.metadata["start_time"] for c in chunks]
    assert starts[0] == 0.0 and starts[-1] == 600.0
    assert starts.count(12.5) >= 5
    assert chunks[0].text == "Demo call\nAmy: Quick hello."
    assert chunks[-1].text == "Demo call\nAmy: Thanks, bye."


def test_chunk_metadata_is_flat_and_complete():
    doc = make_doc(
        "Budget review notes.",
        access_type="private",
        access_list=("Amy@Example.com", "bob@example.com"),
        projects=("APOLLO", "ZEUS"),
        metadata={"author": "amy", "empty": None, "score": 1.5, "flags": ("a", "b"), "nan": float("nan"), "source": "evil"},
    )
    (chunk,) = chunk_document(doc, max_tokens=512, overlap_tokens=0)
    md = chunk.metadata
    assert md["source"] == "notion" and md["document_id"] == "notion:page-1"
    assert md["title"] == "Weekly sync" and md["url"] == "https://example.com/page-1"
    assert md["projects"] == ["APOLLO", "ZEUS"]
    assert md["access_type"] == "private" and md["access_list"] == ["amy@example.com", "bob@example.com"]
    assert md["timestamp_epoch"] == int(UPDATED.timestamp())  # falls back to updated_at
    assert md["author"] == "amy" and md["score"] == 1.5 and md["flags"] == ["a", "b"]
    assert "empty" not in md and "nan" not in md
    for value in md.values():
        assert isinstance(value, (str, int, float, bool)) or (isinstance(value, list) and all(isinstance(v, str) for v in value))


def test_timestamp_epoch_from_metadata_wins_and_segments_cannot_override_reserved_keys():
    doc = make_doc(
        segments=(Segment("Section text.", {"heading": "Intro", "document_id": "forged", "timestamp_epoch": 1}),),
        metadata={"timestamp_epoch": 1_700_000_000},
    )
    (chunk,) = chunk_document(doc, max_tokens=512, overlap_tokens=0)
    assert chunk.metadata["heading"] == "Intro"
    assert chunk.metadata["document_id"] == "notion:page-1"
    assert chunk.metadata["timestamp_epoch"] == 1_700_000_000


@pytest.mark.parametrize("text", ["", "   \n\t  ", "\x00\x00"])
def test_empty_text_gives_only_a_title_chunk(text):
    chunks = chunk_document(make_doc(text), max_tokens=64, overlap_tokens=8)
    assert [(c.id, c.text) for c in chunks] == [("notion:page-1#0", "Weekly sync")]
    assert chunks[0].tokens == count_tokens("Weekly sync")


def test_empty_segments_count_as_empty_text():
    chunks = chunk_document(make_doc(segments=(Segment("  "), Segment(""))), max_tokens=64, overlap_tokens=8)
    assert [c.text for c in chunks] == ["Weekly sync"]


def test_no_text_and_no_title_gives_no_chunks():
    assert chunk_document(make_doc("  ", title=" "), max_tokens=64, overlap_tokens=8) == []


def test_untitled_document_has_no_blank_first_line():
    (chunk,) = chunk_document(make_doc("Just text.", title=""), max_tokens=64, overlap_tokens=8)
    assert chunk.text == "Just text."


def test_multiline_title_becomes_one_line():
    (chunk,) = chunk_document(make_doc("Body.", title="Line one\nline two"), max_tokens=64, overlap_tokens=8)
    assert chunk.text == "Line one line two\nBody."


def test_one_megabyte_text_chunks_fast_and_completely():
    paras = paragraphs(4000, seed=11)
    text = "\n\n".join(paras)
    while len(text) < 1_000_000:
        text += "\n\n" + text[:200_000]
    started = time.perf_counter()
    chunks = chunk_document(make_doc(text), max_tokens=512, overlap_tokens=64)
    elapsed = time.perf_counter() - started
    assert elapsed < 10, f"1 MB took {elapsed:.1f}s"
    assert_within(chunks, 512)
    bodies = [c.text.split("\n", 1)[1] for c in chunks]
    assert bodies[0].startswith(paras[0]) and text.rstrip().endswith(bodies[-1][-200:])


@pytest.mark.parametrize(
    "text",
    [
        "lone \ud800 surrogate and \udfff another",
        "nul \x00 byte and bell \x07 and escape \x1b[31m",
        "emoji 👩‍💻🚀 and flags 🇩🇪 " * 50,
        "RTL عربي עברית \u202e reversed \u202c mixed",
        "combining e\u0301 and zero\u200bwidth",
        "pair written as halves \ud83d\ude00",
    ],
)
def test_odd_unicode_does_not_crash(text):
    doc = make_doc(text * 20, title="T\ud800itle\x00")
    chunks = chunk_document(doc, max_tokens=32, overlap_tokens=8)
    assert_within(chunks, 32)
    for chunk in chunks:
        chunk.text.encode("utf-8")  # no lone surrogates left
        assert "\x00" not in chunk.text
        assert chunk.text.startswith("T\ufffditle\n")
        chunk.content_hash()


def test_sanitize_joins_surrogate_halves_and_strips_controls():
    assert sanitize("a\ud83d\ude00b") == "a😀b"
    assert sanitize("a\ud800b") == "a\ufffdb"
    assert sanitize("a\x00b\r\nc\td") == "ab\nc\td"


@pytest.mark.parametrize("max_tokens,overlap", [(4, 0), (512, -1)])
def test_invalid_budgets_are_refused(max_tokens, overlap):
    with pytest.raises(ValueError):
        chunk_document(make_doc("text"), max_tokens=max_tokens, overlap_tokens=overlap)
