"""Search latency at 100,000 chunks on the embedded store (LanceDB), queries embedded by the default.

Builds a LanceDB table of 100,000 synthetic work chunks in a temporary folder (Jira issues,
Slack threads, Notion pages, meeting transcripts and worklogs of a fictional company, written
from templates; about a tenth private or restricted), the way syncs write it: upserts of
500 chunks (``pipeline.VECTORS_PER_UPSERT``), the full-text indexes kept current by the store. Then 200 mixed queries
(dense, keyword, hybrid; half of them with filters: a user, a source, a project, dates) go
through ``search.search`` in this process, as the API server runs them, after 10 warm-up
queries. One JSON line per mode, hybrid last:

{"bench": "search_latency", "chunks": 100000, "mode": "hybrid", "queries": 67, "p50_ms": ..., "p95_ms": ...}

Target (issue #17): hybrid p95 < 150 ms.

Before the queries, the two tasks of the hourly ``vector_sync_optimize`` DAG run on the table,
each in a fresh process that imports what its Airflow task imports: ``index_vectors`` (the
vector index) then ``compact``. Their time and peak RSS are one more line first:
{"bench": "index_maintenance", "chunks": ..., "index_vectors": {"vector_index": "built", "seconds": ..., "peak_rss_mb": ...}, "compact": {...}}.
``--exact`` skips them: the figures of a table the DAG has not indexed yet (the exact scan).

The stored vectors come from the hashing embedder (MiniLM would take hours to embed 100,000
chunks on 2 cores); each query is embedded by the offline default, MiniLM, which is also 384
wide, so its cost (~10-30 ms a query here) is inside the figure. Relevance is not measured here
(bench/search_quality.py does that), only the time a search takes.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from vector_sync.cli.output import emit, reserved_stdout

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "include")]

CHUNKS = 100_000
QUERIES = 200
WARM_UP = 10
UPSERT_ROWS = 500  # pipeline.VECTORS_PER_UPSERT: the fragments a sync leaves, which compaction merges
START = datetime(2026, 5, 1, tzinfo=timezone.utc)
DAYS = 200

PROJECTS = ["SUBS", "BC", "ARCH", "CORE", "MOB", "DATA"]
PEOPLE = [
    f"{first} {last}"
    for first in ("Dana", "Ines", "Jonas", "Priya", "Malik", "Sofia", "Tomas", "Yuki")
    for last in ("Reyes", "Chen", "Adeyemi", "Novak", "Haddad", "Larsen")
]
SUBJECTS = [
    "invoice PDF export",
    "partial refund button",
    "EU VAT ID validation",
    "proration on plan upgrades",
    "dunning schedule",
    "checkout redesign",
    "webhook retries",
    "password reset email",
    "usage-based billing",
    "annual plan discount",
    "tax report",
    "coupon codes",
    "payment method update",
    "trial expiry banner",
    "SSO login",
    "audit log export",
    "data retention job",
    "search indexing lag",
    "mobile push tokens",
    "CSV import",
    "rate limiter",
    "currency rounding",
    "subscription pause",
    "seat-based pricing",
]
PROBLEMS = [
    "times out",
    "fails for enterprise accounts",
    "shows the wrong total",
    "is slow on large accounts",
    "breaks after the last deploy",
    "needs a design review",
    "double-charges some customers",
    "drops events under load",
    "is missing translations",
    "returns a 500 error",
]
FILLER = [
    "We checked the logs and the dashboards.",
    "The fix is behind a feature flag for now.",
    "Support asked for an update on the ticket.",
    "QA reproduced it on staging with a copy of the data.",
    "The root cause is a missing index on the accounts table.",
    "Rolled back and opened a follow-up.",
    "Customers on the annual plan are affected first.",
    "The runbook has the steps for on-call.",
    "Finance wants the numbers before the month closes.",
    "Design shared new mockups in the channel.",
    "We agreed to ship it in the next release train.",
    "The migration ran for two hours without errors.",
    "Monitoring shows the error rate back to normal.",
    "A regression test now covers the edge case.",
]


def chunk_text(rng: random.Random, n: int) -> tuple[str, str, dict]:
    """One chunk: title line, body and flat metadata, shaped like the source it imitates."""
    project = PROJECTS[n % len(PROJECTS)]
    key = f"{project}-{n % 900 + 1}"
    subject, problem = rng.choice(SUBJECTS), rng.choice(PROBLEMS)
    person = rng.choice(PEOPLE)
    day = START + timedelta(days=rng.randrange(DAYS))
    kind = rng.choices(["jira", "slack", "notion", "fireflies", "tempo"], weights=[30, 30, 15, 10, 15])[0]
    sentences = lambda k: " ".join(rng.choice(FILLER) for _ in range(k))  # noqa: E731
    if kind == "jira":
        title = f"{key}: {subject.capitalize()} {problem}"
        body = f"Type: Bug. Status: In Progress. Reporter: {person}. {subject.capitalize()} {problem}. " + sentences(rng.randint(6, 20))
    elif kind == "slack":
        title = f"#{project.lower()}-eng: {subject} {problem}"
        body = f"{person}: the {subject} {problem} again, see {key}. " + sentences(rng.randint(1, 5))
    elif kind == "notion":
        title = f"{subject.capitalize()}: design notes"
        body = "\n".join(f"Step {i} of the runbook: {rng.choice(FILLER)}" for i in range(rng.randint(15, 40)))
    elif kind == "fireflies":
        title = f"{project} weekly sync ({day:%Y-%m-%d})"
        body = "\n".join(f"{rng.choice(PEOPLE)}: {sentences(2)} About the {rng.choice(SUBJECTS)}." for _ in range(rng.randint(10, 30)))
    else:
        title = f"Worklog: {person} on {key} ({day:%Y-%m-%d})"
        body = f"{person} logged {rng.randint(1, 8)}h on {key} {subject.capitalize()} {problem} on {day:%Y-%m-%d}: {sentences(1)}"
    private = kind in ("slack", "fireflies") and rng.random() < 0.3
    members = sorted({f"{rng.choice(PEOPLE).split()[0].lower()}@example.com" for _ in range(5)})
    metadata = {
        "source": kind,
        "title": title,
        "url": f"https://example.com/{kind}/{n}",
        "projects": [project],
        "timestamp_epoch": int(day.timestamp()),
        "access_type": ("private" if kind == "slack" else "shared") if private else "all",
        "access_list": members if private else [],
        "chunk_index": 0,
    }
    return title, f"{title}\n{body}", metadata


def queries(rng: random.Random) -> list[tuple[str, str, object]]:
    from vector_sync.models import SearchFilter

    texts = [f"{s} {p}" for s in SUBJECTS for p in PROBLEMS[:3]] + [f"{p}-{rng.randint(1, 900)}" for p in PROJECTS]
    texts += [f"what did {rng.choice(PEOPLE).split()[0]} log on {rng.choice(PROJECTS)} last week" for _ in range(10)]
    texts += ["how do we charge customers who switch plans mid-cycle", "on-call runbook steps", "error rate after the deploy"]
    filters = [
        SearchFilter(user="dana@example.com"),
        SearchFilter(sources=("jira",)),
        SearchFilter(projects=("BC",), user="ines@example.com"),
        SearchFilter(since=START + timedelta(days=60), until=START + timedelta(days=120)),
        SearchFilter(sources=("slack", "fireflies"), user="jonas@example.com"),
    ]
    modes = ["dense", "keyword", "hybrid"]
    return [(rng.choice(texts), modes[i % 3], rng.choice(filters) if i % 2 else None) for i in range(QUERIES)]


MAINTENANCE_STEP = """
import json, resource, sys, time
import airflow.sdk  # every task process has it
from vector_sync.airflow import optimize  # what the task imports
from vector_sync.stores.lancedb import LanceDBStore
started = time.perf_counter()
report = getattr(LanceDBStore(sys.argv[2]), sys.argv[1])()
report["seconds"] = round(time.perf_counter() - started, 1)
report["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
print(json.dumps(report))
"""


def run_maintenance(folder: str) -> dict:
    """The optimize DAG's two task bodies on ``folder``'s table, each in a fresh process."""
    steps = {}
    for step in ("index_vectors", "compact"):
        done = subprocess.run([sys.executable, "-c", MAINTENANCE_STEP, step, folder], capture_output=True, text=True)
        if done.returncode:
            raise SystemExit(f"{step} failed: {done.stderr[-2000:]}")
        steps[step] = json.loads(done.stdout.strip().splitlines()[-1])
    return steps


def main() -> int:
    from vector_sync.embedders.hashing import HashingEmbedder
    from vector_sync.embedders.minilm import MiniLMEmbedder
    from vector_sync.models import VectorRecord
    from vector_sync.search import search
    from vector_sync.stores.lancedb import LanceDBStore

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folder", nargs="?", help="keep the index in this folder for the next run (profiling)")
    parser.add_argument("--chunks", type=int, default=CHUNKS, help=f"chunks in the index (default {CHUNKS:,}, the target's size)")
    parser.add_argument("--exact", action="store_true", help="skip the optimize DAG's vector index: the exact scan's figures")
    args = parser.parse_args()
    chunks = args.chunks
    if chunks < 1:
        parser.error(f"--chunks must be at least 1, got {chunks}")
    rng = random.Random(17)
    embedder = HashingEmbedder()
    asker = MiniLMEmbedder()  # the default's query cost, on vectors of the same width
    with tempfile.TemporaryDirectory(prefix="search-latency-") as folder:
        store = LanceDBStore(args.folder or str(Path(folder) / "lancedb"))
        started = time.perf_counter()
        for first in range(0, chunks if not store.count() else 0, UPSERT_ROWS):
            rows = [chunk_text(rng, n) for n in range(first, min(first + UPSERT_ROWS, chunks))]
            matrix = embedder.embed_matrix([text for _, text, _ in rows])
            store.upsert(
                [
                    VectorRecord(f"{md['source']}:{first + i}#0", f"{md['source']}:{first + i}", matrix[i], text, md)
                    for i, (_, text, md) in enumerate(rows)
                ]
            )
        rng = random.Random(18)
        build_s = time.perf_counter() - started
        if store.count() != chunks:
            raise SystemExit(f"the index holds {store.count()} chunks, not {chunks}")
        if not args.exact:
            emit(json.dumps({"bench": "index_maintenance", "chunks": chunks, **run_maintenance(store.uri)}))
        else:  # a kept folder may hold one from an earlier run
            table = store._open()
            for index in table.list_indices():
                if list(index.columns) == ["vector"]:
                    table.drop_index(index.name)

        plan = queries(rng)
        for text, mode, flt in plan[:WARM_UP]:
            search(text, asker, store, flt, mode=mode)
        timings: dict[str, list[float]] = {"dense": [], "keyword": [], "hybrid": []}
        found = 0
        for text, mode, flt in plan:
            t0 = time.perf_counter()
            hits = search(text, asker, store, flt, top_k=10, mode=mode)
            timings[mode].append((time.perf_counter() - t0) * 1000)
            found += bool(hits)
        for mode, values in timings.items():
            values.sort()
            emit(
                json.dumps(
                    {
                        "bench": "search_latency",
                        "chunks": chunks,
                        "query_embedder": asker.fingerprint,
                        "mode": mode,
                        "queries": len(values),
                        "p50_ms": round(statistics.median(values), 1),
                        "p95_ms": round(values[int(0.95 * (len(values) - 1))], 1),
                        "max_ms": round(values[-1], 1),
                        "build_s": round(build_s, 1),
                        "vector_index": not args.exact,
                        "queries_with_hits": found,
                    }
                )
            )
    return 0


if __name__ == "__main__":
    with reserved_stdout():  # results on stdout, every log line (Airflow's too) on stderr
        sys.exit(main())
