"""The `vector-sync` commands as a user types them, against the sandbox."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from tests.conftest import ANCHOR, ROOT
from vector_sync import cli


@pytest.fixture()
def cli_env(airflow_db, sandbox, monkeypatch, tmp_path):
    monkeypatch.setenv("VECTOR_SYNC_SANDBOX_URL", sandbox.url)
    monkeypatch.setenv("VECTOR_SYNC_SETTINGS_FILE", str(ROOT / "airflow_settings.yaml"))
    monkeypatch.setenv("VECTOR_SYNC_DATA_DIR", str(tmp_path / "data"))
    for key in [k for k in __import__("os").environ if k.startswith("AIRFLOW_CONN_")]:
        monkeypatch.delenv(key)
    assert cli.main(["settings", "load"]) == 0
    return sandbox


def run(capsys, *args: str) -> str:
    capsys.readouterr()
    assert cli.main(list(args)) == 0
    return capsys.readouterr().out


def window_args(hours: int = 24) -> list[str]:
    return ["--start", (ANCHOR - timedelta(hours=hours)).isoformat(), "--end", ANCHOR.isoformat()]


def test_dry_run_writes_nothing_and_prices_the_tokens(cli_env, capsys):
    out = run(capsys, "sync", "jira", *window_args(), "--dry-run")
    assert "would be embedded" in out and "tokens" in out and "text-embedding-3-small" in out
    status = json.loads(run(capsys, "status", "--json"))
    jira = next(row for row in status if row["source"] == "jira")
    assert jira["vectors"] == 0 and jira["last_run"] is None and jira["health"] == "stale"


def test_sync_then_status_and_search(cli_env, capsys, workspace):
    first = json.loads(run(capsys, "sync", "jira", *window_args()).strip().splitlines()[-1])
    assert first["embedded"] > 0 and first["status"] == "success"
    again = json.loads(run(capsys, "sync", "jira", *window_args()).strip().splitlines()[-1])
    assert again["embedded"] == 0

    status = json.loads(run(capsys, "status", "--json"))
    jira = next(row for row in status if row["source"] == "jira")
    assert jira["last_sync"] == ANCHOR.isoformat()
    assert jira["vectors"] > 0 and jira["last_run"]["status"] == "success"
    table = run(capsys, "status")
    assert "jira" in table and jira["health"] in table

    issue = next(i for i in workspace.data("jira").updated_between(ANCHOR - timedelta(hours=24), ANCHOR) if i.project == "SUBS")
    hits = json.loads(run(capsys, "search", issue.fields["summary"], "--source", "jira", "--project", "SUBS", "--json"))["hits"]
    assert hits and all(h["source"] == "jira" and h["metadata"]["project_key"] == "SUBS" for h in hits)
    assert f"jira:{issue.key}" in {h["metadata"]["document_id"] for h in hits}
    assert all(h["link"].endswith(f"/browse/{h['metadata']['issue_key']}") for h in hits)
    plain = run(capsys, "search", issue.fields["summary"], "--top-k", "2")
    assert "/browse/" in plain


def test_projects_switch_changes_what_syncs(cli_env, capsys):
    assert "ARCH" in run(capsys, "projects", "list")
    run(capsys, "projects", "activate", "ARCH")
    counts = json.loads(run(capsys, "sync", "jira", *window_args(72)).strip().splitlines()[-1])
    assert counts["filtered_out"] == 0


def test_bad_input_is_a_clear_error_not_a_traceback(cli_env, capsys):
    assert cli.main(["sync", "nope", *window_args()]) == 2
    assert "unknown source 'nope'" in capsys.readouterr().err
    assert cli.main(["projects", "activate", "NOPE"]) == 2
