"""The OpenAI embeddings simulator against the vendor's OpenAPI cut and api-facts.md.

The cut (``vendor/openai/embeddings.openapi.json``) has the request and response schemas but no
error schema (its 429 refers to a response left out of the cut): errors are checked against the
documented shape ``{"error": {"message", "type", "param", "code"}}``. The schema types
``embedding`` as an array of numbers only, while the API answers a base64 string for
``encoding_format: base64``: that one field is relaxed for base64 answers.
"""

from __future__ import annotations

import base64
import copy
import json

import jsonschema
import numpy as np
import openai
import pytest
import requests

from sandbox.openai import MAX_INPUTS_PER_REQUEST, MAX_TOKENS_PER_INPUT, MAX_TOKENS_PER_REQUEST, OpenAISimulator
from sandbox.server import Fault, RateLimiter, Sandbox
from vector_sync.tokens import count_tokens

TOKEN = "sandbox-token"
ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["message", "type", "param", "code"],
            "properties": {
                "message": {"type": "string", "minLength": 1},
                "type": {"type": "string"},
                "param": {"type": ["string", "null"]},
                "code": {"type": ["string", "null"]},
            },
        }
    },
}
# About 8,000 cl100k tokens ("hello" and " hello" are one token each).
LONG_TEXT = "hello" + " hello" * 7999


@pytest.fixture(scope="module")
def spec(vendor_dir):
    return json.loads((vendor_dir / "openai" / "embeddings.openapi.json").read_text())


def validator(spec, name: str, base64_embeddings: bool = False) -> jsonschema.Draft7Validator:
    components = copy.deepcopy(spec["components"])
    if base64_embeddings:
        components["schemas"]["Embedding"]["properties"]["embedding"] = {"type": "string", "minLength": 1}
    return jsonschema.Draft7Validator({"$ref": f"#/components/schemas/{name}", "components": components})


def assert_valid(v: jsonschema.Draft7Validator, body) -> None:
    errors = sorted(v.iter_errors(body), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:10])


@pytest.fixture(scope="module")
def shared_box(workspace):
    with Sandbox([OpenAISimulator(workspace)]) as box:
        yield box


@pytest.fixture()
def box(shared_box, clean_slate):
    sim = clean_slate(shared_box).simulator("openai")
    sim.quota_exhausted = False
    sim.rate_limit_type = "requests"
    return shared_box


@pytest.fixture()
def sim(box) -> OpenAISimulator:
    return box.simulator("openai")


def post(box, body, key: str | None = TOKEN) -> requests.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return requests.post(f"{box.base_url('openai')}/v1/embeddings", json=body, headers=headers, timeout=30)


def assert_error(response: requests.Response, status: int, type_: str, code: str | None = None) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    jsonschema.validate(body, ERROR_SCHEMA)
    assert body["error"]["type"] == type_
    if code is not None:
        assert body["error"]["code"] == code
    return body["error"]


# --- shapes ------------------------------------------------------------------------------------


def test_float_response_matches_the_openapi_document(box, sim, spec):
    texts = ["The deploy failed again", "Quarterly billing console review"]
    response = post(box, {"model": "text-embedding-3-small", "input": texts, "encoding_format": "float"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert_valid(validator(spec, "CreateEmbeddingResponse"), body)
    assert [d["index"] for d in body["data"]] == [0, 1]
    vectors = np.asarray([d["embedding"] for d in body["data"]])
    assert vectors.shape == (2, 1536)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    tokens = sum(count_tokens(t) for t in texts)
    assert body["usage"] == {"prompt_tokens": tokens, "total_tokens": tokens}
    assert body["model"] == "text-embedding-3-small"


def test_sdk_requests_match_the_openapi_document(box, sim, spec):
    client = openai.OpenAI(api_key=TOKEN, base_url=sim.api_base, max_retries=0)
    client.embeddings.create(model="text-embedding-3-small", input=["one", "two"], dimensions=256)
    client.embeddings.create(model="text-embedding-3-small", input="single", encoding_format="float")
    for body in list(sim.requests)[-2:]:
        assert_valid(validator(spec, "CreateEmbeddingRequest"), body)
    # The SDK asks for base64 unless told otherwise (api-facts.md).
    assert list(sim.requests)[-2]["encoding_format"] == "base64"


def test_base64_is_little_endian_float32_of_the_same_vectors(box, spec):
    texts = ["ticket SUBS-12 renewal", "ünïcödé and emoji 🚀"]
    floats = post(box, {"model": "text-embedding-3-small", "input": texts, "encoding_format": "float"}).json()
    encoded = post(box, {"model": "text-embedding-3-small", "input": texts, "encoding_format": "base64"}).json()
    assert_valid(validator(spec, "CreateEmbeddingResponse", base64_embeddings=True), encoded)
    for f, b in zip(floats["data"], encoded["data"]):
        decoded = np.frombuffer(base64.b64decode(b["embedding"]), dtype="<f4")
        assert np.array_equal(decoded, np.asarray(f["embedding"], dtype="<f4"))


def test_vectors_are_deterministic_lexical_and_sized(box):
    def embed(texts, **extra):
        body = post(box, {"model": "text-embedding-3-small", "input": texts, "encoding_format": "float", **extra}).json()
        return np.asarray([d["embedding"] for d in body["data"]])

    first = embed(["the deploy failed", "the deploy failed again", "lunch menu for friday"])
    assert np.array_equal(first, embed(["the deploy failed", "the deploy failed again", "lunch menu for friday"]))
    assert first[0] @ first[1] > first[0] @ first[2]  # shared words score higher
    assert embed(["short"], dimensions=256).shape == (1, 256)
    large = post(box, {"model": "text-embedding-3-large", "input": "x", "encoding_format": "float"}).json()
    assert len(large["data"][0]["embedding"]) == 3072


def test_token_array_inputs_are_accepted(box):
    body = post(box, {"model": "text-embedding-3-small", "input": [[15339, 1917], [15339]], "encoding_format": "float"}).json()
    assert len(body["data"]) == 2 and body["usage"]["total_tokens"] == 3


# --- limits ------------------------------------------------------------------------------------


def test_too_many_inputs(box):
    error = assert_error(
        post(box, {"model": "text-embedding-3-small", "input": ["x"] * (MAX_INPUTS_PER_REQUEST + 1)}), 400, "invalid_request_error"
    )
    assert "2048" in error["message"]
    assert (
        post(box, {"model": "text-embedding-3-small", "input": ["x"] * MAX_INPUTS_PER_REQUEST, "encoding_format": "base64"}).status_code
        == 200
    )


def test_empty_string_and_empty_list(box):
    assert_error(post(box, {"model": "text-embedding-3-small", "input": ["ok", ""]}), 400, "invalid_request_error")
    assert_error(post(box, {"model": "text-embedding-3-small", "input": []}), 400, "invalid_request_error")


def test_input_over_the_token_limit(box):
    too_long = LONG_TEXT + " hello" * 200
    assert count_tokens(too_long) > MAX_TOKENS_PER_INPUT
    error = assert_error(post(box, {"model": "text-embedding-3-small", "input": [too_long]}), 400, "invalid_request_error")
    assert "maximum context length" in error["message"]
    assert post(box, {"model": "text-embedding-3-small", "input": [LONG_TEXT]}).status_code == 200


def test_the_token_limit_is_the_specs_8192(box, vendor_dir):
    """CreateEmbeddingRequest.input: "must not exceed the max input tokens for the model (8192
    tokens for all embedding models)". Exactly 8,192 token ids pass; 8,193 do not."""
    spec = (vendor_dir / "openai" / "embeddings.openapi.json").read_text()
    assert "8192 tokens for all embedding models" in spec and MAX_TOKENS_PER_INPUT == 8192
    assert post(box, {"model": "text-embedding-3-small", "input": [[100] * 8192]}).status_code == 200
    too_long = post(box, {"model": "text-embedding-3-small", "input": [[100] * 8193]})
    assert "maximum context length is 8192 tokens" in assert_error(too_long, 400, "invalid_request_error")["message"]


def test_request_over_the_token_cap(box):
    inputs = [LONG_TEXT] * 38  # 38 x 8,000 = 304,000 tokens
    assert sum(map(count_tokens, inputs)) > MAX_TOKENS_PER_REQUEST
    error = assert_error(
        post(box, {"model": "text-embedding-3-small", "input": inputs}), 400, "invalid_request_error", "max_tokens_per_request"
    )
    assert "300000" in error["message"]
    assert post(box, {"model": "text-embedding-3-small", "input": inputs[:37]}).status_code == 200


def test_dimensions_only_for_text_embedding_3(box):
    assert_error(post(box, {"model": "text-embedding-ada-002", "input": "x", "dimensions": 256}), 400, "invalid_request_error")
    assert_error(post(box, {"model": "text-embedding-3-small", "input": "x", "dimensions": 4096}), 400, "invalid_request_error")


def test_unknown_model(box):
    assert_error(post(box, {"model": "text-embedding-9", "input": "x"}), 404, "invalid_request_error", "model_not_found")


# --- credentials, rate limits, quota -----------------------------------------------------------


def test_bad_and_missing_key(box):
    error = assert_error(
        post(box, {"model": "text-embedding-3-small", "input": "x"}, key="sk-wrong-key-1234"),
        401,
        "invalid_request_error",
        "invalid_api_key",
    )
    assert "sk-wrong-key-1234" not in error["message"]  # the key is masked
    assert_error(post(box, {"model": "text-embedding-3-small", "input": "x"}, key=None), 401, "invalid_request_error")


def test_rate_limited_answers_carry_retry_after(box, sim):
    box.rate_limits["openai"] = RateLimiter(rate=1, per_s=60, burst=1)
    assert post(box, {"model": "text-embedding-3-small", "input": "x"}).status_code == 200
    response = post(box, {"model": "text-embedding-3-small", "input": "x"})
    error = assert_error(response, 429, "requests", "rate_limit_exceeded")
    assert "Rate limit reached for text-embedding-3-small" in error["message"]
    assert int(response.headers["retry-after"]) >= 1
    assert int(response.headers["retry-after-ms"]) == 1000 * int(response.headers["retry-after"])
    assert response.headers["x-ratelimit-remaining-requests"] == "0"
    assert "x-should-retry" not in response.headers
    sim.rate_limit_type = "tokens"
    assert_error(post(box, {"model": "text-embedding-3-small", "input": "x"}), 429, "tokens", "rate_limit_exceeded")


def test_sdk_retries_an_injected_429_and_5xx(box, sim):
    client = openai.OpenAI(api_key=TOKEN, base_url=sim.api_base, max_retries=2)
    box.faults.add(Fault(api="openai", kind="status", status=429, times=1, retry_after_s=1))
    box.faults.add(Fault(api="openai", kind="status", status=500, times=1))
    result = client.embeddings.create(model="text-embedding-3-small", input=["x"])
    assert len(result.data[0].embedding) == 1536
    assert box.log.status_count("openai", 429) == 1 and box.log.status_count("openai", 500) == 1


def test_insufficient_quota(box, sim):
    sim.quota_exhausted = True
    response = post(box, {"model": "text-embedding-3-small", "input": "x"})
    error = assert_error(response, 429, "insufficient_quota", "insufficient_quota")
    assert "exceeded your current quota" in error["message"]
    # No retry hints: like the real API, nothing tells a client not to retry but the code.
    assert "retry-after" not in response.headers and "x-should-retry" not in response.headers
    # So a plain SDK client retries it (the behaviour public reports show); the embedder must not.
    box.log.reset()
    with pytest.raises(openai.RateLimitError):
        openai.OpenAI(api_key=TOKEN, base_url=sim.api_base, max_retries=1).embeddings.create(model="text-embedding-3-small", input=["x"])
    assert box.log.count("openai") == 2
