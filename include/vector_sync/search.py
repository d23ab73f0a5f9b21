"""Query -> hits, one per document: used by the CLI and the Airflow plugin."""

from __future__ import annotations

import re

from vector_sync.embedders.base import Embedder
from vector_sync.models import SEARCH_MODES, Hit, SearchFilter
from vector_sync.stores.base import VectorStore

# Chunks fetched per wanted hit: several chunks of one document often rank together, and
# only the best of them is shown.
CANDIDATES_PER_HIT = 4
# Pinecone caps top_k at 10,000; stay well below when widening the candidate set.
MAX_CANDIDATES = 2_000

_WORD = re.compile(r"\w+")


def search(
    query: str,
    embedder: Embedder,
    store: VectorStore,
    flt: SearchFilter | None = None,
    top_k: int = 10,
    mode: str = "dense",
) -> list[Hit]:
    """The ``top_k`` best documents for ``query``: each document's best chunk, best first.

    ``mode`` is one of ``SEARCH_MODES`` (see ``VectorStore.query``); "keyword" never calls
    the embedder.

    Raises:
        ValueError: ``query`` is empty, ``top_k`` is not positive or ``mode`` is unknown.
    """
    if not query or not query.strip():
        raise ValueError("search query is empty")
    if top_k <= 0:
        raise ValueError(f"top_k must be positive, got {top_k}")
    if mode not in SEARCH_MODES:
        raise ValueError(f"search mode must be one of {', '.join(SEARCH_MODES)}, got {mode!r}")
    text = query.strip()
    vector = None if mode == "keyword" else embedder.embed([text])[0]
    wanted = min(top_k * CANDIDATES_PER_HIT, MAX_CANDIDATES)
    while True:
        chunks = store.query(vector, wanted, flt, text=text, mode=mode)
        best = best_per_document(chunks)
        # Fewer documents than asked although the store had more chunks: widen and ask again.
        if len(best) >= top_k or len(chunks) < wanted or wanted >= MAX_CANDIDATES:
            return best[:top_k]
        wanted = min(wanted * 4, MAX_CANDIDATES)


def best_per_document(hits: list[Hit]) -> list[Hit]:
    """Keep the highest-scoring chunk of each document, ordered by score (then id)."""
    best: dict[str, Hit] = {}
    for hit in hits:
        key = document_id(hit)
        if key not in best or hit.score > best[key].score:
            best[key] = hit
    return sorted(best.values(), key=lambda h: (-h.score, h.id))


def document_id(hit: Hit) -> str:
    """The document a chunk hit belongs to (``{document_id}#{n}`` ids)."""
    value = hit.metadata.get("document_id") if hit.metadata else None
    return str(value) if value else hit.id.rsplit("#", 1)[0]


def snippet(text: str, query: str, width: int = 160, title: str | None = None) -> str:
    """A one-line excerpt of a chunk around the first word of ``query`` found in it.

    Chunks start with their document's title line, which the result leaves out: ``title``
    when given (removed only if the text starts with it), else the first line of a multi-line
    text. Without a match the excerpt is the start of the text. Cuts are marked with "…".
    """
    if title is not None:
        if text.startswith(title + "\n"):
            text = text[len(title) + 1 :]
        elif text == title:
            text = ""
    elif "\n" in text:
        text = text.split("\n", 1)[1]
    body = " ".join(text.split())
    if len(body) <= width:
        return body

    position = 0
    words = sorted({w.lower() for w in _WORD.findall(query)}, key=len, reverse=True)
    # Prefer real words over one- and two-letter ones ("a", "of"), which match anywhere.
    for group in ([w for w in words if len(w) > 2], [w for w in words if len(w) <= 2]):
        if group:
            match = re.search(r"\b(?:" + "|".join(map(re.escape, group)) + r")", body, re.IGNORECASE)
            if match:
                position = match.start()
                break

    start = max(0, min(position - width // 4, len(body) - width))
    if start > 0:
        space = body.find(" ", start, position + 1)  # begin at a word, not inside one
        start = space + 1 if 0 <= space < position else start
    end = min(len(body), start + width)
    if end < len(body):
        space = body.rfind(" ", start + width // 2, end)
        end = space if space > 0 else end
    excerpt = body[start:end].strip()
    return ("…" if start > 0 else "") + excerpt + ("…" if end < len(body) else "")
