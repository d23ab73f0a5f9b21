"""A run's skipped items are stored (reason, count, the first 100 items) and shown by status."""

from __future__ import annotations

import json
from datetime import timedelta

from tests.conftest import ANCHOR
from tests.sourcekit import FAST
from tests.test_cli import cli_env, run  # noqa: F401  (fixture)
from vector_sync import pipeline
from vector_sync.models import MAX_SKIPPED_ITEMS, FetchStats
from vector_sync.state import StateStore


def test_the_first_100_items_per_reason_are_kept_and_parts_add_up(tmp_path):
    state = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    state.migrate()
    many = [{"reason": "malformed issue", "item": f"Jira issue SUBS-{n}"} for n in range(150)]
    state.skips.record("jira", "run-1", 0, {"malformed issue": 150, "gone": 1}, [*many, {"reason": "gone", "item": "Jira issue BC-1"}])
    state.skips.record("jira", "run-1", 1, {"malformed issue": 2}, [{"reason": "malformed issue", "item": "Jira issue BC-9"}])
    state.skips.record("jira", "run-1", 1, {"malformed issue": 2}, [{"reason": "malformed issue", "item": "Jira issue BC-9"}])  # a retry
    state.skips.record("jira", "run-2", 0, {"other": 1})
    skips = state.skips.of_run("jira", "run-1")
    assert [(s["reason"], s["count"]) for s in skips] == [("malformed issue", 152), ("gone", 1)]
    assert len(skips[0]["items"]) == MAX_SKIPPED_ITEMS and skips[0]["items"][:2] == ["Jira issue SUBS-0", "Jira issue SUBS-1"]
    assert skips[1]["items"] == ["Jira issue BC-1"]


def test_fetch_reports_each_part_its_own_skips():
    """One source object fetching several parts (vector-sync sync) reports each part's skips
    once, not the running total; named items travel as a list beside the counts."""

    class Stub:
        def __init__(self) -> None:
            self.stats = FetchStats()

        def part_window(self, window, scope):
            return window

        def fetch_part(self, window, scope):
            self.stats.skip("malformed", item=f"item {scope['n']}")
            return iter(())

        def removed_ids(self, window):
            return iter(())

    class Staged:
        def write(self, kind, part, records):
            return sum(1 for _ in records)

    source = Stub()
    counts = [pipeline.fetch(source, None, Staged(), {"n": n}, part=n) for n in range(3)]
    assert [c["errors"] for c in counts] == [1, 1, 1]
    assert [c["skipped_items"] for c in counts] == [[{"reason": "malformed", "item": f"item {n}"}] for n in range(3)]


def test_status_shows_the_last_runs_skips(cli_env, capsys, monkeypatch):
    """The sample's Notion workspace has items the source skips (errors > 0): status names the
    reasons with their counts, in the JSON and in the table."""
    # Request pacing is tested on its own (tests/sources): at Notion's 3 requests/s this 72-hour
    # sync alone took 40 s.
    monkeypatch.setenv("AIRFLOW_VAR_VECTOR_SYNC_NOTION", json.dumps(FAST["notion"]))
    window = ["--start", (ANCHOR - timedelta(hours=72)).isoformat(), "--end", ANCHOR.isoformat()]
    summary = json.loads(run(capsys, "sync", "notion", *window).strip().splitlines()[-1])
    assert summary["errors"] > 0, "the sample needs skipped Notion items"
    notion = next(row for row in json.loads(run(capsys, "status", "--json")) if row["source"] == "notion")
    assert notion["last_run"]["errors"] == summary["errors"]
    assert sum(s["count"] for s in notion["skips"]) == summary["errors"] and all(s["reason"] for s in notion["skips"])
    # Each reason names what it skipped: the page (or block) and why, not only a count.
    assert all(s["items"] and all(item.startswith(("page ", "block ", "search result ")) for item in s["items"]) for s in notion["skips"])
    table = run(capsys, "status")
    assert all(f"skipped {s['count']} ({s['reason']})" in table for s in notion["skips"])
    assert all(s["items"][0] in table for s in notion["skips"])
