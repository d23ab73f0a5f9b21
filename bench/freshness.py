"""Freshness with webhooks: seconds from an upstream change to searchable (or gone).

A real Airflow as `make up` runs it (tests/hookskit.py: api-server with the plugin's receivers,
scheduler with LocalExecutor, dag-processor; PostgreSQL metadata, the embedded state and index),
the sandbox's sample workspace indexed first (in this process), then 50 changes made in the
sandbox one a second (``POST /_sandbox/changes``, each sending its vendor's signed webhook)
across four sources: edits (Jira comments and summaries, Slack message edits and thread
replies, Notion page edits, Fireflies meeting changes), new items (Slack messages, Notion
pages) and deletions (Jira issues, Slack threads, Notion pages moved to the trash).
A change counts as searchable (or gone) when the events run that took its event has written
the index and the ledger (the event's ``done_at``, set after the upsert/delete); the index is
then checked: edited documents changed, new ones are there, deleted ones left.

Only the events DAGs run (the interval DAGs, the safety net, are paused so they cannot be the
ones that found a change).

Prints one JSON line:
{"bench": "freshness", "changes": 50, "by_kind", "p50_s", "p95_s", "max_s", "dag_runs", "interval_expected_delay_s", ...}

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

from vector_sync.cli.output import emit, reserved_stdout

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

ANCHOR = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)
SOURCES = ("jira", "slack", "notion", "fireflies")
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


# 50 changes: (source, op, how many). Edits, new items and deletions in each source that has them.
MIX = (
    ("jira", "comment", 10),
    ("jira", "edit", 4),
    ("jira", "delete", 4),
    ("slack", "edit", 5),
    ("slack", "reply", 4),
    ("slack", "post", 5),
    ("slack", "delete", 4),
    ("notion", "edit", 5),
    ("notion", "create", 2),
    ("notion", "trash", 2),
    ("fireflies", "change", 5),
)
NEW_ITEMS = ("post", "create")
DELETIONS = ("delete", "trash")


def plan_changes(box, count: int, rng: random.Random) -> list[dict]:
    """``count`` changes in ``MIX``'s proportions, each on an indexed document of its own (a new
    Slack message goes to the channel of an indexed thread, a new Notion page under an indexed
    page), in random order."""
    kinds = [(source, op) for source, op, n in MIX for _ in range(n)]
    kinds = [kinds[i % len(kinds)] for i in range(count)]
    ledger = box.state.ledger
    picks = {
        name: rng.sample(sorted(ledger.documents_of_source(name)), k=sum(1 for source, _ in kinds if source == name)) for name in SOURCES
    }
    plan: list[dict] = []
    for n, (source, op) in enumerate(kinds):
        item = picks[source].pop().split(":", 1)[1]
        if source == "jira":
            extra = {"comment": {"text": f"Freshness note {n}: numbat-{n} shipped."}, "edit": {"summary": f"Renamed for freshness {n}: bilby-{n}"}}  # fmt: skip
            plan.append({"source": source, "op": op, "key": item, **extra.get(op, {})})
        elif source == "slack":
            channel, ts = item.split(":")
            text = {"text": f"Freshness message {n}: dunnart-{n}."}
            plan.append(
                {"source": source, "op": "post", "channel": channel, "thread_ts": ts, **text}
                if op == "reply"
                else {
                    "source": source,
                    "op": op,
                    "channel": channel,
                    **({} if op == "post" else {"ts": ts}),
                    **({} if op == "delete" else text),
                }  # fmt: skip
            )
        elif source == "notion":
            if op == "create":
                plan.append({"source": source, "op": op, "parent_id": item, "title": f"Freshness page {n}", "text": f"Quokka-{n} notes."})
            else:
                plan.append({"source": source, "op": op, "page_id": item, **({"text": f"Freshness edit {n}: potoroo-{n}."} if op == "edit" else {})})  # fmt: skip
        else:
            plan.append({"source": source, "op": op, "meeting_id": item, "title": f"Freshness review {n}: quoll-{n}"})
    rng.shuffle(plan)
    return plan


def kind_of(change: dict) -> str:
    """``edit``, ``new`` or ``delete``: what the change does to the index."""
    if change["op"] in DELETIONS:
        return "delete"
    return "new" if change["op"] in NEW_ITEMS and not change.get("thread_ts") else "edit"


def document_of(change: dict, answer: dict) -> str:
    """The index's id of what the change touched (a Slack reply or edit: its thread)."""
    source = change["source"]
    if source == "jira":
        return f"jira:{change['key']}"
    if source == "slack":
        return f"slack:{change['channel']}:{answer.get('thread_ts') or change['ts']}"
    if source == "notion":
        return f"notion:{answer.get('page_id') or change['page_id']}"
    return f"fireflies:{change['meeting_id']}"


def percentile(ordered: list[float], share: float) -> float:
    """The nearest-rank percentile of sorted values."""
    return ordered[max(0, int(round(share * len(ordered))) - 1)]


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
            made: list[tuple[dict, str, datetime]] = []  # (change, its document, when made)
            for change in changes:
                at = datetime.now(timezone.utc)
                answer = box.change(**change)
                assert answer["status"] == 200, (change, answer)
                made.append((change, document_of(change, answer), at))
                time.sleep(args.every_s)

            def all_done() -> bool:
                times = event_times(box)
                return all(any(done is not None and done >= at for _, done in times.get(doc, [])) for _, doc, at in made)

            wait_for("every change's event to be synced", all_done, TIMEOUT_S, box.procs, interval_s=1)
            times = event_times(box)
            latency = {
                (doc, at): min((done - at).total_seconds() for _, done in times[doc] if done is not None and done >= at)
                for _, doc, at in made
            }
            latencies = sorted(latency.values())
            by_source = {name: sorted(s for (doc, _), s in latency.items() if doc.startswith(f"{name}:")) for name in SOURCES}
            runs = {dag: len(box.runs(dag)) for dag in dags}
            by_kind = {kind: [doc for c, doc, _ in made if kind_of(c) == kind] for kind in ("edit", "new", "delete")}
            live = {name: set(box.state.ledger.documents_of_source(name)) for name in SOURCES}
            still_there = [d for d in by_kind["delete"] if d in live[d.split(":", 1)[0]]]
            missing = [d for d in by_kind["new"] if d not in live[d.split(":", 1)[0]]]
            after = box.state.ledger.entries(by_kind["edit"])
            unchanged = [d for d in by_kind["edit"] if d not in after or after[d].content_hash == hashes_before.get(d)]

    p95 = percentile(latencies, 0.95)
    line = {
        "bench": "freshness",
        "changes": len(made),
        "by_source": {name: sum(1 for c, _, _ in made if c["source"] == name) for name in SOURCES},
        "by_kind": {kind: len(docs) for kind, docs in by_kind.items()},
        "p50_s": round(statistics.median(latencies), 1),
        "p95_s": round(p95, 1),
        "max_s": round(latencies[-1], 1),
        "p50_s_by_source": {name: round(percentile(values, 0.5), 1) for name, values in by_source.items() if values},
        "dag_runs": sum(runs.values()),
        "dag_runs_by_dag": runs,
        "interval_expected_delay_s": INTERVAL_S / 2,
        "deleted_still_indexed": len(still_there),
        "edited_unchanged": len(unchanged),
        "new_not_indexed": len(missing),
        "target": "p95 <= 60 s and <= 1/10 of the interval schedule's expected delay (45 s)",
    }
    emit(json.dumps(line))
    return 0 if not still_there and not unchanged and not missing else 1


if __name__ == "__main__":
    with reserved_stdout():  # results on stdout, every log line (Airflow's too) on stderr
        sys.exit(main())
