"""`vector-sync index`: create or describe the Pinecone index."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    index = sub.add_parser("index", help="the vector index")
    index.add_argument("action", choices=["create", "describe"])
    index.add_argument("--name", help="Pinecone index name (default: setting 'index', vector-sync)")
    index.add_argument("--cloud", default="aws")
    index.add_argument("--region", default="us-east-1")
    index.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from vector_sync.cli.context import runtime
    from vector_sync.cli.output import emit

    backends = runtime()
    config = backends.config
    embedder = backends.embedder()
    if config.store != "pinecone":
        emit(f"store is {config.store}: its table is created on the first write ({embedder.dimensions} dimensions, {embedder.fingerprint})")
        return 0
    from vector_sync.stores.pinecone import check_dimension, create_index

    name = args.name or config.options.get("index", "vector-sync")
    pc = backends.pinecone_client()
    if args.action == "create":
        host = create_index(pc, name, embedder.dimensions, metric="dotproduct", cloud=args.cloud, region=args.region)
        emit(f"index {name} ready at {host} ({embedder.dimensions} dimensions, dotproduct: dense and keyword vectors)")
    else:
        emit(f"index {name}: {check_dimension(pc, name, embedder.dimensions)}")
    return 0
