"""What the MCP tools do, as plain functions: validate, ask the index as the viewer, answer JSON.

The search is ``search.search`` and the access rule is ``models.SearchFilter``'s, applied
inside the store, as for the CLI and the operations page; nothing here decides visibility.
A bad argument raises ``ToolError`` with a message written for the model that sent it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from mcp.server.mcpserver.exceptions import ToolError

from vector_sync.links import safe_link
from vector_sync.mcp.documents import chunk_index, reassemble
from vector_sync.models import Hit, SearchFilter
from vector_sync.search_request import hit_link, parse_bound

MAX_QUERY_CHARS = 2_000  # as the plugin's /api/search
MAX_TOP_K = 50
DEFAULT_TOP_K = 10
MAX_FILTER_VALUES = 50
MAX_PROJECT_CHARS = 64
MAX_DOCUMENT_ID_CHARS = 512  # the ledger's id column
# fetch_document reads at most this many chunks (about 250,000 words at 512 tokens each).
MAX_DOCUMENT_CHUNKS = 1_000
# Chunk metadata that is the chunker's bookkeeping, shown elsewhere, or another reader's
# business (who else may see the item), never repeated in a fetched document's metadata.
HIDDEN_METADATA = frozenset(
    {"text", "document_id", "chunk_index", "title", "url", "source", "projects", "timestamp_epoch", "access_list", "access_type"}
)


@dataclass(frozen=True)
class Viewer:
    """Whose view the tools show: an email (public items and those listing it) or None
    (public items only). ``note`` says why there is no email, for the assistant to relay."""

    email: str | None
    note: str | None = None

    def search_filter(self, **narrowing: Any) -> SearchFilter:
        return SearchFilter(user=self.email, **narrowing)

    def to_json(self) -> dict[str, Any]:
        return {"identity": self.email, "identity_note": self.note}


@dataclass(frozen=True)
class Index:
    """The tools' backends: ``backends()`` returns an object with ``state``, ``store`` and
    ``embedder`` (the plugin's cached ones, or the CLI's runtime); ``schedules(names)`` the
    sync DAGs' schedule state when the caller can read Airflow's (None: not shown)."""

    backends: Callable[[], Any]
    sources: Callable[[], Sequence[str]]
    schedules: Callable[[Sequence[str]], Mapping[str, dict[str, Any]]] | None = None


# ----------------------------------------------------------------------------- tools


def search_index(
    index: Index,
    viewer: Viewer,
    query: str,
    sources: Sequence[str] | None = None,
    projects: Sequence[str] | None = None,
    since: str | None = None,
    until: str | None = None,
    top_k: int = DEFAULT_TOP_K,
) -> dict[str, Any]:
    """The ``top_k`` best documents for ``query`` that ``viewer`` may see."""
    from vector_sync.search import search, snippet

    text = (query or "").strip()
    if not text:
        raise ToolError("query is empty: say what to look for, e.g. 'dunning schedule decision'")
    if len(text) > MAX_QUERY_CHARS:
        raise ToolError(f"query has {len(text)} characters; at most {MAX_QUERY_CHARS}: shorten it to the question")
    if isinstance(top_k, bool) or not isinstance(top_k, int) or not 1 <= top_k <= MAX_TOP_K:
        raise ToolError(f"top_k must be a whole number from 1 to {MAX_TOP_K}, got {top_k!r}")
    flt = viewer.search_filter(
        sources=known_sources(index, sources),
        projects=project_keys(projects),
        since=moment("since", since),
        until=moment("until", until, end_of_day=True),
    )
    if flt.since is not None and flt.until is not None and flt.since >= flt.until:
        raise ToolError(f"since ({since}) must be before until ({until})")
    b = index.backends()
    try:
        hits = search(text, b.embedder, b.store, flt, top_k=top_k)
    except ValueError as exc:  # e.g. a query with no searchable words
        raise ToolError(str(exc)) from None
    return {**viewer.to_json(), "hits": [hit_json(hit, snippet(hit.text, text, title=hit.title)) for hit in hits]}


def fetch_document(index: Index, viewer: Viewer, document_id: str) -> dict[str, Any]:
    """The whole document ``document_id`` (text reassembled from its chunks, in order) with
    its metadata and link, if ``viewer`` may see it. A document that does not exist and one
    the viewer may not see get the same answer: the answer never tells them apart."""
    doc_id = (document_id or "").strip()
    source, _, native = doc_id.partition(":")
    if not native or len(doc_id) > MAX_DOCUMENT_ID_CHARS:
        raise ToolError(f"document_id must be a search hit's document_id, like 'jira:SUBS-1' (source:id), got {document_id[:80]!r}")
    known_sources(index, [source])
    b = index.backends()
    entry = b.state.ledger.entries([doc_id]).get(doc_id)
    chunks: list[Hit] = []
    if entry is not None and not entry.deleted and entry.chunk_count > 0:
        # A filter-only read: the store selects the document's chunks with the access rule
        # (inside its query, as for a search); the probe vector's ranking does not matter.
        probe = [1.0] * int(b.embedder.dimensions)
        wanted = min(int(entry.chunk_count), MAX_DOCUMENT_CHUNKS)
        flt = viewer.search_filter(documents=(doc_id,))
        chunks = [hit for hit in b.store.query(probe, wanted, flt, mode="dense") if _document_of(hit) == doc_id]
    if not chunks:
        who = f"as {viewer.email}" if viewer.email else "with public access only"
        raise ToolError(f"no document {doc_id!r} that you may see {who}: use a document_id from a search hit")
    first = min(chunks, key=chunk_index)
    md = dict(first.metadata or {})
    return {
        **viewer.to_json(),
        "document_id": doc_id,
        "title": first.title,
        "link": safe_link(first.url),
        "source": first.source,
        "projects": _strings(md.get("projects")),
        "timestamp": _timestamp(md.get("timestamp_epoch")),
        "access": "public" if md.get("access_type", "all") == "all" else "restricted",
        "metadata": {k: v for k, v in md.items() if k not in HIDDEN_METADATA},
        "text": reassemble(chunks),
        "chunks": len(chunks),
        "complete": len(chunks) >= int(entry.chunk_count) if entry else False,
    }


def sync_status(index: Index) -> dict[str, Any]:
    """Per-source health and last sync: ``vector-sync status --json``'s rows."""
    from vector_sync.status import all_status

    b = index.backends()
    names = list(index.sources())
    schedules = index.schedules(names) if index.schedules else None
    # The active embedder's fingerprint: a source embedded under another shows "needs-rebuild", as in `status`.
    fingerprint = b.embedder.fingerprint
    return {"sources": [row.to_json() for row in all_status(names, b.state, b.store, schedules, fingerprint)]}


# ----------------------------------------------------------------------------- arguments


def known_sources(index: Index, sources: Sequence[str] | None) -> tuple[str, ...]:
    names = list(index.sources())
    wanted = [str(s).strip().lower() for s in (sources or [])]
    if len(wanted) > MAX_FILTER_VALUES:
        raise ToolError(f"at most {MAX_FILTER_VALUES} sources")
    unknown = [s for s in wanted if s not in names]
    if unknown:
        raise ToolError(f"unknown source {', '.join(repr(s[:40]) for s in unknown)}; the sources are: {', '.join(names)}")
    return tuple(dict.fromkeys(wanted))


def project_keys(projects: Sequence[str] | None) -> tuple[str, ...]:
    keys = [str(p).strip().upper() for p in (projects or [])]
    if len(keys) > MAX_FILTER_VALUES:
        raise ToolError(f"at most {MAX_FILTER_VALUES} projects")
    bad = [k for k in keys if not k or len(k) > MAX_PROJECT_CHARS]
    if bad:
        raise ToolError(f"project keys are short codes like 'SUBS' (1 to {MAX_PROJECT_CHARS} characters)")
    return tuple(dict.fromkeys(keys))


def moment(name: str, value: str | None, end_of_day: bool = False) -> datetime | None:
    """A date (``2026-11-18``; for ``until`` its end) or an ISO time, in the range every search
    takes (``search_request.parse_bound``, shared with the CLI and the page's API)."""
    try:
        return parse_bound(None if value is None else str(value), name, end_of_day=end_of_day)
    except ValueError as exc:
        raise ToolError(str(exc)) from None


# ----------------------------------------------------------------------------- answers


def hit_json(hit: Hit, snippet: str) -> dict[str, Any]:
    md = hit.metadata or {}
    return {
        "document_id": _document_of(hit),
        "title": hit.title,
        "link": hit_link(hit),  # a meeting's hit jumps to its moment, as on the page and in the CLI
        "snippet": snippet,
        "source": hit.source,
        "projects": _strings(md.get("projects")),
        "timestamp": _timestamp(md.get("timestamp_epoch")),
        "score": round(float(hit.score), 4),
    }


def _document_of(hit: Hit) -> str:
    from vector_sync.search import document_id

    return document_id(hit)


def _strings(value: Any) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else [str(v) for v in value]


def _timestamp(epoch: Any) -> str | None:
    if isinstance(epoch, bool) or not isinstance(epoch, (int, float)):
        return None
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat()
