"""OpenAI embeddings simulator: ``POST /openai/v1/embeddings``, as the ``openai`` SDK calls it.

A client's ``base_url`` is ``{sandbox}/openai/v1`` (the SDK appends ``/embeddings``). Behaviour
from api-facts.md and the vendor's OpenAPI cut (``vendor/openai/embeddings.openapi.json``):

- ``input``: a string, a list of strings, or token arrays; ``encoding_format`` ``float`` (the
  API's default) or ``base64`` (little-endian float32, what the Python SDK asks for by default).
- Limits, each a 400 ``invalid_request_error``: at most 2,048 inputs, no empty string, at most
  8,191 cl100k tokens per input and 300,000 per request; ``dimensions`` only for
  ``text-embedding-3-*`` and at most the model's native width.
- ``usage.prompt_tokens`` / ``total_tokens`` counted with cl100k_base (vector_sync.tokens).
- Vectors are deterministic and lexical (words hashed into signed buckets, tf-damped, plus a
  small dense part seeded by the text, L2-normalised): a search through the simulator still
  finds documents that share words with the query, every component is non-zero as in real
  embeddings (so upsert sizes are realistic), and it is cheap enough that benchmarks measure
  the client, not the simulator.
- Errors in OpenAI's shape ``{"error": {"message", "type", "param", "code"}}``: 401
  ``invalid_api_key``; 429 ``rate_limit_exceeded`` (type ``requests`` or ``tokens``) with
  ``retry-after`` and ``retry-after-ms`` when the sandbox's rate limiter or a 429 fault fires;
  429 ``insufficient_quota`` while :attr:`OpenAISimulator.quota_exhausted` is set.

The simulator's pick where the real behaviour is unconfirmed: an ``insufficient_quota`` 429
carries no ``x-should-retry`` header and no ``retry-after``. Public reports show the openai SDK
retrying such 429s (it retries every 429 unless told otherwise), so the real API evidently does
not send ``x-should-retry: false`` there; the client has to recognise the code itself.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
import zlib
from collections import deque
from functools import lru_cache
from typing import Any

import numpy as np

from sandbox.server import Request, Response, Simulator, route
from sandbox.workspace import Workspace
from vector_sync.tokens import OPENAI_MAX_INPUT_TOKENS, count_tokens

# Native widths; ``dimensions`` may shorten the text-embedding-3 ones.
MODEL_DIMENSIONS = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
}
MAX_INPUTS_PER_REQUEST = 2048
MAX_TOKENS_PER_REQUEST = 300_000
MAX_TOKENS_PER_INPUT = OPENAI_MAX_INPUT_TOKENS  # 8,192 cl100k tokens (CreateEmbeddingRequest.input)
# Request bodies kept for drift tests (each can be megabytes: keep few).
RECENT_REQUESTS = 8

_API_REFERENCE = "https://platform.openai.com/docs/api-reference."
QUOTA_MESSAGE = (
    "You exceeded your current quota, please check your plan and billing details. For more "
    "information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors."
)


def error_body(message: str, type_: str, code: str | None = None, param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


class OpenAISimulator(Simulator):
    """The embeddings endpoint; knobs: ``quota_exhausted``, ``rate_limit_type``."""

    name = "openai"

    def __init__(self, workspace: Workspace, **options: Any) -> None:
        super().__init__(workspace, **options)
        # True: every embeddings call answers 429 insufficient_quota (billing, not rate).
        self.quota_exhausted = bool(options.get("quota_exhausted", False))
        # Which limit a rate-limited 429 names: "requests" (RPM) or "tokens" (TPM).
        self.rate_limit_type = str(options.get("rate_limit_type", "requests"))
        self.requests: deque[dict[str, Any]] = deque(maxlen=RECENT_REQUESTS)
        self.inputs_served = 0
        self.tokens_served = 0

    @property
    def api_base(self) -> str:
        """What ``openai.OpenAI`` takes as ``base_url``."""
        return f"{self.sandbox.base_url(self.name)}/v1" if self.sandbox else "/v1"

    # -- the dialect hooks

    def authorize(self, request: Request) -> Response | None:
        key = request.bearer()
        if not key:
            return Response(
                401,
                error_body(
                    "You didn't provide an API key. You need to provide your API key in an Authorization header "
                    "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
                    "invalid_request_error",
                ),
            )
        if key != self.token:
            shown = f"{key[:3]}*****{key[-4:]}" if len(key) > 8 else "*****"
            return Response(
                401,
                error_body(
                    f"Incorrect API key provided: {shown}. You can find your API key at https://platform.openai.com/account/api-keys.",
                    "invalid_request_error",
                    "invalid_api_key",
                ),
            )
        return None

    def rate_limited(self, retry_after_s: int, request: Request) -> Response:
        unit = "tokens per min (TPM)" if self.rate_limit_type == "tokens" else "requests per min (RPM)"
        wait_ms = retry_after_s * 1000
        message = (
            f"Rate limit reached for {self._model_of(request)} in organization org-sandbox on {unit}: "
            f"Limit 3000, Used 3000, Requested 1. Please try again in {wait_ms}ms. "
            "Visit https://platform.openai.com/account/rate-limits to learn more."
        )
        headers = {
            "retry-after": str(retry_after_s),
            "retry-after-ms": str(wait_ms),
            f"x-ratelimit-remaining-{self.rate_limit_type}": "0",
            f"x-ratelimit-reset-{self.rate_limit_type}": f"{retry_after_s}s",
        }
        return Response(429, error_body(message, self.rate_limit_type, "rate_limit_exceeded"), headers)

    def error(self, status: int, message: str) -> Response:
        if status >= 500:
            return Response(status, error_body("The server had an error while processing your request. Sorry about that!", "server_error"))
        if status in (404, 405):
            return Response(status, error_body(f"Invalid URL ({message})", "invalid_request_error"))
        return Response(status, error_body(message, "invalid_request_error"))

    # -- the route

    @route("POST", r"/v1/embeddings")
    def embeddings(self, request: Request) -> Response:
        if self.quota_exhausted:
            return Response(429, error_body(QUOTA_MESSAGE, "insufficient_quota", "insufficient_quota"))
        try:
            body = request.json()
        except (ValueError, UnicodeDecodeError):
            return self._invalid(
                "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly.)"
            )
        if not isinstance(body, dict):
            return self._invalid(f"'$' is invalid. Please check the API reference: {_API_REFERENCE}")
        with self.lock:
            self.requests.append(body)
        model = body.get("model")
        if not isinstance(model, str) or not model:
            return self._invalid("you must provide a model parameter", param="model")
        if model not in MODEL_DIMENSIONS:
            return Response(
                404,
                error_body(
                    f"The model `{model}` does not exist or you do not have access to it.", "invalid_request_error", "model_not_found"
                ),
            )
        encoding = body.get("encoding_format", "float")
        if encoding not in ("float", "base64"):
            return self._invalid(f"'{encoding}' is not one of ['float', 'base64'] - 'encoding_format'", param="encoding_format")
        dims, problem = self._dimensions(model, body.get("dimensions"))
        if problem:
            return self._invalid(problem, param="dimensions")
        texts, token_counts, problem = self._inputs(body.get("input"))
        if problem:
            return problem
        total = sum(token_counts)
        if total > MAX_TOKENS_PER_REQUEST:
            return self._invalid(
                f"Requested {total} tokens, max {MAX_TOKENS_PER_REQUEST} tokens per request", code="max_tokens_per_request"
            )

        matrix = lexical_vectors(texts, dims)
        data = [{"object": "embedding", "index": i, "embedding": _encode(row, encoding)} for i, row in enumerate(matrix)]
        with self.lock:
            self.inputs_served += len(texts)
            self.tokens_served += total
        headers = {"x-request-id": f"req_{uuid.uuid4().hex}", "openai-model": model, "openai-processing-ms": "1"}
        return Response(
            200, {"object": "list", "data": data, "model": model, "usage": {"prompt_tokens": total, "total_tokens": total}}, headers
        )

    # -- helpers

    def _invalid(self, message: str, param: str | None = None, code: str | None = None) -> Response:
        return Response(400, error_body(message, "invalid_request_error", code, param))

    def _model_of(self, request: Request) -> str:
        try:
            return str(json.loads(request.body or b"{}").get("model") or "text-embedding-3-small")
        except (ValueError, AttributeError):
            return "text-embedding-3-small"

    @staticmethod
    def _dimensions(model: str, value: Any) -> tuple[int, str | None]:
        native = MODEL_DIMENSIONS[model]
        if value is None:
            return native, None
        if not model.startswith("text-embedding-3"):
            return native, "This model does not support specifying dimensions."
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= native:
            return native, f"Invalid value for 'dimensions' = {value}. Must be between 1 and {native}."
        return value, None

    def _inputs(self, raw: Any) -> tuple[list[str], list[int], Response | None]:
        """The inputs as texts (token arrays decoded) with their token counts, or a 400."""
        invalid = self._invalid(f"'$.input' is invalid. Please check the API reference: {_API_REFERENCE}", param="input")
        if isinstance(raw, str):
            raw = [raw]
        elif isinstance(raw, list) and raw and all(isinstance(t, int) and not isinstance(t, bool) for t in raw):
            raw = [raw]  # one token array
        if not isinstance(raw, list) or not raw:
            return [], [], invalid
        if len(raw) > MAX_INPUTS_PER_REQUEST:
            return (
                [],
                [],
                self._invalid(
                    f"Too many inputs. The max number of inputs is {MAX_INPUTS_PER_REQUEST}. We recommend sending your inputs in batches.",
                    param="input",
                ),
            )
        texts: list[str] = []
        counts: list[int] = []
        for item in raw:
            if isinstance(item, str):
                if not item:
                    return [], [], invalid
                tokens = count_tokens(item)
                text = item
            elif isinstance(item, list) and item and all(isinstance(t, int) and not isinstance(t, bool) for t in item):
                tokens = len(item)
                text = " ".join(map(str, item))
            else:
                return [], [], invalid
            if tokens > MAX_TOKENS_PER_INPUT:
                return (
                    [],
                    [],
                    self._invalid(
                        f"This model's maximum context length is {MAX_TOKENS_PER_INPUT} tokens, however you requested "
                        f"{tokens} tokens ({tokens} in your prompt; 0 for the completion). Please reduce your prompt; "
                        "or completion length."
                    ),
                )
            texts.append(text)
            counts.append(tokens)
        return texts, counts, None


_WORD = re.compile(r"\w+")
# Real embeddings have no zero components, and their JSON size (about 12 characters a value)
# decides how many vectors fit a 2 MB Pinecone upsert: every vector gets a dense component,
# seeded by its text, of this norm next to the unit lexical part.
DENSE_NOISE_NORM = 0.3
DENSE_ROWS = 1024  # texts share these dense parts by the crc32 of their text


def lexical_vectors(texts: list[str], dims: int) -> np.ndarray:
    """Unit float32 rows: each lower-cased word (crc32, stable across processes) adds
    ``±(1 + ln tf)`` to one of ``dims`` buckets, so shared words mean higher cosine; plus a
    small dense part seeded by the text (see DENSE_NOISE_NORM)."""
    lengths, hashes = [], []
    for text in texts:
        words = _WORD.findall(text.lower()) or [text]
        lengths.append(len(words))
        hashes.extend(zlib.crc32(word.encode("utf-8", "surrogatepass")) for word in words)
    rows = np.repeat(np.arange(len(texts), dtype=np.uint64), lengths)
    keys, counts = np.unique((rows << np.uint64(32)) | np.asarray(hashes, dtype=np.uint64), return_counts=True)
    row, word = (keys >> np.uint64(32)).astype(np.intp), keys & np.uint64(0xFFFFFFFF)
    signs = np.where(word & np.uint64(1 << 31), 1.0, -1.0)
    matrix = np.zeros((len(texts), dims), dtype=np.float64)
    np.add.at(matrix, (row, (word % np.uint64(dims)).astype(np.intp)), signs * (1.0 + np.log(counts)))
    norms = np.linalg.norm(matrix, axis=1)
    norms[norms == 0] = 1.0
    matrix /= norms[:, None]
    picks = [zlib.crc32(text.encode("utf-8", "surrogatepass")) % DENSE_ROWS for text in texts]
    matrix += _dense_rows(dims)[picks]
    return (matrix / np.linalg.norm(matrix, axis=1)[:, None]).astype("<f4")


@lru_cache(maxsize=4)
def _dense_rows(dims: int) -> np.ndarray:
    """DENSE_ROWS fixed random rows of norm DENSE_NOISE_NORM (same in every process)."""
    rows = np.random.default_rng(dims).standard_normal((DENSE_ROWS, dims))
    return DENSE_NOISE_NORM * rows / np.linalg.norm(rows, axis=1)[:, None]


def _encode(row: np.ndarray, encoding: str) -> Any:
    if encoding == "base64":
        return base64.b64encode(row.astype("<f4").tobytes()).decode("ascii")
    return row.tolist()
