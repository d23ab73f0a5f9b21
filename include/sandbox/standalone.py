"""`make up`: the sandbox plus `airflow standalone` on 127.0.0.1, ready to log in.

The sandbox keeps the demo's anchor so the UI shows the same sample. Airflow's own
processes (scheduler, dag-processor, api-server, triggerer) come from `airflow standalone`;
stopping it (Ctrl-C) stops the sandbox too.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

USER, PASSWORD = "admin", "admin"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args(argv)

    from sandbox import build_sandbox
    from sandbox.workspace import Workspace, load_or_create_anchor
    from vector_sync.runtime import airflow_home, data_dir

    box = build_sandbox(Workspace(anchor=load_or_create_anchor(data_dir() / "sandbox_anchor.txt")), port=args.port).start()
    home = airflow_home()
    # SimpleAuthManager reads (or generates) passwords here: pre-seed a known one for local use.
    (home / "simple_auth_manager_passwords.json.generated").write_text(json.dumps({USER: PASSWORD}))
    api_port = os.environ.get("AIRFLOW__API__PORT", "8080")
    print(f"sandbox: {box.url}")
    print(f"Airflow UI: http://127.0.0.1:{api_port}  (user {USER}, password {PASSWORD}); Ctrl-C stops everything")
    print("The vector_sync_* DAGs run on their schedules; Trigger in the UI catches a source up to now.")
    try:
        return subprocess.call([str(Path(sys.executable).parent / "airflow"), "standalone"])
    except KeyboardInterrupt:
        return 0
    finally:
        box.stop()


if __name__ == "__main__":
    sys.exit(main())
