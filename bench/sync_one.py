"""Sync one source's whole sandbox workspace in one window and print one JSON line.

Run by bench/run.py in its own process, so ``peak_rss_mb`` is this sync's alone (the
sandbox serving the data runs in another process).

With ``--rate-limit API=N/S`` (the limit the sandbox enforces) the line compares the sync's
time with the least the limit allows: ``min_seconds`` is the requests the sync needed (429s
not counted) divided by N/S, per bucket: the API, or each path with ``--per-path`` (Slack
counts per method); the slowest bucket sets the minimum. ``ratio = seconds / min_seconds``;
``throttled`` counts the 429s the sandbox answered.
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
from pathlib import Path

from vector_sync.cli.output import emit, reserved_stdout

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("source")
    parser.add_argument("--sandbox-url", required=True)
    parser.add_argument("--start", required=True)
    parser.add_argument("--end", required=True)
    parser.add_argument("--label", default=None)
    parser.add_argument("--option", action="append", default=[], help="source option KEY=JSON")
    parser.add_argument("--rate-limit", default=None, metavar="API=N/S", help="report against this limit (see above)")
    parser.add_argument("--per-path", action="store_true", help="the limit holds per path (Slack: per method)")
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

    from vector_sync.airflow.backends import Runtime
    from vector_sync.airflow.bootstrap import export_connections, export_variables, projects_from, read_settings
    from vector_sync.models import Window, parse_time
    from vector_sync.run import sync_window

    settings = read_settings()
    export_connections(settings)
    export_variables(settings)
    runtime = Runtime()
    # Every project active: the benchmark measures throughput, not the filter.
    runtime.state.projects.upsert([(key, name, True) for key, name, _ in projects_from(settings)])

    # Warm the process as a long-running worker is: imports and the tokenizer's vocabulary
    # load once per process, not per sync.
    import lancedb  # noqa: F401

    from vector_sync.tokens import get_encoding

    get_encoding()
    window = Window(parse_time(args.start), parse_time(args.end))
    calls_before = _sandbox_calls(args.sandbox_url, args.source)
    detail_before = _sandbox_detail(args.sandbox_url, args.source) if args.rate_limit else {}
    started = time.perf_counter()
    source = runtime.source(args.source)
    counts = sync_window(source, window, runtime, run_id="bench")
    elapsed = time.perf_counter() - started
    calls = _sandbox_calls(args.sandbox_url, args.source) - calls_before
    items = int(counts.get("items", counts["fetched"]))
    peak_rss_mb = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    if args.rate_limit:
        detail = _sandbox_detail(args.sandbox_url, args.source)
        emit(json.dumps(_rate_limited_line(args, items, elapsed, calls, detail_before, detail, peak_rss_mb)))
        return 0
    emit(
        json.dumps(
            {
                "bench": args.label or args.source,
                "items": items,
                "documents": counts["fetched"],
                "items_per_min": round(items / elapsed * 60, 1),
                "seconds": round(elapsed, 2),
                "api_calls": calls,
                "embedded_chunks": counts["embedded"],
                "embedder": counts.get("fingerprint", ""),
                "peak_rss_mb": peak_rss_mb,
            }
        )
    )
    return 0


def _rate_limited_line(args, items: int, elapsed: float, calls: int, before: dict, after: dict, peak_rss_mb: float) -> dict:
    api, _, rate = args.rate_limit.partition("=")
    count, _, per = rate.partition("/")
    rate_per_s = float(count) / float(per or 1)
    needed: dict[str, int] = {}  # bucket -> requests answered without 429
    throttled = 0
    for path, statuses in after.items():
        for status, n in statuses.items():
            n -= before.get(path, {}).get(status, 0)
            if status == "429":
                throttled += n
                continue
            bucket = path if args.per_path else api
            needed[bucket] = needed.get(bucket, 0) + n
    slowest = max(needed, key=needed.get) if needed else api
    min_seconds = needed.get(slowest, 0) / rate_per_s
    line = {
        "bench": args.label or args.source,
        "items": items,
        "seconds": round(elapsed, 2),
        "min_seconds": round(min_seconds, 2),
        "ratio": round(elapsed / min_seconds, 3) if min_seconds else None,
        "api_calls": calls,
        "throttled": throttled,
        "peak_rss_mb": peak_rss_mb,
        "limit": f"{args.rate_limit}" + (" per method" if args.per_path else ""),
    }
    if args.per_path:
        line["slowest"] = {"method": slowest.rsplit("/", 1)[-1], "requests": needed.get(slowest, 0)}
    return line


def _sandbox_detail(url: str, api: str) -> dict[str, dict[str, int]]:
    """``{path: {status: n}}`` of ``api`` so far (the sandbox's ``/_sandbox/log/detail``)."""
    with urllib.request.urlopen(f"{url}/_sandbox/log/detail") as response:
        return json.load(response).get(api, {})


def _sandbox_calls(url: str, api: str) -> int:
    with urllib.request.urlopen(f"{url}/_sandbox/log") as response:
        return int(json.load(response).get(api, 0))


if __name__ == "__main__":
    with reserved_stdout():  # results on stdout, every log line (Airflow's too) on stderr
        sys.exit(main())
