"""The offline lexical embedder: deterministic, normalised, lexical, never NaN."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from vector_sync.embedders.hashing import HashingEmbedder

TEXTS = [
    "Weekly sync\nThe deploy to production failed on Friday night",
    "Ünïcödé wörds, 日本語のテキスト, عربي and emoji 🚀",
    "🙂🙂🙂",
    "a",
]


def cosine(a, b) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_identity():
    embedder = HashingEmbedder()
    assert (embedder.provider, embedder.model, embedder.dimensions) == ("hashing", "lexical-v1", 384)
    assert embedder.fingerprint == "hashing:lexical-v1:384"
    assert embedder.usd_per_million_tokens == 0
    assert HashingEmbedder(dimensions=64).fingerprint == "hashing:lexical-v1:64"


def test_deterministic_across_processes():
    here = HashingEmbedder().embed(TEXTS)
    script = (
        "import json, sys\n"
        "from vector_sync.embedders.hashing import HashingEmbedder\n"
        "print(json.dumps(HashingEmbedder().embed(json.loads(sys.stdin.read()))))\n"
    )
    # A different str-hash seed proves Python's randomised hash() plays no part.
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    result = subprocess.run([sys.executable, "-c", script], input=json.dumps(TEXTS), capture_output=True, text=True, env=env, check=True)
    assert json.loads(result.stdout) == here


def test_vectors_are_unit_length_and_finite():
    vectors = np.array(HashingEmbedder(dimensions=128).embed(TEXTS))
    assert vectors.shape == (len(TEXTS), 128)
    assert np.isfinite(vectors).all()
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_similar_texts_score_higher_than_unrelated():
    query, near, far = HashingEmbedder().embed(
        [
            "deploy failed on friday",
            "The production deploy failed again on Friday night",
            "Quarterly budget review with the finance team",
        ]
    )
    assert cosine(query, near) > 0.3
    assert cosine(query, near) > cosine(query, far) + 0.2


def test_case_and_punctuation_do_not_matter():
    a, b = HashingEmbedder().embed(["Deploy FAILED!", "deploy failed"])
    assert cosine(a, b) == pytest.approx(1.0)


def test_same_text_same_vector_regardless_of_batch():
    embedder = HashingEmbedder()
    alone = embedder.embed([TEXTS[0]])[0]
    batched = embedder.embed(TEXTS)[0]
    assert alone == batched


@pytest.mark.parametrize("bad", ["", "   ", "\n\t"])
def test_empty_input_is_refused(bad):
    with pytest.raises(ValueError):
        HashingEmbedder().embed(["fine", bad])


def test_a_single_string_is_refused():
    with pytest.raises(TypeError):
        HashingEmbedder().embed("not a list")  # type: ignore[arg-type]


def test_counts_tokens_and_requests():
    embedder = HashingEmbedder()
    embedder.embed(["one two three", "four"])
    embedder.embed(["five"])
    assert embedder.requests_made == 2
    assert embedder.tokens_used > 0
    assert embedder.cost_usd(embedder.tokens_used) == 0


def test_odd_unicode_is_embedded():
    (vector,) = HashingEmbedder().embed(["lone \ud800 surrogate \x00 nul"])
    assert np.isfinite(vector).all() and np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-5)


def test_chosen_by_name_not_by_default():
    from vector_sync.runtime import RuntimeConfig, build_embedder

    config = RuntimeConfig(state_url="sqlite://", staging_url="file:///tmp", embedder="hashing", hashing_dimensions=128)
    embedder = build_embedder(config)
    assert isinstance(embedder, HashingEmbedder) and embedder.fingerprint == "hashing:lexical-v1:128"
    assert RuntimeConfig(state_url="sqlite://", staging_url="file:///tmp").embedder == "wordllama"


def test_a_paraphrase_without_shared_words_is_invisible():
    # Why it is no longer the default: meaning without shared words scores exactly nothing.
    query, answer = HashingEmbedder().embed(["money back to a client", "Partial refund button disabled"])
    assert cosine(query, answer) == 0.0
