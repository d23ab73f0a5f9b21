"""fetch_document's reassembly (vector_sync.mcp.documents): the chunker's own chunks of a
document read back in any order give its text again, title lines dropped, overlaps merged."""

from __future__ import annotations

import random
from contextlib import ExitStack
from datetime import datetime, timezone

import pytest

from vector_sync.chunking import chunk_document
from vector_sync.mcp.documents import reassemble
from vector_sync.mcp.tools import Index, Viewer
from vector_sync.models import Document, Hit, Segment
from vector_sync.stores.pinecone import PineconeStore

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


# ----------------------------------------------------------------------------- both stores


@pytest.fixture(params=["lancedb", "pinecone"])
def indexed(request, tmp_path, workspace):
    """A public document and a restricted one of several chunks, written to the store (LanceDB,
    or Pinecone through its SDK against the simulator) and the ledger as a sync writes them."""
    from types import SimpleNamespace

    from vector_sync.embedders.hashing import HashingEmbedder
    from vector_sync.models import VectorRecord
    from vector_sync.state import StateStore
    from vector_sync.state.ledger import LedgerWrite
    from vector_sync.stores.lancedb import LanceDBStore

    embedder = HashingEmbedder()
    state = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    state.migrate()
    public = document(sample_text(1, 3))
    restricted = Document(
        "slack:C9:1700000000.000100",
        "slack",
        "#subs-leads: annual plan pricing",
        sample_text(2, 30),
        "https://example.slack.com/archives/C9/p1700000000000100",
        datetime(2026, 11, 2, tzinfo=timezone.utc),
        access_type="private",
        access_list=("ana@example.com",),
    )
    with ExitStack() as stack:
        if request.param == "lancedb":
            store = LanceDBStore(str(tmp_path / "lancedb"))
        else:
            from pinecone import Pinecone

            from sandbox.pinecone import PineconeSimulator
            from sandbox.server import Sandbox
            from vector_sync.stores.pinecone import create_index

            box = stack.enter_context(Sandbox([PineconeSimulator(workspace)]))
            pc = Pinecone(api_key="sandbox-token", host=box.simulator("pinecone").control_url)
            store = PineconeStore(pc.Index(host=create_index(pc, "vs", embedder.dimensions)), namespace="test")
        for doc in (public, restricted):
            chunks = chunk_document(doc, max_tokens=64, overlap_tokens=16)
            vectors = embedder.embed([c.text for c in chunks])
            store.upsert([VectorRecord(c.id, doc.id, list(map(float, v)), c.text, c.metadata) for c, v in zip(chunks, vectors)])
            state.ledger.write(
                doc.source, [LedgerWrite(doc.id, "h", len(chunks), embedder.fingerprint, doc.updated_at)], [], [], doc.updated_at
            )
        backends = SimpleNamespace(state=state, store=store, embedder=embedder)
        yield SimpleNamespace(index=Index(lambda: backends, lambda: ("jira", "slack")), public=public, restricted=restricted)


def test_fetch_document_reads_through_either_store_under_the_access_rule(indexed):
    from mcp.server.mcpserver.exceptions import ToolError

    from vector_sync.mcp.tools import fetch_document

    secret = indexed.restricted
    got = fetch_document(indexed.index, Viewer("ana@example.com"), secret.id)
    assert got["text"] == secret.text and got["chunks"] > 3 and got["complete"] and got["access"] == "restricted"
    assert got["link"] == secret.url and got["title"] == secret.title
    for viewer in (Viewer("bob@example.com"), Viewer(None)):
        with pytest.raises(ToolError, match="no document"):
            fetch_document(indexed.index, viewer, secret.id)
    public = fetch_document(indexed.index, Viewer(None), indexed.public.id)
    assert public["text"] == indexed.public.text and public["access"] == "public"
