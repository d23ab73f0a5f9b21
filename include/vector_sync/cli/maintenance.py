"""`vector-sync prune`, `vector-sync permissions` and `vector-sync optimize`: what the maintenance DAGs do, by hand."""

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

    optimize = sub.add_parser(
        "optimize", help="build or refresh the embedded store's vector index and compact it (what the hourly optimize DAG does)"
    )
    optimize.add_argument("--retrain", action="store_true", help="retrain the vector index on the current rows")
    optimize.add_argument("--json", action="store_true", help="the two reports as JSON")
    optimize.set_defaults(handler=run_optimize)


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


def run_optimize(args: argparse.Namespace) -> int:
    from vector_sync.airflow.optimize import compact, index_vectors
    from vector_sync.cli.context import runtime
    from vector_sync.cli.output import emit, emit_json

    backends = runtime()
    indexed = index_vectors(retrain=args.retrain, runtime=backends)
    compacted = compact(runtime=backends)
    if args.json:
        emit_json({"index_vectors": indexed, "compact": compacted})
        return 0
    emit(
        f"vector index: {indexed['vector_index']}"
        + (f" ({indexed['reason']})" if "reason" in indexed else f" over {indexed['rows']:,} rows")
    )
    if compacted["compacted"]:
        emit(
            f"compacted {compacted['rows']:,} rows: {compacted['fragments_before']} -> {compacted['fragments_after']} fragments, "
            f"{compacted['versions_before']} -> {compacted['versions_after']} versions"
        )
    else:
        emit(f"not compacted: {compacted.get('reason', 'nothing stored yet')}")
    return 0
