"""`vector-sync rebuild SOURCE`: bring a source's history into the active store and embedder.

The copy path runs here (no upstream or embedding calls). A re-embedding is triggered as a run of
``vector_sync_rebuild_<source>`` when a scheduler is running (mapped windows in the source's pool,
resumable); without one, or with ``--here``, its windows run in this process, one after the other,
resumable the same way (``rebuild_windows``)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    rebuild = sub.add_parser(
        "rebuild",
        help="after a switch of store or embedder: copy the source's vectors to the active store, or re-embed its history",
    )
    rebuild.add_argument("source")
    rebuild.add_argument("--dry-run", action="store_true", help="print the path, documents, chunks, tokens and cost; write nothing")
    rebuild.add_argument("--reembed", action="store_true", help="re-embed from upstream even where the vectors could be copied")
    rebuild.add_argument("--force", action="store_true", help="drop documents not found upstream again even past the prune guard's share")
    rebuild.add_argument("--here", action="store_true", help="re-embed in this process even when a scheduler could run the rebuild DAG")
    rebuild.add_argument("--json", action="store_true", help="the plan (and the result) as JSON")
    rebuild.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import logging

    from vector_sync.cli.context import runtime
    from vector_sync.cli.output import emit, emit_json
    from vector_sync.cli.sync import known_source
    from vector_sync.rebuild import REEMBED, store_opener
    from vector_sync.rebuild import plan as plan_rebuild
    from vector_sync.run import rebuild_source
    from vector_sync.runtime import embedder_fingerprint

    known_source(args.source)
    backends = runtime()
    opener = store_opener(backends.pinecone_client)
    # The active embedder's fingerprint from its settings: the copy path never loads the model.
    fingerprint = embedder_fingerprint(backends.config)
    plan = plan_rebuild(args.source, backends.state, backends.store(), fingerprint, opener, reembed=args.reembed)
    run_id = None
    if not args.dry_run and not args.here and plan.path == REEMBED:
        from vector_sync.airflow.rebuild import trigger_rebuild

        run_id = trigger_rebuild(args.source, reembed=args.reembed, force=args.force)
        if run_id is None:
            logging.getLogger(__name__).warning("no scheduler is running: re-embedding %d windows in this process", len(plan.windows))
    result = None
    if not args.dry_run and run_id is None:
        # The source is opened only here: a dry run or a triggered run plans from the ledger and the
        # stores, and never waits on an upstream that may be down (the Jira client connects on open).
        result = rebuild_source(backends.source(args.source), backends, plan, opener, force=args.force)
    if args.json:
        emit_json({"plan": plan.to_json(), "result": result, "triggered": run_id})
    else:
        emit(("dry run, nothing written: " if args.dry_run else "") + plan.describe())
        if run_id is not None:
            emit(f"triggered vector_sync_rebuild_{args.source} run {run_id}: progress in `vector-sync status --json` (rebuild)")
        if result is not None:
            emit(_summary(args.source, result))
    return 0 if result is None or result["ok"] else 1


def _summary(source: str, result: dict) -> str:
    if result["path"] == "copy":
        done = f"copied {result['documents']} documents ({result['chunks']} chunks), 0 embedded"
        if result["incomplete_count"]:
            done += f"; {result['incomplete_count']} documents incomplete in the old store: run `vector-sync rebuild {source} --reembed`"
    elif result["path"] == "re-embed":
        done = f"re-embedded {result['windows']} windows in this process: {result['fetched']} documents, {result['embedded']} chunks, {result['tokens']} tokens"
    else:
        done = "nothing to copy or embed"
    return (
        f"{source}: {done}; dropped {result['dropped_documents']} documents gone upstream, "
        f"deleted {result['deleted_extra_chunks']} chunks not in the ledger; verify: {result['verify']}"
    )
