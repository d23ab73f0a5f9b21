"""`vector-sync sync`: one window outside the scheduler (replays, debugging)."""

from __future__ import annotations

import argparse
from datetime import datetime, timedelta, timezone

# A window may end a little after now (clocks differ, a replay of the interval that just ended),
# never later: data after now does not exist yet, and last_sync would claim it synced.
FUTURE_SLACK = timedelta(minutes=5)


def register(sub: argparse._SubParsersAction) -> None:
    sync = sub.add_parser("sync", help="run one window outside the scheduler (replays, debugging)")
    sync.add_argument("source")
    sync.add_argument("--start", required=True, help="ISO time, inclusive")
    sync.add_argument("--end", required=True, help="ISO time, exclusive; at most a few minutes after now")
    sync.add_argument("--dry-run", action="store_true", help="fetch and chunk only; write nothing")
    sync.add_argument("--settings", help="settings file for connections (default airflow_settings.yaml)")
    sync.set_defaults(handler=run)


def checked_window(start: str, end: str, now: datetime | None = None) -> tuple[datetime, datetime]:
    """``--start``/``--end`` as a window: both parse, start before end, end not past now
    (+ ``FUTURE_SLACK``). ``UsageError`` naming the option and the allowed range."""
    from vector_sync.cli.output import UsageError
    from vector_sync.search_request import parse_bound

    now = now or datetime.now(timezone.utc)
    begin, finish = parse_bound(start, "--start"), parse_bound(end, "--end")
    assert begin is not None and finish is not None  # required options
    if begin >= finish:
        raise UsageError(f"--start {start!r} is not before --end {end!r}: the window is empty")
    latest = now + FUTURE_SLACK
    if finish > latest:
        raise UsageError(
            f"--end {end!r} is in the future: a window may end at most {FUTURE_SLACK.total_seconds() / 60:.0f} minutes "
            f"after now (until {latest.isoformat(timespec='seconds')})"
        )
    return begin, finish


def known_source(name: str) -> str:
    from vector_sync.cli.output import UsageError
    from vector_sync.specs import REGISTRY

    if name not in REGISTRY:
        raise UsageError(f"unknown source '{name}': use one of {', '.join(REGISTRY)}")
    return name


def run(args: argparse.Namespace) -> int:
    import os

    from vector_sync.cli.context import check_variables, runtime
    from vector_sync.cli.output import UsageError, emit, emit_json
    from vector_sync.embedders.base import OPENAI_USD_PER_MILLION_TOKENS
    from vector_sync.models import Window
    from vector_sync.run import sync_window

    known_source(args.source)
    start, end = checked_window(args.start, args.end)
    if args.settings:
        if not os.path.isfile(args.settings):
            raise UsageError(f"settings file {args.settings!r} not found")
        os.environ["VECTOR_SYNC_SETTINGS_FILE"] = args.settings
    check_variables(f"vector_sync_{args.source}", "vector_sync_config")
    backends = runtime()
    window = Window(start, end)
    counts = sync_window(backends.source(args.source), window, backends, dry_run=args.dry_run)
    if args.dry_run:
        cost = counts["tokens"] * OPENAI_USD_PER_MILLION_TOKENS / 1_000_000
        emit(
            f"dry run {args.source} {window.start.isoformat()} .. {window.end.isoformat()}: "
            f"{counts['fetched']} fetched, {counts['filtered_out']} filtered out, {counts['chunks']} chunks, "
            f"{counts['embedded']} would be embedded ({counts['skipped_unchanged']} unchanged), "
            f"{counts['tokens']} tokens, about ${cost:.6f} on text-embedding-3-small"
        )
        return 0
    emit_json({k: v for k, v in counts.items() if not isinstance(v, (dict, list))}, indent=None)
    return 0
