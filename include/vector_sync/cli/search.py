"""`vector-sync search`: the index as a person may see it."""

from __future__ import annotations

import argparse

from vector_sync.models import SEARCH_MODES


def register(sub: argparse._SubParsersAction) -> None:
    search = sub.add_parser("search", help="search the index (keywords and meaning; see --mode)")
    search.add_argument("query")
    search.add_argument("--source", action="append", default=[], help="only this source (repeatable)")
    search.add_argument("--project", action="append", default=[], help="only this project key (repeatable)")
    who = search.add_mutually_exclusive_group()
    who.add_argument(
        "--user",
        help="see what this person sees (an email): public items and the private/shared ones listing them; default: public items only",
    )
    who.add_argument("--all-access", action="store_true", help="an operator's view: every item, private ones included")
    search.add_argument("--since", help="date or ISO time, inclusive")
    search.add_argument("--until", help="date or ISO time, exclusive (a date means its end)")
    search.add_argument("--top-k", type=int, default=10)
    search.add_argument(
        "--mode", choices=SEARCH_MODES, default="hybrid", help="hybrid (default: keywords and vectors fused), keyword or dense"
    )
    search.add_argument("--json", action="store_true")
    search.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from vector_sync.cli.context import runtime
    from vector_sync.cli.output import UsageError, emit, emit_json
    from vector_sync.search import search, snippet
    from vector_sync.search_request import hit_link, search_filter, search_json

    if args.top_k < 1:
        raise UsageError(f"--top-k {args.top_k}: give at least 1")
    flt = search_filter(args.source, args.project, args.user, args.since, args.until, args.all_access)
    backends = runtime()
    hits = search(args.query, backends.embedder(), backends.store(), flt, top_k=args.top_k, mode=args.mode)
    if args.json:
        emit_json(search_json(hits))
        return 0
    if not hits:
        emit("no hits")
    for rank, hit in enumerate(hits, 1):
        emit(f"{rank:>2}. [{hit.score:.3f}] {hit.source:<9} {hit.title}")
        emit(f"    {snippet(hit.text, args.query)}")
        emit(f"    {hit_link(hit)}")
    return 0
