"""Shared fixtures: a fixed sample workspace, the sandbox serving it on a free port, and
an Airflow metadata DB with connections at that sandbox for dag.test() runs."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEST_OUTPUT = Path(os.environ.get("VECTOR_SYNC_TEST_OUTPUT", ROOT / "test-output"))

# Airflow reads its configuration at import: point it at a test home before anything imports it.
# One home per test session (parallel sessions and reruns never share dag runs); its metadata
# DB is a copy of a template migrated once per checkout.
AIRFLOW_TEMPLATE = TEST_OUTPUT / "airflow-template"
os.environ["AIRFLOW_HOME"] = str(TEST_OUTPUT / f"airflow-{os.getpid()}")
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(ROOT / "dags")
os.environ["AIRFLOW__CORE__PLUGINS_FOLDER"] = str(ROOT / "plugins")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "WARNING"
os.environ["VECTOR_SYNC_DATA_DIR"] = str(TEST_OUTPUT / "data")
os.environ["VECTOR_SYNC_SETTINGS_FILE"] = str(TEST_OUTPUT / "no-settings.yaml")  # tests set connections explicitly
# The suite's DAG runs and references embed with WordLlama: MiniLM, the product's default, reads
# ~7 chunks/s on a 2-core CI machine and would add minutes to every demo-sized sync. Its own
# tests (test_minilm_embedder.py) unset this and run the default end to end.
os.environ.setdefault("VECTOR_SYNC_OFFLINE_EMBEDDER", "wordllama")

import pytest  # noqa: E402

from sandbox import build_sandbox  # noqa: E402
from sandbox.workspace import Workspace  # noqa: E402

# The vendors' specs and recorded responses live beside the repo (../shared), never copied in.
_VENDOR = Path("shared") / "reference" / "vendor"


def _vendor_dir() -> Path:
    """``VECTOR_SYNC_VENDOR_DIR``, else ../shared beside this checkout, else beside the checkout
    it was cloned from (a scratch clone such as /tmp/ci-check of /work/main)."""
    if os.environ.get("VECTOR_SYNC_VENDOR_DIR"):
        return Path(os.environ["VECTOR_SYNC_VENDOR_DIR"])
    beside = ROOT.parent / _VENDOR
    if beside.is_dir():
        return beside
    try:
        origin = subprocess.run(
            ["git", "-C", str(ROOT), "remote", "get-url", "origin"], capture_output=True, text=True, timeout=10
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        origin = ""
    if origin and Path(origin).is_dir() and (Path(origin).resolve().parent / _VENDOR).is_dir():
        return Path(origin).resolve().parent / _VENDOR
    return beside


VENDOR_DIR = _vendor_dir()

# A fixed "now" for the sample workspace, so expected ids and windows are exact.
ANCHOR = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="session")
def vendor_dir() -> Path:
    assert VENDOR_DIR.is_dir(), f"vendor specs not found at {VENDOR_DIR} (set VECTOR_SYNC_VENDOR_DIR)"
    return VENDOR_DIR


@pytest.fixture(scope="session")
def workspace() -> Workspace:
    return Workspace(anchor=ANCHOR)


@pytest.fixture()
def sandbox(workspace):
    """Every simulator on one port; faults and the request log start empty for each test."""
    with build_sandbox(workspace) as box:
        yield box


@pytest.fixture()
def clean_slate():
    """``clean_slate(box)`` readies a sandbox a module's tests share (one server per module:
    starting one costs about half a second) for the next test: no faults, an empty request log,
    no rate limits; it returns ``box``. Faults are cleared again after the test. Simulator state
    the module's tests change (joins, deletions, clocks) the module resets on top."""
    boxes = []

    def reset(box):
        box.faults.clear()
        box.log.reset()
        box.rate_limits.clear()
        boxes.append(box)
        return box

    yield reset
    for box in boxes:
        box.faults.clear()


# dag.test() sleeps 1 s each time no task instance is ready (after a task fails, while mapped
# tasks expand, while a retry waits out its delay), then looks again: a shorter nap changes only
# how soon it sees the next step. Its idle naps made up a quarter of tests/test_alerts.py.
DAG_TEST_POLL_S = 0.2  # each look is a few queries: often enough, without spinning a core


@pytest.fixture(scope="session")
def quick_dag_test_polls():
    """``time.sleep`` with dag.test()'s own idle nap shortened to ``DAG_TEST_POLL_S``; every
    other caller (retry waits, simulated latency and delays) sleeps what it asked for."""
    import time

    from airflow.sdk.definitions.dag import DAG

    real_sleep, dag_test = time.sleep, DAG.test.__code__

    def sleep(seconds: float) -> None:
        real_sleep(min(seconds, DAG_TEST_POLL_S) if sys._getframe(1).f_code is dag_test else seconds)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(time, "sleep", sleep)
        yield


@pytest.fixture(scope="session")
def airflow_db(quick_dag_test_polls) -> Path:
    """A migrated Airflow metadata DB (SQLite) for dag.test(), fresh for this session."""
    import shutil

    template_db = AIRFLOW_TEMPLATE / "airflow.db"
    if not (AIRFLOW_TEMPLATE / ".migrated").exists():
        AIRFLOW_TEMPLATE.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "AIRFLOW_HOME": str(AIRFLOW_TEMPLATE)}
        result = subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], capture_output=True, text=True, env=env)
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
        (AIRFLOW_TEMPLATE / ".migrated").touch()
    home = Path(os.environ["AIRFLOW_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    # Empty: a command that looked a connection up before this fixture ran made SQLite create
    # the file; it has no tables, so it is replaced, not kept.
    if not (home / "airflow.db").exists() or (home / "airflow.db").stat().st_size == 0:
        shutil.copyfile(template_db, home / "airflow.db")
    return home


@pytest.fixture()
def airflow_env(airflow_db, sandbox, monkeypatch, tmp_path):
    """For dag.test() runs: connections at the sandbox, a fresh embedded data folder, projects
    seeded. Returns the state store and the vector store the runs write to."""
    from tests.sourcekit import sandbox_settings
    from vector_sync.airflow.bootstrap import projects_from
    from vector_sync.runtime import build_state, build_store, embedded_config

    settings = sandbox_settings(monkeypatch, sandbox)
    monkeypatch.setenv("VECTOR_SYNC_DATA_DIR", str(tmp_path / "data"))
    config = embedded_config()
    state = build_state(config)
    state.projects.upsert(projects_from(settings))
    return state, build_store(config)


def pytest_sessionfinish(session, exitstatus):
    import shutil

    shutil.rmtree(os.environ["AIRFLOW_HOME"], ignore_errors=True)
