"""`vector-sync rebuild SOURCE`: bring a source's history into the active store and embedder."""

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
    rebuild.add_argument("--json", action="store_true", help="the plan (and the result) as JSON")
    rebuild.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from vector_sync.cli.context import runtime
    from vector_sync.cli.output import emit, emit_json
    from vector_sync.cli.sync import known_source
    from vector_sync.rebuild import store_opener
    from vector_sync.run import rebuild_source
    from vector_sync.runtime import embedder_fingerprint

    known_source(args.source)
    backends = runtime()
    source = backends.source(args.source)
    opener = store_opener(backends.pinecone_client)
    plan, result = rebuild_source(
        source, backends, embedder_fingerprint(backends.config), opener, dry_run=args.dry_run, reembed=args.reembed, force=args.force
    )
    if args.json:
        emit_json({"plan": plan.to_json(), "result": result})
    else:
        emit(("would " if args.dry_run else "") + plan.describe())
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
