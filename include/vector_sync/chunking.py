"""Token-aware chunker: documents -> chunks that fit the embedding model's input.

Every chunk starts with the document's title line, so a chunk read on its own (a search hit,
an embedding input) still says what it belongs to; the title counts against the token budget.
Segmented documents (meeting turns, page sections) are packed whole, greedily, joined by a
blank line; plain text is cut at the strongest boundary available (paragraph, line, sentence,
word, token) near the budget, with overlap. The text is encoded once and cut by token
position; each finished chunk is counted once more, so ``Chunk.tokens`` is exact.
"""

from __future__ import annotations

import math
import re
from collections import deque
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import numpy as np

from vector_sync.models import Chunk, Document, MetadataValue, utc
from vector_sync.tokens import OPENAI_MAX_INPUT_TOKENS, char_offsets, count_tokens, encode, sanitize, token_bytes

__all__ = ["chunk_document", "chunk_metadata", "MIN_CHUNK_TOKENS"]

# Below this a chunk cannot hold a title line and some text.
MIN_CHUNK_TOKENS = 8
# Segments are joined with a blank line ("\n\n" is a single cl100k token).
_SEGMENT_SEPARATOR = "\n\n"
_SEGMENT_SEPARATOR_TOKENS = 1

# Texts longer than this many characters per budget token are not tried as a single chunk.
_SINGLE_CHUNK_PROBE_CHARS_PER_TOKEN = 8

# Cut points, strongest first; a cut goes after the match (before the next unit's text).
_PARAGRAPH = re.compile(r"\n[ \t]*\n\s*")
_LINE = re.compile(r"\n\s*")
_SENTENCE = re.compile(r"[.!?;:\u3002\uff01\uff1f\u2026][\"'\u201d\u2019)\]]*\s+")
_WORD = re.compile(r"\s+")
_CUT_LEVELS = (_PARAGRAPH, _LINE, _SENTENCE, _WORD)
# Where an overlap may begin: the start of a line or sentence, else of a word.
_OVERLAP_START = re.compile(r"\n\s*|[.!?;:\u3002\uff01\uff1f\u2026][\"'\u201d\u2019)\]]*\s+")

# Keys the chunker owns; a document's or segment's metadata cannot override them.
RESERVED_KEYS = (
    "source",
    "document_id",
    "title",
    "url",
    "chunk_index",
    "projects",
    "access_type",
    "access_list",
    "timestamp_epoch",
)


def chunk_document(doc: Document, max_tokens: int = 512, overlap_tokens: int = 64) -> list[Chunk]:
    """Split ``doc`` into chunks of at most ``min(max_tokens, 8192)`` cl100k tokens.

    Chunk ids are ``{doc.id}#{n}`` from 0 and depend only on the input. With
    ``doc.segments`` the chunks are built from the segments alone (``doc.text`` is taken to be
    their concatenation) and break only between segments, except that a segment too long on
    its own is split with overlap; each chunk carries the metadata of its first segment.

    Args:
        doc: The document to split.
        max_tokens: Token budget per chunk, title line included.
        overlap_tokens: Tokens repeated between consecutive pieces of one long text.

    Returns:
        The chunks in document order; empty when the document has neither text nor title.
    """
    limit = min(int(max_tokens), OPENAI_MAX_INPUT_TOKENS)
    if limit < MIN_CHUNK_TOKENS:
        raise ValueError(f"max_tokens must be at least {MIN_CHUNK_TOKENS}, got {max_tokens}")
    if overlap_tokens < 0:
        raise ValueError(f"overlap_tokens must not be negative, got {overlap_tokens}")

    title = _title_line(doc.title, limit // 2)
    prefix = f"{title}\n" if title else ""
    base = chunk_metadata(doc)
    own = {key: base[key] for key in RESERVED_KEYS if key in base}

    pieces: list[tuple[str, int, Mapping[str, Any]]] = []  # (text, tokens, segment metadata)
    if doc.segments:
        segments = [(sanitize(s.text).strip(), s.metadata) for s in doc.segments]
        segments = [(text, md) for text, md in segments if text]
        if segments:
            pieces = _pack_segments(segments, prefix, limit, overlap_tokens)
    else:
        body = sanitize(doc.text).strip()
        if body:
            pieces = [(text, n, {}) for text, n in _split_text(body, prefix, limit, overlap_tokens)]
    if not pieces and title:
        pieces = [(title, count_tokens(title), {})]

    chunks = []
    for index, (text, tokens, segment_md) in enumerate(pieces):
        # Segment keys go after the document's but never replace the chunker's own keys.
        metadata = {**base, **_flatten(segment_md), **own} if segment_md else dict(base)
        metadata["chunk_index"] = index
        chunks.append(Chunk(id=f"{doc.id}#{index}", document_id=doc.id, index=index, text=text, tokens=tokens, metadata=metadata))
    return chunks


def chunk_metadata(doc: Document) -> dict[str, MetadataValue]:
    """The flat metadata every chunk of ``doc`` carries (``chunk_index`` set per chunk).

    ``access_list`` is lower-cased (emails compare case-insensitively); ``timestamp_epoch``
    falls back to ``updated_at`` so date filters work for every source.
    """
    metadata = _flatten(doc.metadata)
    timestamp = metadata.get("timestamp_epoch")
    if not isinstance(timestamp, (int, float)) or isinstance(timestamp, bool):
        timestamp = utc(doc.updated_at).timestamp()
    metadata.update(
        {
            "source": doc.source,
            "document_id": doc.id,
            "title": _one_line(sanitize(doc.title or "")).strip(),
            "url": sanitize(doc.url or ""),
            "chunk_index": 0,
            "projects": [sanitize(str(p)) for p in doc.projects if p is not None],
            "access_type": doc.access_type or "all",
            "access_list": [sanitize(str(a)).strip().lower() for a in doc.access_list if a],
            "timestamp_epoch": int(timestamp),
        }
    )
    return metadata


# --- plain text -------------------------------------------------------------------------


def _split_text(text: str, prefix: str, limit: int, overlap: int) -> list[tuple[str, int]]:
    """Cut ``text`` (sanitized, stripped) into ``prefix``-led pieces of at most ``limit`` tokens."""
    whole = prefix + text
    # Most documents fit one chunk: one count settles it. Far longer texts (English averages
    # about 4 characters per token) skip the count and go straight to the token walk below,
    # which yields a single chunk anyway if they do fit.
    if len(whole) <= _SINGLE_CHUNK_PROBE_CHARS_PER_TOKEN * limit:
        whole_tokens = count_tokens(whole)
        if whole_tokens <= limit:
            return [(whole, whole_tokens)]

    budget = limit - count_tokens(prefix)
    tokens = encode(text)
    offsets = _char_offsets(tokens, text)
    if offsets is None:  # the encoding did not round-trip: cut the decoded text instead
        text = b"".join(token_bytes(tokens)).decode("utf-8", "replace")
        offsets = _char_offsets(tokens, text)
        assert offsets is not None
    total = len(tokens)

    pieces: list[tuple[str, int]] = []
    start = 0
    while start < total:
        end = total if start + budget >= total else _cut(text, offsets, start + max(1, budget // 2), start + budget)
        piece, n = _render(text, offsets, prefix, start, end, limit)
        while piece is None and end > start + 1:  # the slice re-tokenized longer: shorten it
            end = max(start + 1, end - max(1, n - limit))
            piece, n = _render(text, offsets, prefix, start, end, limit)
        if piece:
            pieces.append((piece, n))
        if end >= total:
            break
        start = _overlap_start(text, offsets, start, end, overlap)
    return pieces


def _char_offsets(tokens: list[int], text: str) -> np.ndarray | None:
    """Character offset where each token of ``text`` starts, plus ``len(text)`` at the end."""
    offsets = char_offsets(tokens)
    return offsets if int(offsets[-1]) == len(text) else None


def _token_at(offsets: np.ndarray, char_pos: int) -> int:
    """Index of the token that contains (or starts at) character ``char_pos``."""
    return int(np.searchsorted(offsets, char_pos, side="right")) - 1


def _cut(text: str, offsets: np.ndarray, low: int, high: int) -> int:
    """The token index in ``(low, high]`` after the strongest boundary, else ``high``."""
    window_start = int(offsets[low])
    window = text[window_start : int(offsets[high])]
    for pattern in _CUT_LEVELS:
        last = deque(pattern.finditer(window), maxlen=1)  # the last match only, in O(1) memory
        if last:
            cut = _token_at(offsets, window_start + last[0].end())
            if low < cut <= high:
                return cut
    return high


def _overlap_start(text: str, offsets: np.ndarray, start: int, end: int, overlap: int) -> int:
    """Where the next piece starts: ``overlap`` tokens before ``end``, moved forward to the
    start of a line, sentence or word when one is near."""
    overlap = min(overlap, (end - start) // 2)
    if overlap <= 0:
        return end
    target = end - overlap
    window_start = int(offsets[target])
    window = text[window_start : int(offsets[end])]
    match = _OVERLAP_START.search(window) or _WORD.search(window)
    if match is not None and match.end() < len(window):
        return max(target, _token_at(offsets, window_start + match.end()))
    # No word starts inside the overlap: start at the word containing the target instead of
    # in its middle (a slightly longer overlap), if that word began after ``start``.
    space = max(text.rfind(" ", int(offsets[start]), window_start), text.rfind("\n", int(offsets[start]), window_start))
    if space >= 0:
        candidate = _token_at(offsets, space + 1)
        if start < candidate <= target:
            return candidate
    return target


def _render(text: str, offsets: np.ndarray, prefix: str, start: int, end: int, limit: int) -> tuple[str | None, int]:
    """The piece for tokens ``[start, end)`` and its exact count; ``None`` when over ``limit``."""
    body = text[int(offsets[start]) : int(offsets[end])].strip()
    if not body:
        return "", 0
    piece = prefix + body
    n = count_tokens(piece)
    return (piece if n <= limit else None), n


# --- segments ---------------------------------------------------------------------------


def _pack_segments(
    segments: list[tuple[str, Mapping[str, Any]]], prefix: str, limit: int, overlap: int
) -> list[tuple[str, int, Mapping[str, Any]]]:
    budget = limit - count_tokens(prefix)
    pieces: list[tuple[str, int, Mapping[str, Any]]] = []
    group: list[tuple[str, Mapping[str, Any]]] = []
    group_tokens = 0

    def flush(items: list[tuple[str, Mapping[str, Any]]]) -> None:
        if not items:
            return
        text = prefix + _SEGMENT_SEPARATOR.join(t for t, _ in items)
        n = count_tokens(text)
        if n <= limit:
            pieces.append((text, n, items[0][1]))
        elif len(items) > 1:  # joining changed the estimate: give the last segment its own chunk
            flush(items[:-1])
            flush(items[-1:])
        else:
            pieces.extend((t, c, items[0][1]) for t, c in _split_text(items[0][0], prefix, limit, overlap))

    for text, metadata in segments:
        n = count_tokens(text)
        if n > budget:
            flush(group)
            group, group_tokens = [], 0
            pieces.extend((t, c, metadata) for t, c in _split_text(text, prefix, limit, overlap))
            continue
        cost = n + (_SEGMENT_SEPARATOR_TOKENS if group else 0)
        if group and group_tokens + cost > budget:
            flush(group)
            group, group_tokens = [], 0
            cost = n
        group.append((text, metadata))
        group_tokens += cost
    flush(group)
    return pieces


# --- helpers ----------------------------------------------------------------------------


def _one_line(text: str) -> str:
    return " ".join(text.split()) if ("\n" in text or "\t" in text) else text


def _title_line(title: str, max_title_tokens: int) -> str:
    """The sanitized one-line title, shortened to ``max_title_tokens`` so text still fits."""
    title = _one_line(sanitize(title or "")).strip()
    if not title:
        return ""
    tokens = encode(title)
    if len(tokens) <= max_title_tokens:
        return title
    offsets = _char_offsets(tokens, title)
    if offsets is None:
        return b"".join(token_bytes(tokens[:max_title_tokens])).decode("utf-8", "ignore").strip()
    short = title[: int(offsets[max_title_tokens])].rstrip()
    # Re-tokenizing may merge differently at the cut: trim until it fits.
    while short and count_tokens(short) > max_title_tokens:
        short = short[:-1].rstrip()
    return short


def _flatten(metadata: Mapping[str, Any] | None) -> dict[str, MetadataValue]:
    """Keep only what Pinecone accepts: str, int, float, bool, list of str; drop None/NaN."""
    flat: dict[str, MetadataValue] = {}
    for key, value in (metadata or {}).items():
        converted = _flat_value(value)
        if converted is not None:
            flat[sanitize(str(key))] = converted
    return flat


def _flat_value(value: Any) -> MetadataValue | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        return sanitize(value)
    if isinstance(value, datetime):
        return utc(value).isoformat()
    if isinstance(value, (list, tuple, set, frozenset)):
        items: Iterable[Any] = sorted(value, key=str) if isinstance(value, (set, frozenset)) else value
        return [sanitize(str(v)) for v in items if v is not None]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value) if math.isfinite(float(value)) else None
    return sanitize(str(value))
