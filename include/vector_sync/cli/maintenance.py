"""`vector-sync prune` and `vector-sync permissions`: what the maintenance DAGs do, by hand."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    prune = sub.add_parser("prune", help="delete what no longer exists upstream (what the weekly prune DAG does)")
    prune.add_argument("source")
    prune.add_argument("--force", action="store_true", help="delete even past the guard's share")
    prune.add_argument("--dry-run", action="store_true", help="report, delete nothing")
    prune.set_defaults(handler=run_prune)

    permissions = sub.add_parser(
        "permissions", help="re-read who may see indexed items and update their access in place (what the hourly permissions DAG does)"
    )
    permissions.add_argument("source")
    permissions.add_argument("--dry-run", action="store_true", help="report the scopes whose access changed, update nothing")
    permissions.set_defaults(handler=run_permissions)


def run_prune(args: argparse.Namespace) -> int:
    from vector_sync.airflow.maintenance import prune
    from vector_sync.cli.context import runtime
    from vector_sync.cli.output import emit
    from vector_sync.cli.sync import known_source

    known_source(args.source)
    result = prune(args.source, force=args.force, dry_run=args.dry_run, runtime=runtime())
    verb = "would delete" if args.dry_run else "deleted"
    emit(
        f"{args.source}: {result['listed']} live upstream, {result['known']} indexed, {verb} {result['gone']} "
        f"({result['share']:.0%}; {result['deleted_chunks']} chunks)"
    )
    return 0


def run_permissions(args: argparse.Namespace) -> int:
    from vector_sync.airflow.maintenance import permissions
    from vector_sync.cli.context import runtime
    from vector_sync.cli.output import emit
    from vector_sync.cli.sync import known_source

    known_source(args.source)
    result = permissions(args.source, dry_run=args.dry_run, runtime=runtime())
    verb = "would update" if args.dry_run else "updated"
    emit(
        f"{args.source}: {result['indexed_scopes']} indexed scopes ({result['listed_scopes']} listed upstream), "
        f"{verb} {result['changed_scopes']} ({result['restricted_scopes']} restricted: no longer listed), "
        f"{result['updated_documents']} documents, {result['updated_chunks']} chunks, 0 embeddings"
    )
    return 0
