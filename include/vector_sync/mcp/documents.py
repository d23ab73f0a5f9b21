"""A whole document back from its stored chunks: the index keeps no other copy of its text.

``chunking.chunk_document`` starts every chunk with the document's title line, packs
segments (meeting turns, page sections) joined by a blank line, and cuts long text with an
overlap. Reading the chunks in order, dropping each title line and merging each overlap
gives the document's text back, as the chunker saw it (sanitized, whitespace at cuts
trimmed).
"""

from __future__ import annotations

from collections.abc import Iterable

from vector_sync.models import Hit

# An overlap shorter than this is taken for a coincidence (two chunks of separate segments
# that happen to end and start alike), not for repeated text: the chunker repeats 40-64
# tokens (a few hundred characters), at least half a piece's when pieces are small. A text
# that repeats itself at a chunk boundary this long can still be merged once too often.
MIN_OVERLAP_CHARS = 24
# Longer than any overlap the chunker makes (64 tokens by default, 8191 at most is not used).
MAX_OVERLAP_CHARS = 4_000
SEGMENT_SEPARATOR = "\n\n"


def chunk_index(hit: Hit) -> int:
    """The chunk's place in its document (``chunk_index`` metadata, else the ``#n`` id)."""
    value = hit.metadata.get("chunk_index") if hit.metadata else None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value)
    tail = hit.id.rsplit("#", 1)[-1]
    return int(tail) if tail.isdigit() else 0


def body_of(hit: Hit) -> str:
    """The chunk's text without its leading title line (a chunk of a titled document always
    has one; a chunk that is only the title has no body)."""
    if not str((hit.metadata or {}).get("title") or hit.title or "").strip():
        return hit.text.strip()
    _, newline, body = hit.text.partition("\n")
    return body.strip() if newline else ""


def reassemble(chunks: Iterable[Hit]) -> str:
    """The document's text from its chunks (any order, one per index)."""
    text = ""
    for hit in sorted({chunk_index(h): h for h in chunks}.values(), key=chunk_index):
        text = join(text, body_of(hit))
    return text


def join(head: str, tail: str) -> str:
    """``head`` then ``tail``: merged where ``tail`` starts with ``head``'s last characters
    (the chunker's overlap), else separated by a blank line (the segment separator)."""
    if not head or not tail:
        return head or tail
    longest = min(len(head), len(tail), MAX_OVERLAP_CHARS)
    for size in range(longest, MIN_OVERLAP_CHARS - 1, -1):
        if head.endswith(tail[:size]):
            return head + tail[size:]
    return head + SEGMENT_SEPARATOR + tail
