"""A measurement, not a test (``make test`` does not collect it): the hybrid ``alpha`` of
PineconeStore on the sandbox workspace, through the production path (the Pinecone simulator,
BM25 statistics in SQLite), with the OpenAI simulator's vectors and the hashing embedder.

    .venv/bin/python -m pytest -q -s tests/measure_pinecone_alpha.py

One JSON line per embedder and alpha: MRR@10, top-1 and top-3 of the right document for two
kinds of query: each Jira issue key as typed ("exact") and each Jira summary or Notion page
title ("title"), answered by that issue or page. Both embedders are lexical, so paraphrases
(where the dense share earns its keep) cannot be measured here: see the README.
"""

from __future__ import annotations

import json
from datetime import timedelta

from pinecone import Pinecone

from tests.sourcekit import Backends, sandbox_settings
from vector_sync.embedders.hashing import HashingEmbedder
from vector_sync.embedders.openai import OpenAIEmbedder, make_client
from vector_sync.models import Window
from vector_sync.search import search
from vector_sync.stores.pinecone import PineconeStore, create_index

ALPHAS = (0.0, 0.1, 0.2, 0.3, 0.35, 0.4, 0.5, 1.0)
SOURCES = ("jira", "tempo", "notion", "slack", "fireflies")


def labelled_queries(store: PineconeStore) -> dict[str, list[tuple[str, str]]]:
    """(query, expected document) from what the index holds: keys and titles of first chunks."""
    queries: dict[str, list[tuple[str, str]]] = {"exact": [], "title": []}
    for source in ("jira", "notion"):
        first = [i for i in store.ids(f"{source}:") if i.endswith("#0")]
        for record in store.index.fetch(ids=first, namespace=store.namespace).vectors.values():
            doc, title = record.metadata["document_id"], record.metadata["title"]
            key = doc.split(":", 1)[1]
            if source == "jira":
                queries["exact"].append((key, doc))
                title = title[len(key) :] if title.startswith(key) else title
            queries["title"].append((title.strip(" :"), doc))
    return queries


def test_measure_alpha(sandbox, monkeypatch, workspace, tmp_path):
    settings = sandbox_settings(monkeypatch, sandbox)
    window = Window(workspace.start - timedelta(hours=1), workspace.anchor)
    openai = OpenAIEmbedder(make_client(f"{sandbox.base_url('openai')}/v1", "sandbox-token", max_retries=2))
    for name, embedder in (("openai-simulator", openai), ("hashing", HashingEmbedder())):
        backends = Backends(tmp_path / name, settings)
        backends.embedder = embedder
        pc = Pinecone(api_key="sandbox-token", host=sandbox.base_url("pinecone"))
        backends.store = PineconeStore(pc.Index(host=create_index(pc, f"alpha-{name}", embedder.dimensions)), bm25=backends.state.bm25)
        for source in SOURCES:
            backends.run(source, window)
        queries = labelled_queries(backends.store)
        for alpha in ALPHAS:
            backends.store.alpha = alpha
            row: dict = {"bench": "pinecone_alpha", "embedder": name, "alpha": alpha}
            for kind, pairs in queries.items():
                ranks = []
                for query, expected in pairs:
                    docs = [h.metadata["document_id"] for h in search(query, backends.embedder, backends.store, top_k=10, mode="hybrid")]
                    ranks.append(docs.index(expected) + 1 if expected in docs else None)
                row[kind] = {
                    "n": len(ranks),
                    "mrr_at_10": round(sum(1 / r for r in ranks if r) / len(ranks), 3),
                    "top1": round(sum(r == 1 for r in ranks) / len(ranks), 3),
                    "top3": round(sum(bool(r and r <= 3) for r in ranks) / len(ranks), 3),
                }
            print(json.dumps(row))
