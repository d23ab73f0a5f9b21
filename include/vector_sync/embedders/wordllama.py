"""Offline semantic embedder: WordLlama's ``l2_supercat`` static token embeddings.

A text's vector is the mean of its tokens' vectors (256 dimensions, taken from the Llama 2
family's input embeddings and trained for similarity), L2-normalised. It knows that "charge",
"bill" and "invoice" are near each other, which the hashing embedder cannot, and still needs
no network, no GPU and no torch: the weights (~16 MB) and the tokenizer ship inside the
``wordllama`` wheel and are read from the installed package only.

Why not ``WordLlama.load()`` as documented: its loader looks for the tokenizer under
``wordllama/tokenizer/`` while the wheel installs it under ``wordllama/tokenizers/``; not
finding it there, it would download from Hugging Face. Pointing ``cache_dir`` at the package's
own folder makes its cache lookup (``<cache_dir>/tokenizers/``) land on the bundled file, and
``disable_download=True`` turns any other miss into an error instead of a request.

Titles count: every chunk starts with its document's title line (``chunking``), and averaged
into a 400-token Jira description or transcript the title all but vanishes, so a worklog that
quotes an issue's title outranks the issue. A text's vector is therefore the sum of two unit
vectors, its whole text and its first line, normalised; a one-line query is unchanged by it.
On bench/search_quality.py (dense, LanceDB) this took paraphrase recall@5 from 0.01 to 0.24
and exact-identifier recall@5 from 0.15 to 0.39.

Pooling is done here rather than with ``WordLlamaInference.embed``: that pads every batch of
64 texts to its longest and materialises ``64 x longest x 256`` floats, 500 MB for a batch
holding one 8,000-token text, and keeps a float32 copy of the float16 weights. Summing each
text's token rows in slices keeps memory flat (bench/run.py's sync lines stay under 500 MB).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vector_sync.embedders.base import Embedder, checked_texts, unit_rows
from vector_sync.embedders.weights import map_tensor

CONFIG = "l2_supercat"
DIMENSIONS = 256  # the only width whose weights ship in the wheel (64 and 128 are truncations of it)
# What the default embedder writes to the ledger, known without loading the model.
FINGERPRINT = f"wordllama:{CONFIG}+title:{DIMENSIONS}"
# Weight of the first (title) line's unit vector beside the whole text's. Part of the fingerprint.
TITLE_WEIGHT = 1.0
# Token rows summed at once for one text: 8,192 x 256 float32 = 8 MB.
_SLICE_TOKENS = 8192
# Texts tokenized per call: 2,048 encodings of 400 tokens held at once cost ~75 MB.
_ENCODE_TEXTS = 64

_LOCK = threading.Lock()
_MODELS: dict[tuple[str, int], Any] = {}


def package_dir() -> Path:
    """The installed ``wordllama`` package folder, which holds ``weights/`` and ``tokenizers/``."""
    import wordllama

    return Path(wordllama.__file__).resolve().parent


def load_model(config: str = CONFIG, dim: int = DIMENSIONS) -> tuple[np.ndarray, Any]:
    """``(token vectors, tokenizer)`` for ``config``, loaded once per process from the wheel's files.

    The files are found by WordLlama's own resolver (package folder, then ``cache_dir``, with
    downloads disabled); the weights stay float16 as shipped and memory-mapped (see
    ``embedders.weights``; the sums are taken in float32).

    Raises:
        FileNotFoundError: the weights or tokenizer are not inside the installed package
            (nothing is downloaded).
    """
    key = (config, dim)
    # One thread per task process: Airflow runs several tasks per worker, and the tokenizer's
    # own thread pool (one thread per core in each) made a 2-core machine slower (31 s vs 19 s
    # for 20,480 chunks under load) and added per-thread heaps. An explicit setting wins.
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    with _LOCK:
        if key not in _MODELS:
            from tokenizers import Tokenizer
            from wordllama import WordLlama

            uri = getattr(WordLlama._wordllama, config)
            paths = {
                kind: WordLlama.resolve_file(
                    config_name=config,
                    model_uri=uri,
                    dim=dim,
                    binary=False,
                    file_type=kind,
                    cache_dir=package_dir(),
                    disable_download=True,
                )
                for kind in ("weights", "tokenizer")
            }
            vectors = map_tensor(paths["weights"], "embedding.weight")
            tokenizer = Tokenizer.from_file(str(paths["tokenizer"]))
            tokenizer.no_padding()
            tokenizer.no_truncation()
            _MODELS[key] = (vectors, tokenizer)
        return _MODELS[key]


class WordLlamaEmbedder(Embedder):
    """Semantic static embeddings, offline; ``fingerprint`` = ``wordllama:l2_supercat+title:256``."""

    provider = "wordllama"
    usd_per_million_tokens = 0.0

    def __init__(self, config: str = CONFIG, dimensions: int = DIMENSIONS) -> None:
        super().__init__()
        # The pooling is part of what a vector means: a change to it must re-embed, like a new model.
        self.model = f"{config}+title"
        self.dimensions = int(dimensions)
        self._vectors, self._tokenizer = load_model(config, self.dimensions)  # (vocabulary, dimensions) float16

    def embed_matrix(self, texts: Sequence[str]) -> np.ndarray:
        """Embed texts in order. Raises ``ValueError`` on an empty or whitespace-only text."""
        texts = checked_texts(texts)
        whole, tokens = self._pool(texts)
        titles, _ = self._pool([t.strip().split("\n", 1)[0] for t in texts])
        matrix = unit_rows(unit_rows(whole) + TITLE_WEIGHT * unit_rows(titles))
        self.tokens_used += tokens
        self.requests_made += 1
        return matrix

    def _pool(self, texts: list[str]) -> tuple[np.ndarray, int]:
        """Each text's summed token vectors (a mean up to scale), and the tokens read."""
        sums = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        vocabulary = self._vectors.shape[0]
        tokens = 0
        for first in range(0, len(texts), _ENCODE_TEXTS):
            # Encodings carry each token's string and offsets too: a few at a time, not 2,048.
            encodings = self._tokenizer.encode_batch(texts[first : first + _ENCODE_TEXTS], add_special_tokens=False)
            for row, encoding in enumerate(encodings, first):
                ids = np.asarray(encoding.ids, dtype=np.int64)
                ids = ids[ids < vocabulary]
                tokens += len(ids)
                for start in range(0, len(ids), _SLICE_TOKENS):
                    sums[row] += self._vectors[ids[start : start + _SLICE_TOKENS]].sum(axis=0, dtype=np.float32)
        return sums, tokens
