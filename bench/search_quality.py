"""Retrieval quality on the sandbox workspace: labelled queries, three search modes, three embedders.

The sandbox (scale 1, the demo's data, at bench/run.py's fixed anchor so document ids are
stable) runs in its own process; each embedder's sync goes through the same path as
``vector-sync sync`` (``sync_window``) into its own temporary LanceDB store and state DB.
Then every query of ``bench/labels/*.json`` is searched with ``search.search`` in each mode,
as an operator sees it (``SearchFilter(all_access=True)``: the labels include private items),
asked at the anchor (``now=ANCHOR``: "last week" is the week before the workspace's Friday).

One JSON line per (embedder, mode):
{"bench": "search_quality", "embedder": "minilm", "store": "lancedb", "mode": "hybrid",
 "queries": 84, "recall_at_5": R, "mrr_at_10": M, "ndcg_at_10": N,
 "by_kind": {"exact": {"recall_at_5": R, "top3": T, "mrr_at_10": M, "queries": Q}, ...}}
A mode the store does not serve yet prints ``"error": "<its ValueError>"`` instead of figures.
The last line is the offline default's hybrid one, the configuration the issue sets targets for.

Metrics (binary relevance, a document counts once however many of its chunks match):
- ``recall_at_5``: the labelled documents found in the top 5, over min(5, labelled); a
  question answered by many documents (all of a person's worklogs) is not capped below 1.
- ``top3``: the share of queries with at least one labelled document in the top 3.
- ``mrr_at_10``: 1 / rank of the first labelled document in the top 10 (0 when none).
- ``ndcg_at_10``: DCG of the top 10 over the ideal DCG with min(10, labelled) hits.

The labels were written from the workspace's content (include/sandbox/*.py generators and the
documents the sources yield), never from search results: see bench/labels/README.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path
from typing import Any

from run import ANCHOR, sandbox_server  # bench/run.py: the same sandbox start-up as every line

from vector_sync.cli.output import emit, reserved_stdout

ROOT = Path(__file__).resolve().parents[1]
LABELS = Path(__file__).resolve().parent / "labels"
KINDS = ("exact", "paraphrase", "people_time", "cross_source")
MODES = ("keyword", "dense", "hybrid")
EMBEDDERS = ("hashing", "wordllama", "minilm")  # the default last: its hybrid line is the one bench/run.py keeps
# The production path, on the sandbox's OpenAI and Pinecone simulators: the simulator's vectors
# are lexical (it cannot run OpenAI's model), so only the exact-identifier figures say anything
# of production; they show Pinecone's sparse-dense query (our BM25 sparse vectors) at work.
PRODUCTION = "openai+pinecone"
PRODUCTION_INDEX = "search-quality"
SANDBOX_TOKEN = "sandbox-token"
TOP_K = 10
SOURCES = ("jira", "slack", "notion", "fireflies", "tempo")


def use_production_simulators(url: str) -> None:
    """Connections to the sandbox's OpenAI and Pinecone simulators, and a fresh sparse-dense index."""
    from pinecone import Pinecone

    from vector_sync.stores.pinecone import create_index

    base = url.rstrip("/")
    os.environ["AIRFLOW_CONN_OPENAI_DEFAULT"] = json.dumps({"conn_type": "openai", "host": f"{base}/openai/v1", "password": SANDBOX_TOKEN})
    os.environ["AIRFLOW_CONN_PINECONE_DEFAULT"] = json.dumps(
        {"conn_type": "pinecone", "host": f"{base}/pinecone", "password": SANDBOX_TOKEN, "extra": {"region": "us-east-1"}}
    )
    create_index(Pinecone(api_key=SANDBOX_TOKEN, host=f"{base}/pinecone"), PRODUCTION_INDEX, 1536)


def load_labels(folder: Path = LABELS) -> list[dict[str, Any]]:
    """Every labelled query, each with its ``kind`` (the file it comes from)."""
    queries = []
    for kind in KINDS:
        for entry in json.loads((folder / f"{kind}.json").read_text()):
            if not entry.get("relevant"):
                raise ValueError(f"{kind}: query {entry.get('query')!r} has no relevant document")
            queries.append({**entry, "kind": kind})
    return queries


def sync_workspace(url: str, embedder: str, folder: Path) -> Any:
    """Sync every source's whole workspace with ``embedder`` into ``folder``; the Runtime."""
    from vector_sync.airflow.backends import Runtime
    from vector_sync.airflow.bootstrap import projects_from, read_settings
    from vector_sync.models import Window
    from vector_sync.run import sync_window
    from vector_sync.runtime import RuntimeConfig

    production = {"embedder": "openai", "store": "pinecone", "options": {"index": PRODUCTION_INDEX}} if embedder == PRODUCTION else {}
    config = RuntimeConfig(
        state_url=f"sqlite:///{folder / 'state.db'}",
        staging_url=(folder / "staging").as_uri(),
        embedder=embedder,
        lancedb_uri=str(folder / "lancedb"),
    ).with_overrides(production)
    runtime = Runtime(config)
    # Every project active, ARCH included: the labels cover the whole workspace.
    runtime.state.projects.upsert([(key, name, True) for key, name, _ in projects_from(read_settings())])
    window = Window(ANCHOR - timedelta(days=30), ANCHOR)
    for source in SOURCES:
        counts = sync_window(runtime.source(source), window, runtime, run_id=f"quality-{embedder}")
        print(f"# {embedder}: {source} {counts['fetched']} documents, {counts['embedded']} chunks embedded", file=sys.stderr)
    return runtime


def evaluate(queries: list[dict[str, Any]], ranked: list[list[str]]) -> dict[str, Any]:
    """Overall and per-kind figures for ``ranked`` (each query's document ids, best first)."""
    per_query = [_scores(q["relevant"], ids) for q, ids in zip(queries, ranked)]
    figures = _mean(per_query, ("recall_at_5", "mrr_at_10", "ndcg_at_10"))
    by_kind = {}
    for kind in KINDS:
        mine = [s for q, s in zip(queries, per_query) if q["kind"] == kind]
        if mine:
            by_kind[kind] = {**_mean(mine, ("recall_at_5", "top3", "mrr_at_10")), "queries": len(mine)}
    return {"queries": len(queries), **figures, "by_kind": by_kind}


def _scores(relevant: Iterable[str], ids: list[str]) -> dict[str, float]:
    wanted = set(relevant)
    hits = [doc in wanted for doc in ids[:TOP_K]]
    first = next((rank for rank, hit in enumerate(hits, 1) if hit), None)
    dcg = sum(1 / math.log2(rank + 1) for rank, hit in enumerate(hits, 1) if hit)
    ideal = sum(1 / math.log2(rank + 1) for rank in range(1, min(len(wanted), TOP_K) + 1))
    return {
        "recall_at_5": sum(hits[:5]) / min(len(wanted), 5),
        "top3": float(any(hits[:3])),
        "mrr_at_10": 1 / first if first else 0.0,
        "ndcg_at_10": dcg / ideal,
    }


def _mean(rows: list[dict[str, float]], keys: tuple[str, ...]) -> dict[str, float]:
    return {key: round(sum(r[key] for r in rows) / len(rows), 3) for key in keys}


def measure(queries: list[dict[str, Any]], runtime: Any, embedder: str, misses: bool = False) -> list[dict[str, Any]]:
    """One line per mode; ``misses`` also prints, to stderr, the queries whose answer is not in the top 5."""
    from vector_sync.models import SearchFilter
    from vector_sync.search import document_id, search

    engine, store = runtime.embedder(), runtime.store()
    stored = {chunk.rsplit("#", 1)[0] for chunk in store.ids("")}
    unknown = sorted({doc for q in queries for doc in q["relevant"]} - stored)
    if unknown:  # the sandbox's data changed under the labels: figures would be meaningless
        raise SystemExit(f"labelled documents not in the index: {unknown[:10]} ({len(unknown)} in all)")
    lines = []
    for mode in MODES:
        store_kind = "pinecone" if embedder == PRODUCTION else "lancedb"
        line: dict[str, Any] = {"bench": "search_quality", "embedder": embedder, "store": store_kind, "mode": mode}
        try:
            ranked = [
                [
                    document_id(h)
                    for h in search(q["query"], engine, store, SearchFilter(all_access=True), top_k=TOP_K, mode=mode, now=ANCHOR)
                ]
                for q in queries
            ]
        except ValueError as exc:
            lines.append({**line, "error": str(exc)})
            continue
        lines.append({**line, **evaluate(queries, ranked)})
        if misses:
            for q, ids in zip(queries, ranked):
                if not set(q["relevant"]) & set(ids[:5]):
                    print(f"# miss {embedder}/{mode} [{q['kind']}] {q['query']!r}: got {ids[:3]}", file=sys.stderr)
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--embedder", action="append", choices=[*EMBEDDERS, PRODUCTION], help="default: all three offline ones")
    parser.add_argument("--misses", action="store_true", help="print the queries missed in the top 5 (stderr)")
    args = parser.parse_args()
    queries = load_labels()
    os.environ.setdefault("VECTOR_SYNC_SETTINGS_FILE", str(ROOT / "airflow_settings.yaml"))
    os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="vector-sync-quality-airflow-")  # no DB: env connections
    with sandbox_server("--scale", "1") as url:
        os.environ["VECTOR_SYNC_SANDBOX_URL"] = url
        from vector_sync.airflow.bootstrap import export_connections, export_variables, read_settings

        # Notion's 3 requests/s pacing is measured elsewhere (notion_3rps); here it only waits.
        os.environ["AIRFLOW_VAR_VECTOR_SYNC_NOTION"] = json.dumps({"options": {"rps": None}})
        settings = read_settings()
        export_connections(settings)
        export_variables(settings)
        for embedder in args.embedder or EMBEDDERS:
            if embedder == PRODUCTION:
                use_production_simulators(url)
            folder = Path(tempfile.mkdtemp(prefix=f"vector-sync-quality-{embedder}-"))
            runtime = sync_workspace(url, embedder, folder)
            for line in measure(queries, runtime, embedder, misses=args.misses):
                emit(json.dumps(line))
    return 0


if __name__ == "__main__":
    with reserved_stdout():  # results on stdout, every log line (Airflow's too) on stderr
        sys.exit(main())
