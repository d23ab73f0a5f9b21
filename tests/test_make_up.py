"""`make up` (include/sandbox/standalone.py) stops everything it started on SIGTERM and on
Ctrl-C: `airflow standalone`, its scheduler (with its LocalExecutor workers), dag-processor,
triggerer and api-server are all gone within 15 s."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.conftest import AIRFLOW_TEMPLATE, ROOT
from tests.processkit import Proc, clean_env, free_port, wait_for

pytestmark = pytest.mark.airflow

COMPONENTS = ("scheduler", "dag-processor", "triggerer", "api-server")
STOP_BUDGET_S = 15


def _descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []


def _components(pid: int) -> set[str]:
    found = set()
    for proc in _descendants(pid):
        try:
            cmdline = " ".join(proc.cmdline())
        except psutil.Error:
            continue
        found |= {name for name in COMPONENTS if f"airflow {name}" in cmdline}
    return found


@pytest.fixture()
def up_env(airflow_db, tmp_path):
    home = tmp_path / "airflow"
    home.mkdir()
    shutil.copyfile(AIRFLOW_TEMPLATE / "airflow.db", home / "airflow.db")
    (tmp_path / "plugins").mkdir()
    env = clean_env("AIRFLOW", "VECTOR_SYNC")
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(tmp_path / "plugins"),  # about stopping, not the UI
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(free_port()),
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
            "VECTOR_SYNC_DATA_DIR": str(tmp_path / "data"),
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        }
    )
    return env, tmp_path


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "ctrl-c"])
def test_make_up_stops_every_airflow_process_within_15s(up_env, sig):
    env, tmp_path = up_env
    log = (tmp_path / "up.log").open("w")
    # As `make up` runs it; its own session, so the signal goes to it alone (a terminal's
    # Ctrl-C reaches the foreground process: this one, since standalone.py keeps airflow apart).
    up = subprocess.Popen(
        [sys.executable, "-m", "sandbox.standalone", "--port", str(free_port())],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_for(
            "airflow standalone's components",
            lambda: _components(up.pid) == set(COMPONENTS),
            180,
            [Proc("make up", up, tmp_path / "up.log")],
        )
        time.sleep(5)  # let them get going (the scheduler starts its executor)
        pids = [p.pid for p in _descendants(up.pid)]
        started = time.monotonic()
        os.kill(up.pid, sig)
        gone, alive = psutil.wait_procs([psutil.Process(pid) for pid in pids if psutil.pid_exists(pid)], timeout=STOP_BUDGET_S)
        alive = [p for p in alive if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        names = [" ".join(p.cmdline()[:3]) for p in alive]
        assert not alive, f"still running {STOP_BUDGET_S}s after {sig.name}: {names}\n{(tmp_path / 'up.log').read_text()[-3000:]}"
        assert up.wait(timeout=max(1.0, STOP_BUDGET_S - (time.monotonic() - started))) == 0
        print(f"make up stopped on {sig.name} in {time.monotonic() - started:.1f}s ({len(pids)} processes)")
    finally:
        if up.poll() is None:
            os.killpg(up.pid, signal.SIGKILL)
        for proc in psutil.process_iter():
            try:
                if proc.environ().get("AIRFLOW_HOME") == env["AIRFLOW_HOME"]:
                    proc.kill()
            except psutil.Error:
                pass
