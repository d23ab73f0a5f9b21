"""`vector-sync verify SOURCE`: the active store against the ledger (ids, and the metadata of a
sample), as a one-line verdict."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    verify = sub.add_parser("verify", help="compare a source's ledger with the active vector store (exit 1 on a mismatch)")
    verify.add_argument("source")
    verify.add_argument("--json", action="store_true", help="the verdict with the missing and extra ids (first 100 each)")
    verify.add_argument("--sample", type=int, default=20, help="chunks whose stored metadata is compared with the ledger's (default 20)")
    verify.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from vector_sync.cli.context import runtime
    from vector_sync.cli.output import UsageError, emit, emit_json
    from vector_sync.cli.sync import known_source
    from vector_sync.coverage import check_coverage

    known_source(args.source)
    if args.sample < 0:
        raise UsageError(f"--sample must be 0 or more, got {args.sample}")
    backends = runtime()
    coverage = check_coverage(args.source, backends.state, backends.store(), sample=args.sample)
    if args.json:
        emit_json(coverage.to_json())
    else:
        emit(coverage.verdict())
    return 0 if coverage.ok else 1
