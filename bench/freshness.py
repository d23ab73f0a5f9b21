"""Freshness with webhooks: seconds from an upstream change to searchable (or gone).

A real Airflow as `make up` runs it (tests/hookskit.py: api-server with the plugin's receivers,
scheduler with LocalExecutor, dag-processor; PostgreSQL metadata, the embedded state and index),
the sandbox's sample workspace indexed first (in this process), then 50 changes made in the
sandbox one a second (``POST /_sandbox/changes``, each sending its vendor's signed webhook):
Jira comments, summary edits and deletions, Slack thread deletions, Fireflies meeting changes.
A change counts as searchable (or gone) when the events run that took its event has written
the index and the ledger (the event's ``done_at``, set after the upsert/delete); the index is
then checked: edited documents changed, deleted ones left.

Only the events DAGs run (the interval DAGs, the safety net, are paused so they cannot be the
ones that found a change). The Notion and Slack simulators cannot edit content, so Notion has
no change here and Slack only deletions.

Prints one JSON line:
{"bench": "freshness", "changes": 50, "p50_s", "p95_s", "max_s", "dag_runs", "interval_expected_delay_s", ...}

    .venv/bin/python bench/freshness.py [--changes 50] [--every-s 1.0]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

ANCHOR = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)
SOURCES = ("jira", "slack", "fireflies")
INTERVAL_S = 15 * 60  # the interval DAGs' default schedule: a change waits half of it on average, plus the run
TIMEOUT_S = 600


def index_workspace(box, data: Path, workspace) -> None:
    """Index the sample (what the interval DAGs would have done) with the DAGs' default backends."""
    from tests.sourcekit import sandbox_source
    from vector_sync.models import Window
    from vector_sync.run import sync_window
    from vector_sync.runtime import build_embedder, build_store, embedded_config

    os.environ["VECTOR_SYNC_DATA_DIR"] = str(data)
    config = embedded_config()

    class Backends:
        state = box.state

        def embedder(self):
            return build_embedder(config)

        def store(self):
            return build_store(config, state=box.state)

        def staging_root(self):
            return data / "staging"

    for name in SOURCES:
        sync_window(
            sandbox_source(name, box.sandbox, box.state), Window(workspace.start - timedelta(hours=1), workspace.anchor), Backends()
        )


def plan_changes(box, count: int, rng: random.Random) -> list[dict]:
    """``count`` changes over the indexed documents: 50% Jira comments, 10% Jira summary edits,
    10% Jira deletions, 15% Slack thread deletions, 15% Fireflies meeting changes."""
    ledger = box.state.ledger
    jira = rng.sample(sorted(ledger.documents_of_source("jira")), k=min(count, len(ledger.documents_of_source("jira"))))
    slack = rng.sample(sorted(ledger.documents_of_source("slack")), k=count // 5)
    meetings = rng.sample(sorted(ledger.documents_of_source("fireflies")), k=count // 5)
    plan: list[dict] = []
    for n in range(count):
        share = n % 20
        if share < 10:
            key = jira.pop().split(":", 1)[1]
            plan.append({"source": "jira", "op": "comment", "key": key, "text": f"Freshness note {n}: numbat-{n} shipped."})
        elif share < 12:
            key = jira.pop().split(":", 1)[1]
            plan.append({"source": "jira", "op": "edit", "key": key, "summary": f"Renamed for freshness {n}: bilby-{n}"})
        elif share < 14:
            plan.append({"source": "jira", "op": "delete", "key": jira.pop().split(":", 1)[1]})
        elif share < 17:
            _, channel, ts = slack.pop().split(":")
            plan.append({"source": "slack", "op": "delete", "channel": channel, "ts": ts})
        else:
            meeting = meetings.pop().split(":", 1)[1]
            plan.append({"source": "fireflies", "op": "change", "meeting_id": meeting, "title": f"Freshness review {n}: quoll-{n}"})
    rng.shuffle(plan)
    return plan


def document_of(change: dict) -> str:
    if change["source"] == "jira":
        return f"jira:{change['key']}"
    if change["source"] == "slack":
        return f"slack:{change['channel']}:{change['ts']}"
    return f"fireflies:{change['meeting_id']}"


def event_times(box) -> dict[str, list[tuple[datetime, datetime | None]]]:
    """document id -> (received_at, done_at) of each of its events."""
    import sqlalchemy as sa

    from vector_sync.state.webhooks import webhook_events_table as t

    found: dict[str, list[tuple[datetime, datetime | None]]] = {}
    with box.state.engine.connect() as conn:
        for doc_id, received, done in conn.execute(sa.select(t.c.document_id, t.c.received_at, t.c.done_at)):
            found.setdefault(doc_id, []).append((received, done))
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--changes", type=int, default=50)
    parser.add_argument("--every-s", type=float, default=1.0)
    args = parser.parse_args()

    from sandbox.workspace import Workspace
    from tests.hookskit import airflow_with_webhooks
    from tests.processkit import wait_for

    rng = random.Random(20)
    dags = tuple(f"vector_sync_{name}_events" for name in SOURCES)
    with tempfile.TemporaryDirectory(prefix="vs-freshness-") as folder:
        base = Path(folder)
        (base / "home").mkdir()
        (base / "data").mkdir()
        with airflow_with_webhooks(Workspace(anchor=ANCHOR), base / "home", base / "data", dags) as box:
            index_workspace(box, base / "data", box.sandbox.simulator("jira").workspace)
            hashes_before = {
                d: e.content_hash
                for name in SOURCES
                for d, e in box.state.ledger.entries(box.state.ledger.documents_of_source(name)).items()
            }
            changes = plan_changes(box, args.changes, rng)
            made: list[tuple[dict, datetime]] = []
            for change in changes:
                at = datetime.now(timezone.utc)
                answer = box.change(**change)
                assert answer["status"] == 200, (change, answer)
                made.append((change, at))
                time.sleep(args.every_s)

            def all_done() -> bool:
                times = event_times(box)
                return all(any(done is not None and done >= at for _, done in times.get(document_of(c), [])) for c, at in made)

            wait_for("every change's event to be synced", all_done, TIMEOUT_S, box.procs, interval_s=1)
            times = event_times(box)
            latencies = sorted(
                min((done - at).total_seconds() for _, done in times[document_of(c)] if done is not None and done >= at) for c, at in made
            )
            runs = {dag: len(box.runs(dag)) for dag in dags}
            gone = [document_of(c) for c, _ in made if c["op"] == "delete"]
            edited = [document_of(c) for c, _ in made if c["op"] in ("comment", "edit")]
            live = {name: set(box.state.ledger.documents_of_source(name)) for name in SOURCES}
            still_there = [d for d in gone if d in live[d.split(":", 1)[0]]]
            after = box.state.ledger.entries(edited)
            unchanged = [d for d in edited if d in after and after[d].content_hash == hashes_before.get(d)]

    p95 = latencies[max(0, int(round(0.95 * len(latencies))) - 1)]
    line = {
        "bench": "freshness",
        "changes": len(made),
        "by_source": {name: sum(1 for c, _ in made if c["source"] == name) for name in SOURCES},
        "p50_s": round(statistics.median(latencies), 1),
        "p95_s": round(p95, 1),
        "max_s": round(latencies[-1], 1),
        "dag_runs": sum(runs.values()),
        "dag_runs_by_dag": runs,
        "interval_expected_delay_s": INTERVAL_S / 2,
        "deleted_still_indexed": len(still_there),
        "edited_unchanged": len(unchanged),
        "target": "p95 <= 60 s and <= 1/10 of the interval schedule's expected delay (45 s)",
    }
    print(json.dumps(line))
    return 0 if not still_there and not unchanged else 1


if __name__ == "__main__":
    sys.exit(main())
