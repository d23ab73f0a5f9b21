"""`vector-sync` as a new user runs it: a fresh process per command, stdout and stderr apart.

In-process calls (tests/test_cli.py) cannot see what Airflow's log handler writes to the real
stdout, nor how long a cold start takes; these run ``python -m vector_sync.cli`` against a
migrated and an unmigrated ``AIRFLOW_HOME``.

The table: every bad input of issue #19 exits 2 with exactly one line on stderr naming what to
fix, no traceback, stdout empty, and the state DB byte for byte as before.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from tests.conftest import ANCHOR, ROOT

START = (ANCHOR - timedelta(hours=6)).isoformat()


def cli_env(home: Path, data: Path, sandbox_url: str = "http://127.0.0.1:9", **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_CONN_", "AIRFLOW_VAR_"))}
    env.update(
        AIRFLOW_HOME=str(home),
        VECTOR_SYNC_DATA_DIR=str(data),
        VECTOR_SYNC_SETTINGS_FILE=str(ROOT / "airflow_settings.yaml"),
        VECTOR_SYNC_SANDBOX_URL=sandbox_url,
        PYTHONWARNINGS="ignore",
    )
    env.update(extra)
    return env


def vector_sync(env: dict[str, str], *args: str, timeout_s: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "vector_sync.cli", *args], env=env, capture_output=True, text=True, timeout=timeout_s, cwd=ROOT
    )


def state_dump(data: Path) -> list[str]:
    """Every row of the embedded state DB, as SQL."""
    with sqlite3.connect(data / "vector_sync.db") as conn:
        return list(conn.iterdump())


@pytest.fixture(scope="module")
def migrated_home(airflow_db) -> Path:
    return airflow_db


@pytest.fixture()
def unmigrated_home(tmp_path) -> Path:
    home = tmp_path / "fresh-airflow"
    home.mkdir()
    return home


@pytest.fixture(scope="module")
def seeded_data(tmp_path_factory, migrated_home) -> Path:
    """An embedded data folder whose state DB the CLI created (projects seeded), once: a cold
    ``vector-sync`` process costs half a second."""
    folder = tmp_path_factory.mktemp("seeded") / "data"
    done = vector_sync(cli_env(migrated_home, folder), "projects", "list")
    assert done.returncode == 0, done.stderr
    return folder


@pytest.fixture()
def data(tmp_path, seeded_data) -> Path:
    """A copy of ``seeded_data`` of the test's own (cases write to it): the state DB exists
    before the case runs."""
    folder = tmp_path / "data"
    shutil.copytree(seeded_data, folder)
    return folder


# (case, args, extra environment, home, what stderr must name)
BAD_INPUT = [
    ("window ends far in the future", ["sync", "jira", "--start", START, "--end", "2099-01-01T00:00:00Z"], {}, "migrated", "in the future"),
    ("window end out of range", ["sync", "jira", "--start", START, "--end", "9999-12-31"], {}, "migrated", "out of range"),
    ("window start after end", ["sync", "jira", "--start", ANCHOR.isoformat(), "--end", START], {}, "migrated", "is not before --end"),
    (
        "unknown source to sync",
        ["sync", "nosuch", "--start", START, "--end", ANCHOR.isoformat()],
        {},
        "migrated",
        "unknown source 'nosuch'",
    ),
    (
        "broken source Variable",
        ["sync", "jira", "--start", START, "--end", ANCHOR.isoformat()],
        {"AIRFLOW_VAR_VECTOR_SYNC_JIRA": "{bad"},
        "migrated",
        "Variable 'vector_sync_jira'",
    ),
    ("search until out of range", ["search", "invoice", "--until", "9999-12-31", "--json"], {}, "migrated", "out of range"),
    ("search unknown source", ["search", "invoice", "--source", "nosuch", "--json"], {}, "migrated", "unknown source 'nosuch'"),
    (
        "search since after until",
        ["search", "invoice", "--since", "2026-11-20", "--until", "2026-11-10", "--json"],
        {},
        "migrated",
        "--since '2026-11-20' is not before --until '2026-11-10'",
    ),
    ("search bad date", ["search", "invoice", "--since", "yesterday"], {}, "migrated", "--since 'yesterday' is not a date"),
    (
        "broken config Variable",
        ["search", "invoice", "--json"],
        {"AIRFLOW_VAR_VECTOR_SYNC_CONFIG": "{bad"},
        "migrated",
        "Variable 'vector_sync_config' is not valid JSON",
    ),
    ("search top-k zero", ["search", "invoice", "--top-k", "0"], {}, "migrated", "--top-k 0"),
    ("settings file missing", ["settings", "load", "/nonexistent.yaml"], {}, "migrated", "'/nonexistent.yaml' not found"),
    ("settings into an unmigrated DB", ["settings", "load"], {}, "unmigrated", "airflow db migrate"),
    ("cursor set in the future", ["cursor", "jira", "--set", "2099-01-01"], {}, "migrated", "in the future"),
    ("cursor set out of range", ["cursor", "jira", "--set", "9999-12-31"], {}, "migrated", "out of range"),
    ("unknown project", ["projects", "activate", "NOPE"], {}, "migrated", "unknown project NOPE"),
]


@pytest.mark.parametrize(("case", "args", "extra", "home", "names"), BAD_INPUT, ids=[row[0] for row in BAD_INPUT])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(case, args, extra, home, names, data, migrated_home, unmigrated_home):
    before = state_dump(data)
    done = vector_sync(cli_env(migrated_home if home == "migrated" else unmigrated_home, data, **extra), *args)
    lines = done.stderr.splitlines()
    assert done.returncode == 2, (case, done.returncode, done.stderr[-2000:])
    assert len(lines) == 1, (case, done.stderr[-2000:])
    assert lines[0].startswith("error: ") and names in lines[0], (case, lines[0])
    assert "Traceback" not in done.stderr
    assert done.stdout == "", (case, done.stdout[:500])
    assert state_dump(data) == before, case
    if home == "unmigrated":
        assert sorted(p.name for p in unmigrated_home.iterdir()) == [], "nothing created in the unmigrated home"


def test_verbose_shows_the_traceback(data, migrated_home):
    done = vector_sync(cli_env(migrated_home, data), "-v", "search", "invoice", "--until", "9999-12-31")
    assert done.returncode == 2 and "Traceback" in done.stderr and done.stderr.rstrip().splitlines()[-1].startswith("error: ")


@pytest.mark.parametrize("home", ["migrated", "unmigrated"])
def test_json_output_parses_with_either_home(home, data, migrated_home, unmigrated_home):
    """stdout is only the result, whatever Airflow's state: search, status and projects list."""
    env = cli_env(migrated_home if home == "migrated" else unmigrated_home, data)
    for args in (["search", "invoice export", "--json"], ["status", "--json"], ["projects", "list", "--json"]):
        done = vector_sync(env, *args)
        assert done.returncode == 0, (args, done.stderr[-2000:])
        json.loads(done.stdout)
        assert "Traceback" not in done.stderr, (args, done.stderr[-2000:])
    if home == "unmigrated":
        assert not (unmigrated_home / "airflow.db").exists(), "reading the metadata DB must not create it"


def test_sync_prints_only_its_json_summary(data, migrated_home, sandbox):
    """`sync tempo` (Airflow imported, its log handler set up on stdout) prints one JSON line."""
    env = cli_env(migrated_home, data, sandbox.url)
    done = vector_sync(env, "sync", "tempo", "--start", START, "--end", ANCHOR.isoformat())
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout)
    assert summary["status"] == "success" and summary["fetched"] > 0
    status = json.loads(vector_sync(env, "status", "--json").stdout)
    assert next(row for row in status if row["source"] == "tempo")["last_sync"] == ANCHOR.isoformat()


def test_everyday_commands_never_import_airflow(data, migrated_home):
    """The cold start of search, status and projects list has no Airflow in it (#19)."""
    code = (
        "import sys\n"
        "from vector_sync.cli import main\n"
        "code = main(sys.argv[1:])\n"
        "print(sorted(m for m in sys.modules if m == 'airflow' or m.startswith('airflow.')), file=sys.stderr)\n"
        "sys.exit(code)\n"
    )
    env = cli_env(migrated_home, data)
    for args in (["search", "invoice export", "--json"], ["status", "--json"], ["projects", "list", "--json"]):
        done = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, timeout=120, cwd=ROOT)
        assert done.returncode == 0, (args, done.stderr[-2000:])
        assert done.stderr.strip().splitlines()[-1] == "[]", (args, done.stderr[-2000:])


def test_a_broken_variable_in_the_metadata_db_is_named(data, migrated_home):
    """Read from Airflow's DB (encrypted there when a Fernet key is set), not the environment."""
    from airflow.models import Variable

    Variable.set("vector_sync_config", "{bad")
    try:
        for args in (["search", "invoice", "--json"], ["sync", "jira", "--start", START, "--end", ANCHOR.isoformat()]):
            done = vector_sync(cli_env(migrated_home, data), *args)
            assert done.returncode == 2 and done.stdout == "", (args, done.stderr[-2000:])
            assert done.stderr.splitlines() == [done.stderr.strip()] and "Variable 'vector_sync_config'" in done.stderr, done.stderr
    finally:
        Variable.delete("vector_sync_config")
