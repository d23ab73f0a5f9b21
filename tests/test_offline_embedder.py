"""The offline semantic default (WordLlama l2_supercat): real model, no network, meaning over words."""

from __future__ import annotations

import socket
import tracemalloc
from datetime import timedelta

import numpy as np
import pytest

from tests.sourcekit import Backends, sandbox_settings
from vector_sync.embedders import weights, wordllama
from vector_sync.embedders.hashing import HashingEmbedder
from vector_sync.embedders.wordllama import WordLlamaEmbedder
from vector_sync.models import Window
from vector_sync.runtime import RuntimeConfig, build_embedder
from vector_sync.stores.lancedb import LanceDBStore

# (query, the text that answers it with no content word in common, an unrelated text)
PARAPHRASES = [
    ("money back to a client", "Partial refund button disabled", "Verify row counts after the migration"),
    ("customers billed twice for renewing", "Renewal reminder emails sent twice", "Legacy CSV export format"),
    ("old records moved to cheap long-term storage", "Move 2019 invoices to cold storage", "Seat-based pricing for team plans"),
    ("sales tax identifier check for Europe", "EU VAT ID validation", "Pause subscription for up to 3 months"),
]


@pytest.fixture(scope="module")
def embedder() -> WordLlamaEmbedder:
    return WordLlamaEmbedder()


@pytest.fixture()
def no_network(monkeypatch):
    """Any attempt to open a connection fails the test (and Hugging Face is told to stay offline)."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    attempts: list[object] = []

    def refuse(self, address, *args, **kwargs):
        attempts.append(address)
        raise AssertionError(f"the offline embedder tried to connect to {address}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", lambda address, *a, **k: refuse(None, address))
    yield attempts
    assert attempts == []


def test_identity_and_the_choice(embedder):
    assert (embedder.provider, embedder.model, embedder.dimensions) == ("wordllama", "l2_supercat+title", 256)
    assert embedder.fingerprint == "wordllama:l2_supercat+title:256" == wordllama.FINGERPRINT != HashingEmbedder().fingerprint
    assert embedder.usd_per_million_tokens == 0
    chosen = build_embedder(RuntimeConfig(state_url="sqlite://", staging_url="file:///tmp", embedder="wordllama"))
    assert isinstance(chosen, WordLlamaEmbedder)


@pytest.mark.parametrize("query, answer, unrelated", PARAPHRASES)
def test_a_paraphrase_scores_above_an_unrelated_text(embedder, query, answer, unrelated):
    q, a, u = embedder.embed_matrix([query, answer, unrelated])
    assert float(q @ a) > float(q @ u) + 0.2
    # The lexical embedder sees no shared word in the first pair: that is why this one is the default.
    if query == PARAPHRASES[0][0]:
        h = HashingEmbedder().embed_matrix([query, answer])
        assert float(h[0] @ h[1]) == 0.0


def test_the_title_line_of_a_long_chunk_still_counts(embedder):
    title = "Partial refund button disabled"
    body = "Status: In Progress. Steps: open the console, export the ledger, compare totals. " * 40
    query, chunk, plain = embedder.embed_matrix([title, f"{title}\n{body}", f"{body}\n{title}"])
    # Chunks start with their document's title line: it weighs as much as the 600 words after it.
    assert float(query @ chunk) > 0.7
    assert float(query @ chunk) > float(query @ plain) + 0.2


def test_vectors_are_unit_length_deterministic_and_batch_independent(embedder):
    texts = ["Invoice PDF export times out", "Grace period for failed card payments", "a"]
    together = embedder.embed_matrix(texts)
    assert together.dtype == np.float32 and together.shape == (3, 256)
    assert np.allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-5)
    for i, text in enumerate(texts):
        assert np.allclose(embedder.embed_matrix([text])[0], together[i], atol=1e-6)
    assert np.allclose(WordLlamaEmbedder().embed_matrix(texts), together)


@pytest.mark.parametrize("bad", ["", "   ", "\n\t"])
def test_empty_input_is_refused(embedder, bad):
    with pytest.raises(ValueError, match="empty"):
        embedder.embed_matrix(["fine", bad])
    with pytest.raises(TypeError):
        embedder.embed_matrix("a single string")


@pytest.mark.parametrize(
    "text",
    ["🙂🙂🙂", "日本語のテキストと العربية", "lone \ud800 surrogate", "ctrl\x00\x07chars\r\n", "\u200b\u200d", "ẞ" * 3],
)
def test_odd_unicode_gives_a_finite_unit_vector(embedder, text):
    (vector,) = embedder.embed_matrix([text])
    assert np.isfinite(vector).all()
    assert abs(float(np.linalg.norm(vector)) - 1.0) < 1e-5


def test_a_huge_text_is_embedded_in_bounded_memory(embedder):
    huge = "Proration on mid-cycle plan upgrades. " * 40_000  # 1.5 MB, ~300,000 tokens
    embedder.embed_matrix(["warm up"])
    before = embedder.tokens_used
    tracemalloc.start()
    try:
        (vector,) = embedder.embed_matrix([huge])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert embedder.tokens_used - before > 200_000
    # Token rows are summed in slices: padding the whole text at once would take ~300 MB.
    assert peak < 60 * 2**20, f"peak {peak / 2**20:.0f} MB"
    (short,) = embedder.embed_matrix(["Proration on mid-cycle plan upgrades."])
    assert float(vector @ short) > 0.95


def test_loads_and_embeds_with_the_network_blocked(no_network, monkeypatch):
    monkeypatch.setattr(wordllama, "_MODELS", {})  # load from the wheel again, under the guard
    query, answer, unrelated = WordLlamaEmbedder().embed_matrix(list(PARAPHRASES[0]))
    assert float(query @ answer) > float(query @ unrelated) + 0.2


def test_missing_weights_fail_instead_of_downloading(no_network, monkeypatch, tmp_path):
    import wordllama.wordllama as loader

    # Neither the package folder nor the cache folder holds the files now: the loader must
    # refuse (FileNotFoundError) rather than fetch them from a model hub.
    monkeypatch.setattr(wordllama, "_MODELS", {})
    monkeypatch.setattr(wordllama, "package_dir", lambda: tmp_path)
    monkeypatch.setattr(loader, "__file__", str(tmp_path / "wordllama.py"))
    with pytest.raises(FileNotFoundError, match="downloads are disabled"):
        WordLlamaEmbedder()


def test_a_switch_from_hashing_re_embeds_once(sandbox, workspace, monkeypatch, tmp_path):
    backends = Backends(tmp_path, sandbox_settings(monkeypatch, sandbox))
    window = Window(workspace.start - timedelta(hours=1), workspace.anchor)
    hashed = backends.run("jira", window)
    assert hashed["embedded"] == hashed["chunks"] > 0

    backends.embedder = WordLlamaEmbedder()  # same ledger: it holds the hashing fingerprint
    # LanceDB keeps one vector width per table and says so rather than mixing 384 and 256.
    with pytest.raises(ValueError, match="the embedder changed"):
        backends.run("jira", window)
    backends.store = LanceDBStore(str(tmp_path / "lancedb"), table="chunks_wordllama")
    switched = backends.run("jira", window)
    assert switched["fingerprint"] == "wordllama:l2_supercat+title:256"
    assert switched["embedded"] == switched["chunks"] == hashed["chunks"]
    again = backends.run("jira", window)
    assert again["embedded"] == 0 and again["upserted"] == 0


def test_the_mapped_weights_equal_the_safetensors_reading():
    from safetensors import safe_open

    path = wordllama.package_dir() / "weights" / "l2_supercat_256.safetensors"
    with safe_open(str(path), framework="np") as tensors:
        expected = tensors.get_tensor("embedding.weight")
    mapped = weights.map_tensor(path, "embedding.weight")
    assert mapped.shape == expected.shape == (32000, 256) and mapped.dtype == expected.dtype
    assert np.array_equal(np.asarray(mapped), expected)


def test_an_index_built_before_the_default_changed_keeps_its_embedder(monkeypatch, tmp_path):
    """Upgrading must not break an embedded index of hashing vectors: its embedder stays."""
    from vector_sync.models import VectorRecord
    from vector_sync.runtime import embedded_config

    monkeypatch.setenv("VECTOR_SYNC_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("VECTOR_SYNC_OFFLINE_EMBEDDER", raising=False)
    assert embedded_config().embedder == "minilm"  # a fresh data folder: the contextual default
    old = embedded_config().lancedb_uri
    vector = HashingEmbedder().embed(["Invoice PDF export times out"])[0]
    LanceDBStore(old).upsert([VectorRecord("jira:BC-1#0", "jira:BC-1", vector, "Invoice PDF export times out", {"source": "jira"})])
    config = embedded_config()
    assert config.embedder == "hashing"
    # ... and writing more of its vectors keeps working.
    assert build_embedder(config).dimensions == 384
