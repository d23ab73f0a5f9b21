"""A source's cursor (`last_sync`) never passes now, and `vector-sync cursor` repairs one that did."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa

from tests.conftest import ANCHOR
from tests.test_cli import cli_env, run, window_args  # noqa: F401  (fixture)
from vector_sync import cli
from vector_sync.state import StateStore, SyncRun, status_table


def test_a_window_ending_in_the_future_moves_last_sync_to_now_at_most(tmp_path):
    state = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    state.migrate()
    now = datetime.now(timezone.utc)
    start, end = now - timedelta(hours=1), now + timedelta(days=365)
    state.runs.record(SyncRun("jira", "r1", start, end, started_at=now, finished_at=now, status="success"))
    stored = state.runs.advance_last_sync("jira", start, end)
    assert now - timedelta(seconds=5) <= stored <= datetime.now(timezone.utc)


def test_cursor_in_the_future_is_failed_and_repaired(cli_env, capsys):
    from vector_sync.cli.context import runtime

    run(capsys, "sync", "jira", *window_args())
    state = runtime().state
    with state.engine.begin() as conn:  # what a 2099 window left before such windows were refused
        conn.execute(
            status_table.update().where(status_table.c.source == "jira").values(last_sync=datetime(2099, 1, 1, tzinfo=timezone.utc))
        )

    jira = next(row for row in json.loads(run(capsys, "status", "--json")) if row["source"] == "jira")
    assert jira["health"] == "failed" and "vector-sync cursor jira --set latest-success" in jira["problems"][0]
    assert "vector-sync cursor jira --set latest-success" in run(capsys, "status")

    repaired = json.loads(run(capsys, "cursor", "jira", "--set", "latest-success", "--json"))
    assert repaired == {"source": "jira", "last_sync": ANCHOR.isoformat(), "previous": "2099-01-01T00:00:00+00:00"}
    jira = next(row for row in json.loads(run(capsys, "status", "--json")) if row["source"] == "jira")
    assert jira["problems"] == [] and jira["health"] != "failed"

    back = (ANCHOR - timedelta(hours=6)).isoformat()
    assert run(capsys, "cursor", "jira", "--set", back) == f"jira last_sync {ANCHOR.isoformat()} -> {back}\n"
    with state.engine.connect() as conn:
        assert conn.scalar(sa.select(status_table.c.last_sync).where(status_table.c.source == "jira")).isoformat() == back


def test_cursor_of_a_source_never_synced(cli_env, capsys):
    assert run(capsys, "cursor", "notion") == "notion last_sync never\n"
    assert cli.main(["cursor", "notion", "--set", "latest-success"]) == 2
    assert "no successful window" in capsys.readouterr().err
