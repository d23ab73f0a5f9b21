"""Access rules end to end: private Slack channels and restricted meetings are found only by
the people allowed to see them (what `vector-sync search --user` and the plugin apply)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.sourcekit import Backends, sandbox_settings
from vector_sync.models import SearchFilter, Window
from vector_sync.search import search

OUTSIDER = "outsider@example.com"


@pytest.fixture()
def kit(sandbox, monkeypatch, tmp_path, workspace):
    kit = Backends(tmp_path, sandbox_settings(monkeypatch, sandbox))
    window = Window(workspace.start - timedelta(hours=1), workspace.anchor)
    for name in ("slack", "fireflies"):
        kit.run(name, window)
    return kit


@pytest.mark.parametrize("source, access_type", [("slack", "private"), ("fireflies", "shared")])
def test_restricted_documents_only_reach_listed_users(kit, workspace, source, access_type):
    active = kit.state.projects.active()
    docs = [
        d
        for d in kit.source(source).fetch(Window(workspace.start - timedelta(hours=1), workspace.anchor))
        if d.access_type == access_type and (not d.projects or set(d.projects) & active)  # indexed ones
    ]
    assert docs, f"the sample needs {access_type} {source} documents"
    doc = docs[0]
    member = doc.access_list[0]
    assert OUTSIDER not in doc.access_list and member == member.lower()
    query = doc.title

    def found(user: str | None, all_access: bool = False) -> set[str]:
        hits = search(query, kit.embedder, kit.store, SearchFilter(sources=(source,), user=user, all_access=all_access), top_k=50)
        return {h.metadata.get("document_id", h.id.rsplit("#", 1)[0]) for h in hits}

    assert doc.id not in found(None)  # nobody named: public items only
    assert doc.id in found(None, all_access=True)
    assert doc.id in found(member)
    assert doc.id in found(member.upper())  # emails compare case-insensitively
    assert doc.id not in found(OUTSIDER)
    outsider_hits = search(query, kit.embedder, kit.store, SearchFilter(sources=(source,), user=OUTSIDER), top_k=50)
    assert all(h.metadata["access_type"] == "all" or OUTSIDER in h.metadata.get("access_list", []) for h in outsider_hits)
