"""Sync one source's whole sandbox workspace in one window and print one JSON line.

Run by bench/run.py in its own process, so ``peak_rss_mb`` is this sync's alone (the
sandbox serving the data runs in another process).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
import urllib.request
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("source")
    parser.add_argument("--sandbox-url", required=True)
    parser.add_argument("--start", required=True)
    parser.add_argument("--end", required=True)
    parser.add_argument("--label", default=None)
    parser.add_argument("--option", action="append", default=[], help="source option KEY=JSON")
    args = parser.parse_args()

    data = tempfile.mkdtemp(prefix="vector-sync-bench-")
    os.environ.update(
        {
            "VECTOR_SYNC_SANDBOX_URL": args.sandbox_url,
            "VECTOR_SYNC_DATA_DIR": data,
            "AIRFLOW_HOME": str(Path(data) / "airflow"),
            "VECTOR_SYNC_SETTINGS_FILE": str(ROOT / "airflow_settings.yaml"),
        }
    )
    if args.option:
        options = {k: json.loads(v) for k, v in (o.split("=", 1) for o in args.option)}
        os.environ[f"AIRFLOW_VAR_VECTOR_SYNC_{args.source.upper()}"] = json.dumps({"options": options})

    from vector_sync.airflow_adapter import Runtime, sync_window
    from vector_sync.airflow_settings import export_connections, export_variables, projects_from, read_settings
    from vector_sync.models import Window, parse_time

    settings = read_settings()
    export_connections(settings)
    export_variables(settings)
    runtime = Runtime()
    # Every project active: the benchmark measures throughput, not the filter.
    runtime.state.upsert_projects([(key, name, True) for key, name, _ in projects_from(settings)])

    # Warm the process as a long-running worker is: imports and the tokenizer's vocabulary
    # load once per process, not per sync.
    import lancedb  # noqa: F401

    from vector_sync.tokens import get_encoding

    get_encoding()
    window = Window(parse_time(args.start), parse_time(args.end))
    calls_before = _sandbox_calls(args.sandbox_url, args.source)
    started = time.perf_counter()
    counts = sync_window(args.source, window, run_id="bench", runtime=runtime)
    elapsed = time.perf_counter() - started
    calls = _sandbox_calls(args.sandbox_url, args.source) - calls_before
    items = int(counts.get("items", counts["fetched"]))
    print(
        json.dumps(
            {
                "bench": args.label or args.source,
                "items": items,
                "documents": counts["fetched"],
                "items_per_min": round(items / elapsed * 60, 1),
                "seconds": round(elapsed, 2),
                "api_calls": calls,
                "embedded_chunks": counts["embedded"],
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            }
        )
    )
    return 0


def _sandbox_calls(url: str, api: str) -> int:
    with urllib.request.urlopen(f"{url}/_sandbox/log") as response:
        return int(json.load(response).get(api, 0))


if __name__ == "__main__":
    sys.exit(main())
