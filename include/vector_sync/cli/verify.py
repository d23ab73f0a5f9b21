"""`vector-sync verify SOURCE`: the active store against the ledger, as a one-line verdict."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    verify = sub.add_parser("verify", help="compare a source's ledger with the active vector store (exit 1 on a mismatch)")
    verify.add_argument("source")
    verify.add_argument("--json", action="store_true", help="the verdict with the missing and extra ids (first 100 each)")
    verify.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from vector_sync.cli.context import runtime
    from vector_sync.cli.output import emit, emit_json
    from vector_sync.cli.sync import known_source
    from vector_sync.coverage import check_coverage

    known_source(args.source)
    backends = runtime()
    coverage = check_coverage(args.source, backends.state, backends.store())
    if args.json:
        emit_json(coverage.to_json())
    else:
        emit(coverage.verdict())
    return 0 if coverage.ok else 1
