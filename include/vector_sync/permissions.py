"""The permission pass: who may see what is already indexed, re-read upstream and written to
the index and the ledger in place, with no embedding.

A sync only re-reads the items of its window (plus Slack's lookback), so without this pass a
person removed from a private channel would keep finding its older messages, and a channel made
private would stay searchable by everyone. The pass lists the source's access scopes
(``Source.access_scopes``: a Slack channel, a Fireflies meeting), compares each with the access
the ledger recorded for the scope's documents, and for the scopes that changed updates the
store's ``access_type``/``access_list`` (one request per scope where the store filters on
metadata) and then the ledger. A pass that finds no change writes nothing.

Fail closed: an indexed scope the listing no longer shows (the bot left the channel, the
meeting was deleted or hidden) gets ``Source.restricted_access``, visible to nobody until a
pass sees it again or a prune removes it; a ledger row whose access is unknown (written before
the ledger kept it) counts as changed.

Re-embedding is decided on hashes that leave the access fields out (``document_body_hash``,
``chunk_body_hash``), so a document whose access the pass changed re-embeds on its next fetch
only if its content changed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from vector_sync.errors import FatalError
from vector_sync.models import Chunk, Document, sha256_json
from vector_sync.sources.base import Source
from vector_sync.state import Access, StateStore
from vector_sync.stores.base import VectorStore

log = logging.getLogger(__name__)

ACCESS_KEYS = ("access_type", "access_list")


def supports_permissions(source_class: type[Source]) -> bool:
    return source_class.access_scopes is not Source.access_scopes


def document_access(doc: Document) -> Access:
    return Access.normal(doc.access_type, doc.access_list)


def document_body_hash(doc: Document) -> str:
    """``Document.content_hash`` without the access fields: what decides re-embedding."""
    data = doc.to_json()
    for key in ACCESS_KEYS:
        data.pop(key, None)
    data["metadata"] = _without_access(data["metadata"])
    return sha256_json(data)


def chunk_body_hash(chunk: Chunk) -> str:
    """``Chunk.content_hash`` without the access fields."""
    return sha256_json({"text": chunk.text, "metadata": _without_access(chunk.metadata)})


def apply_access(store: VectorStore, state: StateStore, doc_ids: list[str], access: Access, where: Mapping[str, str] | None = None) -> int:
    """Store first, then the ledger: a crash in between re-does the update, never skips it.
    Returns the chunks the store matched."""
    matched = store.update_access(doc_ids, access.type, access.emails, where=where)
    state.ledger.set_access(doc_ids, access)
    return matched


def sync_permissions(source: Source, state: StateStore, store: VectorStore | None, dry_run: bool = False) -> dict[str, Any]:
    """Bring the indexed access of ``source`` in line with upstream; returns what changed."""
    # The ledger is read before listing: a document a sync writes meanwhile carries the access
    # its fetch saw and is judged again by the next pass.
    known = state.ledger.access_of_source(source.name)
    since = min((updated for _, updated in known.values() if updated is not None), default=None)
    listing = source.access_scopes(since)
    if listing is None:
        raise FatalError(f"source '{source.name}' cannot list who may see its items, so its permissions cannot be synced")
    fresh = {scope.key: scope for scope in listing}
    by_scope: dict[str, list[str]] = {}
    for doc_id in known:
        key = source.access_scope_of(doc_id)
        if key is not None:
            by_scope.setdefault(key, []).append(doc_id)

    result: dict[str, Any] = {
        "source": source.name,
        "listed_scopes": len(fresh),
        "indexed_scopes": len(by_scope),
        "indexed_documents": len(known),
        "changed_scopes": 0,
        "restricted_scopes": 0,
        "updated_documents": 0,
        "updated_chunks": 0,
        "dry_run": dry_run,
    }
    changed: list[str] = []
    for key, doc_ids in sorted(by_scope.items()):
        scope = fresh.get(key)
        target = Access.normal(scope.access_type, scope.access_list) if scope else Access.normal(*source.restricted_access)
        if all(known[doc_id][0] == target for doc_id in doc_ids):
            continue
        changed.append(key)
        result["changed_scopes"] += 1
        result["restricted_scopes"] += scope is None
        result["updated_documents"] += len(doc_ids)
        if not dry_run:
            if store is None:
                raise FatalError("the permission pass needs a vector store to update")
            result["updated_chunks"] += apply_access(store, state, sorted(doc_ids), target, scope.where if scope else None)
    result["changed"] = changed[:50]
    log.info(
        "permissions of %s: %d of %d indexed scopes changed (%d restricted), %d documents%s",
        source.name,
        result["changed_scopes"],
        len(by_scope),
        result["restricted_scopes"],
        result["updated_documents"],
        " (dry run)" if dry_run else "",
    )
    return result


def _without_access(metadata: Mapping[str, Any] | Iterable[Any]) -> dict[str, Any]:
    return {key: value for key, value in dict(metadata).items() if key not in ACCESS_KEYS}
