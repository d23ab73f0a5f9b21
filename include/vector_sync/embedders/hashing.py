"""Offline, deterministic lexical embedder (feature hashing).

This is not a language model. Each lower-cased word and each pair of adjacent words is hashed
(words with blake2b, pairs by mixing their words' hashes with splitmix64, so the result is
identical across processes, machines and Python versions) into one of ``dimensions`` buckets
with a +1/-1 sign; term frequencies are damped (1 + ln tf) and the vector is L2-normalised.
Cosine similarity between two vectors therefore measures shared words and word pairs:
"deploy failed" finds "the deploy failed again", but not "the release broke".
It exists so the pipeline, the sandbox and the tests run with no credentials and no network.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from hashlib import blake2b

import numpy as np

from vector_sync.embedders.base import Embedder
from vector_sync.tokens import sanitize

# Unicode word characters: Latin, Cyrillic, Arabic, CJK ideographs, digits, underscore.
_WORD = re.compile(r"\w+")
# Word pairs capture a little order ("not working" vs "working"); weighted below single words.
_BIGRAM_WEIGHT = 0.5
# The word -> 64-bit hash cache is cleared when it grows past this many entries.
_CACHE_LIMIT = 500_000


class HashingEmbedder(Embedder):
    """Lexical feature-hashing embedder: similarity is word overlap, not meaning."""

    provider = "hashing"
    model = "lexical-v1"
    usd_per_million_tokens = 0.0

    def __init__(self, dimensions: int = 384) -> None:
        super().__init__()
        if dimensions < 2:
            raise ValueError(f"dimensions must be at least 2, got {dimensions}")
        self.dimensions = int(dimensions)
        self._word_hashes: dict[str, int] = {}

    def embed_matrix(self, texts: Sequence[str]) -> np.ndarray:
        """Embed texts in order. Raises ``ValueError`` on an empty or whitespace-only text."""
        if isinstance(texts, str):
            raise TypeError("embed() takes a sequence of texts, not a single string")
        matrix = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        tokens = 0
        for row, text in enumerate(texts):
            if not isinstance(text, str) or not text.strip():
                raise ValueError(f"cannot embed an empty text (input {row})")
            # Words, not cl100k tokens: counting those would cost a third of this embedder's
            # time, and the pipeline records the chunks' exact token counts itself.
            tokens += self._fill(matrix[row], sanitize(text))
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        # A text with content always sets a bucket, but opposite signs could cancel exactly.
        norms[norms == 0] = 1.0
        matrix /= norms
        self.tokens_used += tokens
        self.requests_made += 1
        return matrix

    def _fill(self, row: np.ndarray, text: str) -> int:
        words = _WORD.findall(text.lower())
        if not words:
            # Only punctuation, symbols or emoji: use the characters so the vector is not zero.
            words = [ch for ch in text if not ch.isspace()]
        cache = self._word_hashes
        if len(cache) > _CACHE_LIMIT:
            cache.clear()
        for word in set(words).difference(cache):
            self._hash_word(word)
        hashes = np.fromiter(map(cache.__getitem__, words), dtype=np.uint64, count=len(words))
        features, counts = np.unique(hashes, return_counts=True)
        weights = 1.0 + np.log(counts)
        if len(hashes) > 1:
            # A pair's hash mixes its first word's hash before combining, so (a, b) != (b, a).
            pairs, pair_counts = np.unique(_mix64(_mix64(hashes[:-1]) ^ hashes[1:]), return_counts=True)
            features = np.concatenate((features, pairs))
            weights = np.concatenate((weights, _BIGRAM_WEIGHT * (1.0 + np.log(pair_counts))))
        buckets = (features % np.uint64(self.dimensions)).astype(np.intp)
        signs = np.where(features >> np.uint64(63), 1.0, -1.0)
        row += np.bincount(buckets, weights=signs * weights, minlength=self.dimensions).astype(np.float32)
        if not row.any():
            # Every feature cancelled out (vanishingly rare): fall back to one stable bucket.
            row[int(self._hash_word(text) % self.dimensions)] = 1.0
        return len(words)

    def _hash_word(self, word: str) -> int:
        value = int.from_bytes(blake2b(word.encode("utf-8"), digest_size=8).digest(), "little")
        self._word_hashes[word] = value
        return value


def _mix64(values: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser over uint64 (wrapping arithmetic is intended)."""
    z = values + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))
