"""`vector-sync reindex`: re-embed a source's documents (after a model change, or to repair)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    reindex = sub.add_parser("reindex", help="re-embed a source's documents (after a model change, or to repair)")
    reindex.add_argument("--source", required=True)
    reindex.add_argument("--since", help="from this date (default: the source's initial history)")
    reindex.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from datetime import datetime, timedelta, timezone

    from vector_sync.cli.context import runtime
    from vector_sync.cli.output import UsageError, emit
    from vector_sync.cli.sync import known_source
    from vector_sync.models import Window
    from vector_sync.run import sync_window
    from vector_sync.search_request import parse_bound

    known_source(args.source)
    now = datetime.now(timezone.utc)
    since = parse_bound(args.since, "--since")
    if since is not None and since >= now:
        raise UsageError(f"--since {args.since!r} is not in the past")
    backends = runtime()
    source = backends.source(args.source)
    start = since or now - timedelta(days=float(source.settings.option("initial_history_days")))
    counts = sync_window(source, Window(start, now), backends, run_id=f"reindex__{now:%Y%m%dT%H%M%S}", force=True)
    emit(
        f"reindexed {args.source} {start.isoformat()} .. {now.isoformat()}: {counts['fetched']} documents, "
        f"{counts['embedded']} chunks embedded, {counts['tokens']} tokens"
    )
    return 0
