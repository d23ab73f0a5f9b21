"""`make up`: the sandbox plus `airflow standalone` on 127.0.0.1, ready to log in.

The sandbox keeps the demo's anchor so the UI shows the same sample. Airflow's own
processes (scheduler, dag-processor, api-server, triggerer) come from `airflow standalone`;
stopping it (Ctrl-C or SIGTERM) stops the sandbox too.

Before starting, earlier manual runs that hold logical dates scheduled runs need (an older
`make demo`, `airflow dags test DAG DATE`) are moved off them (vector_sync.airflow.schedule), so every
sync DAG gets its next scheduled run.

Stopping: `airflow standalone` runs in a process group (and session) of its own, so the
terminal's Ctrl-C reaches only this process, which then stops everything in order: SIGTERM to
the group and to every process descended from it (LocalExecutor workers, task supervisors),
then SIGKILL to whatever is still alive after ``GRACE_S``. Left alone, the scheduler outlived
a SIGTERM to the group by more than 25 s, and a SIGTERM to `airflow standalone` alone orphans
its children.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

USER, PASSWORD = "admin", "admin"
GRACE_S = 8.0  # SIGTERM, then SIGKILL: everything is gone well within 15 s


class Stop(Exception):
    """SIGTERM / SIGINT received."""


def _raise_stop(signum: int, _frame: object) -> None:
    raise Stop(signal.Signals(signum).name)


def _session_members(sid: int) -> set[int]:
    """Processes of session ``sid`` (those that did not start a session of their own)."""
    members = set()
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else ():
        if entry.isdigit():
            try:
                if os.getsid(int(entry)) == sid:
                    members.add(int(entry))
            except OSError:
                pass
    return members


def _tree(pid: int) -> set[int]:
    """``pid``, its descendants and the rest of its session."""
    import psutil

    found = {pid} | _session_members(pid)
    for root in list(found):
        try:
            found |= {child.pid for child in psutil.Process(root).children(recursive=True)}
        except psutil.Error:
            pass
    return found


def stop_tree(proc: subprocess.Popen, grace_s: float = GRACE_S) -> float:
    """SIGTERM the process group of ``proc`` and everything under it, SIGKILL what is left after
    ``grace_s``; return the seconds it took until every process was gone."""
    import psutil

    started = time.monotonic()
    seen = _tree(proc.pid)
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    for pid in seen:
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError:
            pass

    def alive() -> list:
        procs = []
        for pid in seen:
            try:
                p = psutil.Process(pid)
                if p.status() != psutil.STATUS_ZOMBIE:
                    procs.append(p)
            except psutil.Error:
                pass
        return procs

    while time.monotonic() - started < grace_s:
        proc.poll()  # reap the direct child
        seen |= {pid for root in list(seen) if psutil.pid_exists(root) for pid in _tree(root)}
        if not alive():
            break
        time.sleep(0.2)
    left = alive()
    for p in left:
        try:
            p.kill()
        except psutil.Error:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    psutil.wait_procs(left, timeout=5)
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass
    return time.monotonic() - started


def repair_schedules() -> None:
    """Free logical dates that earlier manual runs hold (vector_sync.airflow.schedule)."""
    from vector_sync.airflow.schedule import repair_replays, repair_summary

    try:
        changes = repair_replays()
    except Exception as exc:  # never keep Airflow from starting
        print(f"could not check the sync DAGs' runs for blocked schedules: {exc}", file=sys.stderr)
        return
    if changes:
        print(repair_summary(changes))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args(argv)

    from sandbox import build_sandbox
    from sandbox.webhooks import wire_webhooks
    from sandbox.workspace import Workspace, load_or_create_anchor
    from vector_sync.runtime import airflow_home, data_dir

    previous = {sig: signal.signal(sig, _raise_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    box = proc = None
    try:
        box = build_sandbox(Workspace(anchor=load_or_create_anchor(data_dir() / "sandbox_anchor.txt")), port=args.port).start()
        home = airflow_home()
        repair_schedules()
        # SimpleAuthManager reads (or generates) passwords here: pre-seed a known one for local use.
        (home / "simple_auth_manager_passwords.json.generated").write_text(json.dumps({USER: PASSWORD}))
        api_port = os.environ.get("AIRFLOW__API__PORT", "8080")
        # Tasks reach the execution API at base_url, which defaults to port 8080 whatever the port.
        os.environ.setdefault("AIRFLOW__API__BASE_URL", f"http://127.0.0.1:{api_port}")
        os.environ.setdefault("AIRFLOW__CORE__EXECUTION_API_SERVER_URL", f"http://127.0.0.1:{api_port}/execution/")
        os.environ.update(wire_webhooks(box, f"http://127.0.0.1:{api_port}/vector-sync/webhooks"))  # sandbox.webhooks
        print(f"sandbox: {box.url}")
        print(f"Airflow UI: http://127.0.0.1:{api_port}  (user {USER}, password {PASSWORD}); Ctrl-C stops everything")
        print("The vector_sync_* DAGs run on their schedules; Trigger in the UI catches a source up to now.", flush=True)
        proc = subprocess.Popen([str(Path(sys.executable).parent / "airflow"), "standalone"], start_new_session=True)
        return proc.wait()
    except (Stop, KeyboardInterrupt) as why:
        if proc is not None:
            print(f"\n{why or 'SIGINT'}: stopping Airflow…", file=sys.stderr, flush=True)
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the stop short
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            took = stop_tree(proc)
            print(f"stopped in {took:.1f}s", file=sys.stderr)
        return 0
    finally:
        if proc is not None and proc.poll() is None:  # airflow standalone outlived us: never leave it behind
            stop_tree(proc)
        if box is not None:
            box.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


if __name__ == "__main__":
    sys.exit(main())
