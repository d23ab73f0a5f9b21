"""Cold start of the everyday commands: `search`, `status` and `projects list`, 10 runs each.

Each run is a fresh `python -m vector_sync.cli` process (what a user's shell starts), timed
from spawn to exit, against a data folder holding the sandbox sample's last three days of
every registered source (synced first with `vector-sync sync`, the sandbox in its own process)
and the checkout's migrated Airflow home (`make bench` runs `make setup`). One JSON line:

{"bench": "cli_latency", "runs": 10, "search_p50_s": ..., "search_p95_s": ..., "status_p50_s": ..., ...}

Target (issue #19): each under 1.5 s cold on the 2-core machine.
"""

from __future__ import annotations

import json
import math
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

from vector_sync.cli.output import emit, reserved_stdout

ROOT = Path(__file__).resolve().parents[1]
ANCHOR = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)
RUNS = 10
TARGET_S = 1.5
COMMANDS = {
    "search": ["search", "invoice export", "--json"],
    "status": ["status", "--json"],
    "projects": ["projects", "list", "--json"],
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "vector_sync.cli", *args], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"vector-sync {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return done


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def main() -> int:
    from vector_sync.sources import registered_sources

    port = free_port()
    with tempfile.TemporaryDirectory(prefix="cli-latency-") as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_CONN_", "AIRFLOW_VAR_"))}
        env.update(
            AIRFLOW_HOME=os.environ.get("AIRFLOW_HOME") or str(ROOT / ".airflow"),
            VECTOR_SYNC_DATA_DIR=str(Path(tmp) / "data"),
            VECTOR_SYNC_SETTINGS_FILE=str(ROOT / "airflow_settings.yaml"),
            VECTOR_SYNC_SANDBOX_URL=f"http://127.0.0.1:{port}",
        )
        box = subprocess.Popen(
            [sys.executable, "-m", "vector_sync.cli", "sandbox", "serve", "--port", str(port), "--anchor", ANCHOR.isoformat()],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            for _ in range(300):
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1)
                    break
                except urllib.error.HTTPError:
                    break  # it answers
                except OSError:
                    time.sleep(0.1)
            start = (ANCHOR - timedelta(hours=72)).isoformat()
            for source in registered_sources():
                cli(env, "sync", source, "--start", start, "--end", ANCHOR.isoformat())
        finally:
            box.terminate()
            box.wait(timeout=30)
        cli(env, *COMMANDS["search"])  # first run: bytecode compiled, not a cold start we measure
        line: dict[str, object] = {"bench": "cli_latency", "runs": RUNS}
        for name, args in COMMANDS.items():
            times = []
            for _ in range(RUNS):
                began = time.perf_counter()
                cli(env, *args)
                times.append(time.perf_counter() - began)
            line[f"{name}_p50_s"] = round(statistics.median(times), 3)
            line[f"{name}_p95_s"] = round(percentile(times, 0.95), 3)
        line["target_s"] = TARGET_S
    emit(json.dumps(line))
    return 0


if __name__ == "__main__":
    with reserved_stdout():  # results on stdout, every log line (Airflow's too) on stderr
        sys.exit(main())
