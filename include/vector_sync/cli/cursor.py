"""`vector-sync cursor`: show or repair a source's `last_sync`.

The cursor is where a catch-up run starts. A window that ended in the future (before such
windows were refused) left it there: status said "healthy" with a negative age and every later
catch-up failed with "window ends before it starts". ``cursor SOURCE --set TIME`` puts it back
(backwards too), never past now; ``--set latest-success`` puts it at the end of the latest
contiguous successful window that ended by now.
"""

from __future__ import annotations

import argparse

LATEST_SUCCESS = "latest-success"


def register(sub: argparse._SubParsersAction) -> None:
    cursor = sub.add_parser("cursor", help="show or repair a source's last_sync (where catch-up runs start)")
    cursor.add_argument("source")
    cursor.add_argument("--set", dest="value", metavar="TIME", help=f"an ISO time or date not after now, or '{LATEST_SUCCESS}'")
    cursor.add_argument("--json", action="store_true")
    cursor.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from datetime import datetime, timezone

    from vector_sync.cli.context import runtime
    from vector_sync.cli.output import UsageError, emit, emit_json
    from vector_sync.cli.sync import known_source
    from vector_sync.search_request import parse_bound

    known_source(args.source)
    now = datetime.now(timezone.utc)
    wanted = None
    if args.value is not None and args.value != LATEST_SUCCESS:
        wanted = parse_bound(args.value, "--set")
        if wanted is None or wanted > now:
            raise UsageError(f"--set {args.value!r} is in the future: the cursor may be at most now ({now.isoformat(timespec='seconds')})")
    runs = runtime(embeds=False).state.runs
    before = runs.last_sync(args.source)
    if args.value is not None:
        target = wanted if wanted is not None else runs.contiguous_success_end(args.source, now)
        if target is None:
            raise UsageError(f"{args.source} has no successful window ending by now: give --set TIME")
        runs.set_last_sync(args.source, target)
    after = runs.last_sync(args.source)
    if args.json:
        emit_json({"source": args.source, "last_sync": _iso(after), "previous": _iso(before)})
    elif args.value is None:
        emit(f"{args.source} last_sync {_iso(after) or 'never'}")
    else:
        emit(f"{args.source} last_sync {_iso(before) or 'never'} -> {_iso(after)}")
    return 0


def _iso(value: object) -> str | None:
    return value.isoformat() if value is not None else None  # type: ignore[attr-defined]
