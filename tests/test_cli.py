"""The `vector-sync` commands as a user types them, against the sandbox."""

from __future__ import annotations

import json
import sqlite3
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
    before = metadata_rows(airflow_db)
    assert cli.main(["settings", "load"]) == 0
    yield sandbox
    # The metadata DB is the session's: what `settings load` added would otherwise define
    # jira_default for every later test (test_alerts' missing connection then is not missing).
    with sqlite3.connect(airflow_db / "airflow.db") as db:
        for table, key in METADATA_KEYS.items():
            added = metadata_rows(airflow_db)[table] - before[table]
            db.executemany(f"DELETE FROM {table} WHERE {key} = ?", [(k,) for k in added])


# What `settings load` writes into Airflow's metadata DB: table -> its key column.
METADATA_KEYS = {"connection": "conn_id", "variable": "key", "slot_pool": "pool"}


def metadata_rows(home) -> dict[str, set[str]]:
    with sqlite3.connect(home / "airflow.db") as db:
        return {table: {row[0] for row in db.execute(f"SELECT {key} FROM {table}")} for table, key in METADATA_KEYS.items()}


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


def test_search_is_fail_closed_without_a_user(cli_env, capsys):
    """No --user: public items only; --user "": exit 2; a member sees a private item, an
    outsider does not; --all-access is the operator's explicit view of everything."""
    for source in ("slack", "fireflies"):
        run(capsys, "sync", source, *window_args(72))
    restricted = {}  # source -> (document id, title, one allowed email)
    everything = json.loads(run(capsys, "search", "the", "--all-access", "--top-k", "100", "--json"))["hits"]
    for hit in everything:
        meta = hit["metadata"]
        if meta["access_type"] != "all" and meta.get("access_list") and hit["source"] not in restricted:
            restricted[hit["source"]] = (meta["document_id"], hit["title"], meta["access_list"][0])
    assert set(restricted) == {"slack", "fireflies"}, "the sample needs private Slack and restricted Fireflies items"

    for source, (doc_id, title, member) in restricted.items():

        def found(*who: str, title: str = title, source: str = source) -> list[dict]:
            return json.loads(run(capsys, "search", title, "--source", source, "--top-k", "100", "--json", *who))["hits"]

        public_view = found()
        assert public_view and all(h["metadata"]["access_type"] == "all" for h in public_view), source
        assert doc_id in {h["metadata"]["document_id"] for h in found("--user", member)}
        assert doc_id in {h["metadata"]["document_id"] for h in found("--user", member.upper())}
        outsider = found("--user", "outsider@example.com")
        assert all(h["metadata"]["access_type"] == "all" for h in outsider)
        assert doc_id in {h["metadata"]["document_id"] for h in found("--all-access")}

    for blank in ("", "   "):
        assert cli.main(["search", "pricing", "--user", blank]) == 2
        assert "blank" in capsys.readouterr().err
    with pytest.raises(SystemExit) as both:
        cli.main(["search", "pricing", "--user", "a@example.com", "--all-access"])
    assert both.value.code == 2
