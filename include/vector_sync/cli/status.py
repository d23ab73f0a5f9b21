"""`vector-sync status`: per source health, last sync, last run, its skips and the schedule."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    status = sub.add_parser("status", help="per-source health, last sync and last run")
    status.add_argument("--json", action="store_true")
    status.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from datetime import datetime, timezone

    from vector_sync.cli.context import runtime, schedules
    from vector_sync.cli.output import emit, emit_json
    from vector_sync.runtime import embedder_fingerprint
    from vector_sync.specs import REGISTRY
    from vector_sync.status import all_status, describe

    backends = runtime()
    names = list(REGISTRY)
    now = datetime.now(timezone.utc)
    rows = all_status(names, backends.state, backends.store(), schedules(names, now), embedder_fingerprint(backends.config))
    if args.json:
        emit_json([row.to_json() for row in rows])
        return 0
    emit(describe(rows))
    return 0
