"""fetch_document's reassembly (vector_sync.mcp.documents): the chunker's own chunks of a
document read back in any order give its text again, title lines dropped, overlaps merged."""

from __future__ import annotations

import random
from datetime import datetime, timezone

import pytest

from vector_sync.chunking import chunk_document
from vector_sync.mcp.documents import reassemble
from vector_sync.models import Document, Hit, Segment

# Work prose has a large vocabulary: a few hundred words (a handful of them repeated at a chunk
# boundary for 24 characters would read as an overlap, see MIN_OVERLAP_CHARS).
WORDS = [
    f"{stem}{suffix}"
    for stem in "invoice dunning schedule renewal proration refund webhook retry export ledger plan upgrade customer".split()
    for suffix in ("", "s", "ed", "ing", "er", "al", "ly", "ion", "ment", "ness", "ive", "able", "ful", "ist", "ish")
]


def sample_text(seed: int, paragraphs: int) -> str:
    rng = random.Random(seed)
    return "\n\n".join(
        " ".join(
            ". ".join(" ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 14))).capitalize() for _ in range(rng.randint(2, 6))).split()
        )
        + "."
        for _ in range(paragraphs)
    )


def hits_of(doc: Document, **chunking) -> list[Hit]:
    chunks = chunk_document(doc, **chunking)
    hits = [Hit(c.id, 1.0, doc.source, doc.title, c.text, doc.url, dict(c.metadata)) for c in chunks]
    random.Random(7).shuffle(hits)  # the store answers in score order, not document order
    return hits


def document(text: str = "", segments: tuple[Segment, ...] = (), title: str = "SUBS-7 Dunning schedule review") -> Document:
    return Document(
        "jira:SUBS-7",
        "jira",
        title,
        text,
        "https://jira.example.com/browse/SUBS-7",
        datetime(2026, 11, 1, tzinfo=timezone.utc),
        segments=segments,
    )


@pytest.mark.parametrize("max_tokens, overlap", [(64, 16), (128, 32), (512, 64), (48, 0)])
def test_long_text_comes_back_whole(max_tokens, overlap):
    text = sample_text(max_tokens, paragraphs=12)
    hits = hits_of(document(text), max_tokens=max_tokens, overlap_tokens=overlap)
    assert len(hits) > 1 or max_tokens == 512
    got = reassemble(hits)
    if overlap:
        assert got == text  # cut at paragraph or sentence bounds, overlaps merged exactly
    else:
        assert " ".join(got.split()) == " ".join(text.split())  # no overlap: joined at the cuts


def test_segments_come_back_in_order():
    turns = tuple(Segment(f"Speaker {i % 3}: {sample_text(i, 1)}", {"start_time": i * 30}) for i in range(40))
    doc = document("\n".join(s.text for s in turns), segments=turns)
    got = reassemble(hits_of(doc, max_tokens=96))
    assert " ".join(got.split()) == " ".join(doc.text.split())


def test_title_only_and_untitled_documents():
    assert reassemble(hits_of(document("", title="Only a title"))) == ""
    assert reassemble(hits_of(document("Body without a title line.", title=""))) == "Body without a title line."
