"""Token counting with OpenAI's ``cl100k_base`` encoding, fully offline.

``tiktoken`` downloads its BPE file on first use, which fails on this machine and in CI, so the
default backend is ``bpe-openai``: it bundles cl100k_base and is tiktoken-compatible. tiktoken is
used only when bpe-openai is missing and tiktoken's cache is primed (``TIKTOKEN_CACHE_DIR``).
"""

from __future__ import annotations

import base64
import gzip
import re
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

ENCODING_NAME = "cl100k_base"
# OpenAI rejects an embeddings input longer than this (text-embedding-3-*, cl100k_base): "The input
# must not exceed the max input tokens for the model (8192 tokens for all embedding models)"
# (the embeddings API reference, CreateEmbeddingRequest.input).
OPENAI_MAX_INPUT_TOKENS = 8192
# bpe-openai refuses strings of 1,000,000 characters or more and results over 200,000 tokens;
# a character is at most 4 UTF-8 bytes and a token at least one byte, so 40,000 characters
# stay under both limits.
_MAX_PIECE_CHARS = 40_000

_SURROGATE = re.compile("[\ud800-\udfff]")
# C0/C1 control characters except tab, newline and carriage return (NUL included).
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


# cl100k_base's split pattern and special tokens, as tiktoken's openai_public defines them.
_CL100K_PATTERN = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
)
_CL100K_SPECIAL = {
    "<|endoftext|>": 100257,
    "<|fim_prefix|>": 100258,
    "<|fim_middle|>": 100259,
    "<|fim_suffix|>": 100260,
    "<|endofprompt|>": 100276,
}


@lru_cache(maxsize=1)
def get_encoding() -> Any:
    """The process-wide cl100k_base encoding (tiktoken API: ``encode_ordinary``, ``decode``).

    tiktoken would download its BPE file on first use, so it is built from the copy that
    bpe-openai bundles, read straight from the package's data folder: importing bpe_openai
    itself loads all three of its vocabularies (~4 s and ~100 MB per process).
    """
    import importlib.util

    import tiktoken

    spec = importlib.util.find_spec("bpe_openai")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("bpe-openai is not installed: it carries the offline cl100k_base vocabulary")
    ranks_file = Path(next(iter(spec.submodule_search_locations))) / "data" / f"{ENCODING_NAME}.tiktoken.gz"
    ranks: dict[bytes, int] = {}
    with gzip.open(ranks_file, "rt", encoding="ascii") as handle:
        for line in handle:
            if line.strip():
                token, rank = line.split()
                ranks[base64.b64decode(token)] = int(rank)
    return tiktoken.Encoding(ENCODING_NAME, pat_str=_CL100K_PATTERN, mergeable_ranks=ranks, special_tokens=_CL100K_SPECIAL)


def sanitize(text: str) -> str:
    """Make arbitrary source text safe to tokenize, hash, store and send as JSON.

    Lone surrogates become U+FFFD (surrogate pairs written as two code units are joined),
    control characters other than tab and newlines are dropped, and CRLF becomes LF.
    """
    if _SURROGATE.search(text):
        text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    if _CONTROL.search(text):
        text = _CONTROL.sub("", text)
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text


def _pieces(text: str) -> list[str]:
    """Split ``text`` into pieces the tokenizer accepts, cutting before whitespace so the
    concatenated encoding matches a whole-text encoding almost exactly."""
    if len(text) <= _MAX_PIECE_CHARS:
        return [text]
    pieces = []
    start = 0
    while len(text) - start > _MAX_PIECE_CHARS:
        end = start + _MAX_PIECE_CHARS
        cut = text.rfind("\n", start + _MAX_PIECE_CHARS // 2, end)
        if cut < 0:
            cut = text.rfind(" ", start + _MAX_PIECE_CHARS // 2, end)
        if cut <= start:
            cut = end
        pieces.append(text[start:cut])
        start = cut
    pieces.append(text[start:])
    return pieces


def encode(text: str) -> list[int]:
    """Token ids of ``text``; special-token strings count as ordinary text (as the API does)."""
    text = sanitize(text)
    if not text:
        return []
    enc = get_encoding()
    pieces = _pieces(text)
    if len(pieces) == 1:
        return list(enc.encode_ordinary(text))
    tokens: list[int] = []
    for piece in pieces:
        tokens.extend(enc.encode_ordinary(piece))
    return tokens


def decode(tokens: Sequence[int]) -> str:
    """Text of ``tokens``; a slice that cuts a character in two decodes it as U+FFFD."""
    return get_encoding().decode(list(tokens))


def count_tokens(text: str) -> int:
    """Number of cl100k_base tokens in ``text``."""
    return len(encode(text))


def token_bytes(tokens: Sequence[int]) -> list[bytes]:
    """The UTF-8 bytes of each token."""
    return get_encoding().decode_tokens_bytes(list(tokens))


@lru_cache(maxsize=1)
def _chars_started_per_token() -> np.ndarray:
    """For every token id, how many characters begin in its bytes (non-continuation bytes)."""
    enc = get_encoding()
    table = np.zeros(enc.n_vocab, dtype=np.int64)
    for token in range(enc.n_vocab):
        try:
            data = enc.decode_single_token_bytes(token)
        except KeyError:  # unused ids in the vocabulary
            continue
        table[token] = sum(1 for byte in data if byte & 0xC0 != 0x80)
    return table


def char_offsets(tokens: Sequence[int]) -> np.ndarray:
    """Character offset (in the decoded text) where each token starts, then the text length.

    A token that begins inside a multi-byte character maps to just after that character, so
    slicing the decoded text at any of these offsets never splits a character.
    """
    table = _chars_started_per_token()
    starts = table[np.asarray(tokens, dtype=np.int64)] if len(tokens) else np.zeros(0, dtype=np.int64)
    return np.concatenate(([0], np.cumsum(starts)))
