"""The embedder interface shared by the offline and production embedders."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

import numpy as np

T = TypeVar("T")

# text-embedding-3-small list price, for cost estimates whatever embedder actually runs.
OPENAI_USD_PER_MILLION_TOKENS = 0.02


class Embedder(ABC):
    """Turns texts into vectors of a fixed dimension.

    ``fingerprint`` names provider, model and dimensions: a stored chunk counts as unchanged
    only when both its content hash and this fingerprint match, so a model switch re-embeds.
    """

    provider: str
    model: str
    dimensions: int
    # Request packing limits (OpenAI: 2,048 inputs and 300,000 tokens per request).
    max_batch_inputs: int = 2048
    max_batch_tokens: int = 300_000
    # USD per 1M tokens, for the cost estimate in status and --dry-run.
    usd_per_million_tokens: float = 0.0

    def __init__(self) -> None:
        self.tokens_used = 0
        self.requests_made = 0

    @property
    def fingerprint(self) -> str:
        return f"{self.provider}:{self.model}:{self.dimensions}"

    @abstractmethod
    def embed_matrix(self, texts: Sequence[str]) -> np.ndarray:
        """Embed non-empty texts, in order: one float32 row each (``len(texts) x dimensions``).
        Adds to ``tokens_used`` and ``requests_made``.

        The pipeline's form: a request of 2,048 vectors of 1,536 dimensions is 12 MB as a
        float32 matrix, about 100 MB as lists of Python floats."""

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """``embed_matrix`` as lists of floats (queries, tests)."""
        return self.embed_matrix(texts).tolist()

    def cost_usd(self, tokens: int) -> float:
        return tokens * self.usd_per_million_tokens / 1_000_000


def checked_texts(texts: Sequence[str]) -> list[str]:
    """``texts`` sanitised for a local model, in order. Raises ``TypeError`` on a single string
    (it would be read as characters) and ``ValueError`` on an empty or whitespace-only text."""
    from vector_sync.tokens import sanitize

    if isinstance(texts, str):
        raise TypeError("embed() takes a sequence of texts, not a single string")
    for row, text in enumerate(texts):
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"cannot embed an empty text (input {row})")
    return [sanitize(t) for t in texts]


def unit_rows(matrix: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1, as float32. A row with no direction (a text a tokenizer maps to
    nothing, none known so far) gets a fixed one rather than zeros, whose cosine is undefined."""
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    empty = norms[:, 0] == 0
    matrix[empty, 0] = 1.0
    norms[empty] = 1.0
    return (matrix / norms).astype(np.float32, copy=False)


def pack_requests(items: Sequence[T], tokens_of: Callable[[T], int], max_inputs: int, max_tokens: int) -> Iterator[list[T]]:
    """Group items into as few requests as the limits allow, in order.

    Greedy packing is optimal here because the order is fixed: a request closes only when
    the next item would break the input-count or token cap. An item alone over the token cap
    is a bug upstream (the chunker keeps every chunk under the per-input limit).
    """
    request: list[T] = []
    request_tokens = 0
    for item in items:
        tokens = tokens_of(item)
        if tokens > max_tokens:
            raise ValueError(f"one input has {tokens} tokens, over the per-request cap of {max_tokens}")
        if request and (len(request) >= max_inputs or request_tokens + tokens > max_tokens):
            yield request
            request, request_tokens = [], 0
        request.append(item)
        request_tokens += tokens
    if request:
        yield request
