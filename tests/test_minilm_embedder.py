"""The offline contextual embedder (all-MiniLM-L6-v2 run with NumPy): the reference model's
numbers, meaning over words, long texts read whole, no network, bounded memory."""

from __future__ import annotations

import json
import socket
import tracemalloc
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest

from vector_sync.embedders import minilm
from vector_sync.embedders.minilm import MiniLMEmbedder
from vector_sync.runtime import RuntimeConfig, build_embedder

REFERENCE = Path(__file__).parent / "fixtures" / "minilm_reference.json"

# (question, the text that answers it in other words, an unrelated text from the same workspace)
PARAPHRASES = [
    (
        "how do we charge customers who switch plans mid-cycle",
        "Proration on mid-cycle plan upgrades",
        "Verify row counts after the migration",
    ),
    ("money back to a client", "Partial refund button disabled", "Legacy CSV export format"),
    ("what do I do when I'm paged at night", "On-call runbook: first response to an alert", "Seat-based pricing for team plans"),
    ("old records moved to cheap long-term storage", "Move 2019 invoices to cold storage", "Pause subscription for up to 3 months"),
]


@pytest.fixture(scope="module")
def embedder() -> MiniLMEmbedder:
    return MiniLMEmbedder()


def test_the_forward_pass_equals_the_reference_implementation(embedder):
    """tests/fixtures/minilm_reference.json was written by sentence-transformers 6.3 on torch
    2.13 (CPU) from the same wheel: the NumPy forward pass must give its vectors."""
    reference = json.loads(REFERENCE.read_text())
    ours = embedder._encode(reference["texts"])
    theirs = np.asarray(reference["vectors"], dtype=np.float32)
    assert ours.shape == theirs.shape == (len(reference["texts"]), 384)
    assert np.abs(ours - theirs).max() < 1e-5
    assert (ours * theirs).sum(axis=1).min() > 0.99999


def test_identity(embedder):
    assert embedder.fingerprint == "minilm:all-MiniLM-L6-v2+title:384" == minilm.FINGERPRINT
    assert embedder.usd_per_million_tokens == 0
    assert isinstance(build_embedder(RuntimeConfig(state_url="", staging_url="", embedder="minilm")), MiniLMEmbedder)


@pytest.mark.parametrize("question, answer, unrelated", PARAPHRASES)
def test_a_paraphrase_is_near_and_an_unrelated_text_is_far(embedder, question, answer, unrelated):
    q, a, u = embedder.embed_matrix([question, answer, unrelated])
    assert float(q @ a) > float(q @ u) + 0.1


def test_the_tail_of_a_long_chunk_counts(embedder):
    """A chunk longer than the model's 256 pieces is read in windows: what its end says moves
    its vector (a model truncating at 256 would give both texts the same vector)."""
    opening = "Billing sync notes\n" + "We reviewed the nightly invoice totals and the reconciliation report. " * 30
    about_keys = opening + "Finally, the TLS certificates for the payment gateway expire on Friday and must be renewed."
    about_lunch = opening + "Finally, the team lunch moves to the Italian place on the corner next week."
    vectors = embedder.embed_matrix([about_keys, about_lunch, "when do the payment gateway certificates expire"])
    assert float(vectors[0] @ vectors[1]) < 0.999
    assert float(vectors[2] @ vectors[0]) > float(vectors[2] @ vectors[1])


def test_vectors_are_unit_length_and_batch_independent(embedder):
    texts = ["Invoice PDF export times out", "BC-22", "Notes\nshort body", "x " * 600]
    together = embedder.embed_matrix(texts)
    alone = np.vstack([embedder.embed_matrix([t]) for t in texts])
    assert together.dtype == np.float32
    assert np.allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-5)
    assert np.abs(together - alone).max() < 1e-5


@pytest.mark.parametrize("bad", ["", "   \n\t"])
def test_empty_input_is_refused(embedder, bad):
    with pytest.raises(ValueError, match="empty text"):
        embedder.embed_matrix(["fine", bad])
    with pytest.raises(TypeError):
        embedder.embed_matrix("a single string")


@pytest.mark.parametrize("text", ["🚀🚀🚀", "\u200b\u200bzero width", "東京の会議メモ", "\x00control\x07chars", "ｆｕｌｌ ｗｉｄｔｈ"])
def test_odd_unicode_gives_a_finite_unit_vector(embedder, text):
    vector = embedder.embed_matrix([text])[0]
    assert np.isfinite(vector).all() and abs(float(np.linalg.norm(vector)) - 1.0) < 1e-5


def test_many_long_texts_are_embedded_in_bounded_memory(embedder):
    """Windows are batched by padded positions, not by texts: 12 chunks of ~600 pieces peak
    well under the task's 500 MB."""
    texts = [f"Chunk {i}\n" + "reconciliation of the ledger entries for the quarter " * 70 for i in range(12)]
    tracemalloc.start()
    try:
        embedder.embed_matrix(texts)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 200 * 1024 * 1024


def test_loads_and_embeds_with_the_network_blocked(monkeypatch):
    def refuse(self, address, *args, **kwargs):
        raise AssertionError(f"the offline embedder tried to connect to {address}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(minilm, "_MODEL", {})  # load again, from the wheel's files
    vector = MiniLMEmbedder().embed_matrix(["offline"])[0]
    assert abs(float(np.linalg.norm(vector)) - 1.0) < 1e-5


def test_a_missing_model_package_fails_instead_of_downloading(monkeypatch, tmp_path):
    monkeypatch.setattr(minilm, "_MODEL", {})
    monkeypatch.setattr(minilm, "model_dir", lambda: tmp_path / "absent")
    with pytest.raises(FileNotFoundError):
        MiniLMEmbedder()


def test_a_new_embedded_index_uses_minilm_and_an_old_one_keeps_its_embedder(monkeypatch, tmp_path):
    """MiniLM and the hashing embedder are both 384 wide: the ledger's fingerprint tells which
    built a table; a table with no ledger entry predates MiniLM and is the hashing embedder's."""
    from vector_sync.embedders.hashing import HashingEmbedder
    from vector_sync.models import VectorRecord
    from vector_sync.runtime import build_state, embedded_config
    from vector_sync.state.ledger import LedgerWrite
    from vector_sync.stores.lancedb import LanceDBStore

    monkeypatch.delenv("VECTOR_SYNC_OFFLINE_EMBEDDER")
    monkeypatch.setenv("VECTOR_SYNC_DATA_DIR", str(tmp_path))
    config = embedded_config()
    assert config.embedder == "minilm"
    vector = HashingEmbedder().embed(["Invoice PDF export times out"])[0]
    LanceDBStore(config.lancedb_uri).upsert([VectorRecord("jira:BC-1#0", "jira:BC-1", vector, "Invoice", {"source": "jira"})])
    assert embedded_config().embedder == "hashing"  # no ledger: an index from before MiniLM
    state = build_state(config)
    state.ledger.write(
        "jira", [LedgerWrite("jira:BC-1", "h", 1, "minilm:all-MiniLM-L6-v2+title:384", None)], [], [], datetime.now(timezone.utc)
    )
    assert embedded_config().embedder == "minilm"
    monkeypatch.setenv("VECTOR_SYNC_OFFLINE_EMBEDDER", "nosuch")
    with pytest.raises(ValueError, match="VECTOR_SYNC_OFFLINE_EMBEDDER='nosuch': use one of minilm, wordllama, hashing"):
        embedded_config()


def test_the_default_syncs_and_finds_a_paraphrase(sandbox, workspace, monkeypatch, tmp_path):
    """The product's default end to end: a Jira sync embeds with MiniLM, a second run embeds 0,
    and a question sharing no content word with its answer finds it (hybrid search)."""
    from datetime import timedelta

    from tests.sourcekit import Backends, default_embedder, sandbox_settings
    from vector_sync.models import SearchFilter, Window
    from vector_sync.search import search

    monkeypatch.delenv("VECTOR_SYNC_OFFLINE_EMBEDDER")
    backends = Backends(tmp_path, sandbox_settings(monkeypatch, sandbox), embedder=default_embedder())
    window = Window(workspace.start - timedelta(hours=1), workspace.anchor)
    first = backends.run("jira", window)
    assert first["fingerprint"] == "minilm:all-MiniLM-L6-v2+title:384"
    assert first["embedded"] == first["chunks"] > 0
    assert backends.run("jira", window)["embedded"] == 0
    hits = search(
        "get what we paid out into a spreadsheet",
        backends.embedder,
        backends.store,
        SearchFilter(all_access=True),
        top_k=5,
    )
    assert "Export payouts to CSV" in hits[0].title, [hit.title for hit in hits]
