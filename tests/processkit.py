"""Processes a test starts and waits on: a free port, polling with the processes' log tails on
failure, and ``Proc`` (a component in its own process group, stopped with its children)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Kept when a child process's environment is cleaned: the suite's choice of offline embedder
# (tests/conftest.py), so a scheduler's vectors equal an in-process reference's.
SUITE_ENV = ("VECTOR_SYNC_OFFLINE_EMBEDDER",)


def clean_env(*prefixes: str) -> dict[str, str]:
    """This process's environment without the variables starting with ``prefixes`` (a child
    gets its own Airflow home and settings), the suite's own choices kept."""
    return {k: v for k, v in os.environ.items() if k in SUITE_ENV or not k.startswith(prefixes)}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(what: str, probe: Callable[[], Any], timeout_s: float, procs: list | None = None, interval_s: float = 1.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        for proc in procs or []:
            assert proc.popen.poll() is None, f"{proc.name} exited ({proc.popen.returncode}):\n{proc.tail()}"
        time.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s:.0f}s waiting for {what}\n" + "\n".join(p.tail() for p in procs or []))


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen
    log: Path

    def tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return f"--- {self.name} ---\n" + "\n".join(text.splitlines()[-lines:])

    def terminate(self) -> None:
        """SIGTERM the process group this test started (the component and its children)."""
        if self.popen.poll() is None:
            try:
                os.killpg(self.popen.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    def wait_or_kill(self, timeout_s: float = 20) -> None:
        try:
            self.popen.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(self.popen.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.popen.wait(timeout=10)


def http_ok(url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except Exception:
        return False
