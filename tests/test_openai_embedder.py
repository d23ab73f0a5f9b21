"""OpenAIEmbedder through the real openai SDK against the sandbox's OpenAI simulator."""

from __future__ import annotations

import time

import openai
import pytest

from sandbox.openai import OpenAISimulator
from sandbox.server import Fault, Sandbox
from vector_sync.embedders.base import pack_requests
from vector_sync.embedders.openai import MAX_BATCH_INPUTS, MAX_BATCH_TOKENS, OpenAIEmbedder, make_client, prepare_client
from vector_sync.errors import CredentialsError, FatalError
from vector_sync.tokens import count_tokens

TOKEN = "sandbox-token"
LONG_TEXT = "hello" + " hello" * 7999  # about 8,000 tokens


@pytest.fixture(scope="module")
def shared_box(workspace):
    with Sandbox([OpenAISimulator(workspace)]) as box:
        yield box


@pytest.fixture()
def box(shared_box, clean_slate):
    clean_slate(shared_box).simulator("openai").quota_exhausted = False
    return shared_box


@pytest.fixture()
def sim(box) -> OpenAISimulator:
    return box.simulator("openai")


@pytest.fixture()
def embedder(sim) -> OpenAIEmbedder:
    return OpenAIEmbedder(make_client(sim.api_base, TOKEN, max_retries=2))


def embed_packed(embedder: OpenAIEmbedder, texts: list[str]) -> list[list[float]]:
    """What pipeline.embed does: pack by the embedder's limits, one embed call per request."""
    vectors: list[list[float]] = []
    for request in pack_requests(texts, count_tokens, embedder.max_batch_inputs, embedder.max_batch_tokens):
        vectors.extend(embedder.embed(request))
    return vectors


def test_identity_and_cost(sim):
    embedder = OpenAIEmbedder(make_client(sim.api_base, TOKEN))
    assert (embedder.provider, embedder.model, embedder.dimensions) == ("openai", "text-embedding-3-small", 1536)
    assert embedder.fingerprint == "openai:text-embedding-3-small:1536"
    assert embedder.usd_per_million_tokens == 0.02
    assert (embedder.max_batch_inputs, embedder.max_batch_tokens) == (MAX_BATCH_INPUTS, MAX_BATCH_TOKENS)
    assert embedder.cost_usd(2_000_000) == pytest.approx(0.04)
    assert OpenAIEmbedder(make_client(sim.api_base, TOKEN), dimensions=256).fingerprint == "openai:text-embedding-3-small:256"
    with pytest.raises(ValueError, match="fixed width"):
        OpenAIEmbedder(make_client(sim.api_base, TOKEN), model="text-embedding-ada-002", dimensions=256)


def test_embed_is_one_request_with_usage(embedder, box, sim):
    vectors = embedder.embed(["the deploy failed", "billing console"])
    assert len(vectors) == 2 and all(len(v) == 1536 for v in vectors)
    assert embedder.requests_made == 1 and box.log.count("openai") == 1
    assert embedder.tokens_used == count_tokens("the deploy failed") + count_tokens("billing console")
    assert sim.requests[-1]["encoding_format"] == "base64" and sim.requests[-1]["dimensions"] == 1536


def test_dimensions_are_sent_only_to_text_embedding_3(sim):
    short = OpenAIEmbedder(make_client(sim.api_base, TOKEN), dimensions=256)
    assert len(short.embed(["x"])[0]) == 256
    ada = OpenAIEmbedder(make_client(sim.api_base, TOKEN), model="text-embedding-ada-002")
    assert len(ada.embed(["x"])[0]) == 1536
    assert "dimensions" not in sim.requests[-1]


def test_2049_inputs_take_two_requests(embedder, box):
    texts = [f"item {i}" for i in range(2049)]
    vectors = embed_packed(embedder, texts)
    assert len(vectors) == 2049
    assert embedder.requests_made == 2 and box.log.count("openai", path="/v1/embeddings") == 2
    # Order is kept across requests.
    assert vectors[2048] == embedder.embed(["item 2048"])[0]


def test_the_300k_token_cap_splits_requests(embedder, box):
    texts = [LONG_TEXT] * 40  # 40 x 8,000 = 320,000 tokens, fewer than 2,048 inputs
    assert sum(map(count_tokens, texts)) > MAX_BATCH_TOKENS
    assert len(embed_packed(embedder, texts)) == 40
    assert embedder.requests_made == 2 and box.log.count("openai") == 2
    assert box.log.status_count("openai", 400) == 0


def test_an_input_of_exactly_8192_tokens_is_embedded(embedder, box):
    text = "hello" + " hello" * 8191
    assert count_tokens(text) == 8192  # OpenAI's limit per input, which it accepts
    assert len(embedder.embed([text])) == 1 and box.log.status_count("openai", 400) == 0
    with pytest.raises(ValueError, match="8193 tokens"):
        embedder.embed([text + " hello"])


def test_bad_inputs_are_refused_before_sending(embedder, box):
    with pytest.raises(ValueError, match="empty"):
        embedder.embed(["fine", ""])
    with pytest.raises(ValueError, match="8192"):
        embedder.embed([LONG_TEXT + " hello" * 500])
    with pytest.raises(ValueError, match="pack_requests"):
        embedder.embed(["x"] * 2049)
    with pytest.raises(TypeError):
        embedder.embed("not a list")
    assert box.log.count("openai") == 0 and embedder.requests_made == 0
    assert embedder.embed([]) == []


def test_a_request_over_the_token_cap_is_a_fatal_error(embedder, box):
    # Packing keeps requests under 300,000 tokens; an unpacked one is refused by the API (one
    # request, nothing charged) rather than tokenized twice here.
    with pytest.raises(FatalError, match="max 300000 tokens per request"):
        embedder.embed([LONG_TEXT] * 40)
    assert box.log.count("openai") == 1 and box.log.status_count("openai", 400) == 1


def test_rate_limit_is_retried_by_the_sdk_honouring_retry_after(embedder, box):
    box.faults.add(Fault(api="openai", kind="status", status=429, times=1, retry_after_s=1))
    started = time.monotonic()
    assert len(embedder.embed(["x"])) == 1
    assert time.monotonic() - started >= 0.9  # retry-after-ms: 1000
    assert box.log.status_count("openai", 429) == 1 and box.log.count("openai") == 2
    assert embedder.requests_made == 1


def test_server_errors_are_retried(embedder, box):
    box.faults.add(Fault(api="openai", kind="status", status=503, times=1, retry_after_s=0))
    assert len(embedder.embed(["x"])) == 1
    assert box.log.count("openai") == 2


def test_rate_limit_beyond_the_retries_is_left_for_airflow(box, sim):
    embedder = OpenAIEmbedder(make_client(sim.api_base, TOKEN, max_retries=0))
    box.faults.add(Fault(api="openai", kind="status", status=429, times=1, retry_after_s=1))
    with pytest.raises(openai.RateLimitError):  # not a FatalError: a later try can succeed
        embedder.embed(["x"])


def test_insufficient_quota_fails_fast_with_one_request(embedder, box, sim):
    sim.quota_exhausted = True
    with pytest.raises(FatalError, match="quota exhausted for connection 'openai_default'") as failure:
        embedder.embed(["x"])
    assert not isinstance(failure.value, CredentialsError)
    assert box.log.count("openai") == 1


def test_a_client_from_the_hook_is_made_quota_aware(box, sim):
    # OpenAIHook builds a plain client (default retries): the embedder adds the quota hook.
    plain = openai.OpenAI(api_key=TOKEN, base_url=sim.api_base, max_retries=3)
    embedder = OpenAIEmbedder(plain)
    assert embedder.client is not plain and prepare_client(embedder.client) is embedder.client
    assert embedder.client.max_retries == 3
    sim.quota_exhausted = True
    with pytest.raises(FatalError, match="quota"):
        embedder.embed(["x"])
    assert box.log.count("openai") == 1


def test_rejected_key_fails_fast(box, sim):
    embedder = OpenAIEmbedder(make_client(sim.api_base, "sk-not-the-key"), conn_id="openai_prod")
    with pytest.raises(CredentialsError, match="openai_prod") as failure:
        embedder.embed(["x"])
    assert "sk-not-the-key" not in str(failure.value)
    assert box.log.count("openai") == 1


def test_missing_client_is_a_configuration_error():
    with pytest.raises(FatalError, match="openai_default"):
        OpenAIEmbedder(None)  # type: ignore[arg-type]
