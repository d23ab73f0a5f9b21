"""OpenAI embeddings (production): one ``embeddings.create`` request per ``embed`` call.

The pipeline packs requests with ``pack_requests`` up to the API's limits; ``embed`` still
refuses what the API would refuse per input (an empty string, an input over 8,191 tokens, more
than 2,048 inputs) before sending anything: OpenAI never truncates silently and neither do we.

Retries belong to the SDK: it retries 408/409/429/5xx honouring ``retry-after(-ms)``. One 429 must
not be retried: ``insufficient_quota`` (billing), which the API sends with no ``x-should-retry``
header, so the SDK would retry it like a rate limit. :func:`quota_aware_http_client` adds a
response hook that marks such a response ``x-should-retry: false``, the header the SDK's own retry
decision obeys; then ``embed`` turns it into a :class:`FatalError` after exactly one request.
"""

from __future__ import annotations

import base64
import weakref
from collections.abc import Sequence
from typing import Any

import numpy as np
import openai

from vector_sync.embedders.base import OPENAI_USD_PER_MILLION_TOKENS, Embedder
from vector_sync.errors import CredentialsError, FatalError
from vector_sync.tokens import OPENAI_MAX_INPUT_TOKENS, count_tokens

DEFAULT_MODEL = "text-embedding-3-small"
# Native widths; only text-embedding-3 models accept ``dimensions`` to shorten them.
MODEL_DIMENSIONS = {"text-embedding-3-small": 1536, "text-embedding-3-large": 3072, "text-embedding-ada-002": 1536}
# Per request: at most 2,048 inputs and 300,000 tokens; per input at most 8,191 tokens.
MAX_BATCH_INPUTS = 2048
MAX_BATCH_TOKENS = 300_000
MAX_INPUT_TOKENS = OPENAI_MAX_INPUT_TOKENS
# The SDK's retry budget for 429 rate limits and 5xx, each wait honouring retry-after(-ms).
DEFAULT_MAX_RETRIES = 5
DEFAULT_TIMEOUT_S = 60.0
QUOTA_CODE = "insufficient_quota"

# Clients whose HTTP client already carries the quota hook (built here), so none is wrapped twice.
_PREPARED: weakref.WeakSet[Any] = weakref.WeakSet()


def _mark_quota_not_retryable(response: Any) -> None:
    """httpx response hook: an ``insufficient_quota`` 429 gets ``x-should-retry: false``."""
    if response.status_code != 429 or "x-should-retry" in response.headers:
        return
    response.read()  # small JSON error body; the SDK reads the same buffered content later
    try:
        error = response.json().get("error") or {}
    except (ValueError, AttributeError):
        return
    if isinstance(error, dict) and QUOTA_CODE in (error.get("code"), error.get("type")):
        response.headers["x-should-retry"] = "false"


def quota_aware_http_client(**kwargs: Any) -> Any:
    """The SDK's default HTTP client plus the hook that keeps quota errors from being retried."""
    hooks = kwargs.pop("event_hooks", {}) or {}
    hooks = {**hooks, "response": [*hooks.get("response", []), _mark_quota_not_retryable]}
    return openai.DefaultHttpxClient(event_hooks=hooks, **kwargs)


def make_client(
    base_url: str | None,
    api_key: str,
    max_retries: int = DEFAULT_MAX_RETRIES,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> openai.OpenAI:
    """An ``openai.OpenAI`` for ``base_url`` (None: api.openai.com) that never retries quota errors."""
    client = openai.OpenAI(
        api_key=api_key, base_url=base_url, max_retries=max_retries, timeout=timeout, http_client=quota_aware_http_client()
    )
    _PREPARED.add(client)
    return client


def prepare_client(client: openai.OpenAI) -> openai.OpenAI:
    """``client`` (e.g. from ``OpenAIHook``) with the quota hook on its HTTP client.

    Built from public API only (``with_options(http_client=...)``): the copy keeps the key,
    base URL, retries and timeout and gets the SDK's default HTTP client plus the hook.
    """
    if client in _PREPARED:
        return client
    prepared = client.with_options(http_client=quota_aware_http_client())
    _PREPARED.add(prepared)
    return prepared


class OpenAIEmbedder(Embedder):
    """Embeds through the OpenAI API; ``fingerprint`` = ``openai:{model}:{dimensions}``."""

    provider = "openai"
    usd_per_million_tokens = OPENAI_USD_PER_MILLION_TOKENS

    def __init__(
        self,
        client: openai.OpenAI,
        model: str = DEFAULT_MODEL,
        dimensions: int | None = None,
        max_batch_inputs: int = MAX_BATCH_INPUTS,
        max_batch_tokens: int = MAX_BATCH_TOKENS,
        conn_id: str = "openai_default",
    ) -> None:
        super().__init__()
        if client is None:
            raise FatalError(f"no OpenAI client: define the connection '{conn_id}' (password = API key)")
        native = MODEL_DIMENSIONS.get(model)
        self.model = model
        self.dimensions = int(dimensions or native or 1536)
        # Only text-embedding-3 models take ``dimensions`` (to shorten their native width).
        self._send_dimensions = model.startswith("text-embedding-3")
        if not self._send_dimensions and native is not None and self.dimensions != native:
            raise ValueError(f"{model} has a fixed width of {native}; it cannot produce {self.dimensions} dimensions")
        if native is not None and self.dimensions > native:
            raise ValueError(f"{model} produces at most {native} dimensions, asked for {self.dimensions}")
        self.max_batch_inputs = min(int(max_batch_inputs), MAX_BATCH_INPUTS)
        self.max_batch_tokens = min(int(max_batch_tokens), MAX_BATCH_TOKENS)
        self.conn_id = conn_id
        self.client = prepare_client(client)

    def embed_matrix(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts`` in one request, in order.

        Raises:
            ValueError: an empty input, an input over 8,191 tokens, or more inputs than
                ``max_batch_inputs`` (nothing is sent).
            CredentialsError: the API key was rejected (401).
            FatalError: the account's quota is exhausted, or the API refused the request (400).
        """
        if isinstance(texts, str):
            raise TypeError("embed() takes a sequence of texts, not a single string")
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dimensions), dtype="<f4")
        self._check(texts)
        kwargs: dict[str, Any] = {"model": self.model, "input": texts, "encoding_format": "base64"}
        if self._send_dimensions:
            kwargs["dimensions"] = self.dimensions
        try:
            response = self.client.embeddings.create(**kwargs)
        except openai.AuthenticationError as exc:
            raise CredentialsError(self.conn_id, "OpenAI", _message(exc).rstrip(".")) from None
        except openai.RateLimitError as exc:
            if _code(exc) == QUOTA_CODE:
                raise FatalError(
                    f"OpenAI quota exhausted for connection '{self.conn_id}': {_message(exc)} "
                    "Add credit or raise the project's limit, then clear the task."
                ) from None
            raise  # rate limited even after the SDK's retries: let Airflow retry the task later
        except openai.BadRequestError as exc:
            # The same request would be refused again: a packing bug or a model/setting mistake.
            raise FatalError(f"OpenAI refused the embeddings request ({self.model}): {_message(exc)}") from None
        self.requests_made += 1
        self.tokens_used += int(response.usage.total_tokens)
        return self._decode(response.data, len(texts))

    def _check(self, texts: list[str]) -> None:
        """Refuse what the API would refuse per input, without tokenizing short texts.

        The 300,000-token cap per request is the packer's job (``pack_requests`` with the
        chunks' token counts): checking it here would tokenize every text a second time. A
        request over it gets the API's 400, which ``embed`` turns into a FatalError.
        """
        if len(texts) > self.max_batch_inputs:
            raise ValueError(f"{len(texts)} inputs in one request, the limit is {self.max_batch_inputs}: pack with pack_requests")
        for position, text in enumerate(texts):
            if not isinstance(text, str) or not text:
                raise ValueError(f"cannot embed an empty text (input {position})")
            # A token spans at least one UTF-8 byte (a character at most four): a text of at most
            # 8,191 bytes cannot be over, and only longer ones are tokenized.
            if 4 * len(text) > MAX_INPUT_TOKENS and len(text.encode("utf-8", "surrogatepass")) > MAX_INPUT_TOKENS:
                tokens = count_tokens(text)
                if tokens > MAX_INPUT_TOKENS:
                    raise ValueError(
                        f"input {position} has {tokens} tokens, over OpenAI's limit of {MAX_INPUT_TOKENS}: "
                        "chunk it first (nothing is truncated silently)"
                    )

    def _decode(self, data: Sequence[Any], count: int) -> np.ndarray:
        if len(data) != count:
            raise RuntimeError(f"OpenAI returned {len(data)} embeddings for {count} inputs")
        rows = np.empty((count, self.dimensions), dtype="<f4")
        filled = np.zeros(count, dtype=bool)
        for item in data:
            raw = item.embedding
            # base64: little-endian float32, as requested; a list when a proxy answers in floats.
            vector = np.frombuffer(base64.b64decode(raw), dtype="<f4") if isinstance(raw, str) else np.asarray(raw, dtype="<f4")
            if vector.shape != (self.dimensions,):
                raise RuntimeError(f"OpenAI returned {vector.size} dimensions, expected {self.dimensions}")
            rows[item.index] = vector
            filled[item.index] = True
        if not filled.all():
            raise RuntimeError(f"OpenAI returned no embedding for inputs {np.flatnonzero(~filled).tolist()[:10]}")
        return rows


def _message(exc: Exception) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
    return str(exc)


def _code(exc: Exception) -> str | None:
    code = getattr(exc, "code", None)
    if code:
        return str(code)
    body = getattr(exc, "body", None)
    error = body.get("error", body) if isinstance(body, dict) else None
    if isinstance(error, dict):
        return error.get("code") or error.get("type")
    return None
