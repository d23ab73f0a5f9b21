"""`vector-sync mcp`: the MCP server over stdio, for an assistant on the operator's machine (#21)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    mcp = sub.add_parser("mcp", help="serve the index to an AI assistant over stdio (Model Context Protocol)")
    mcp.add_argument("--user", help="whose view to serve (an email): public items and those listing it; default: public items only")
    mcp.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from datetime import datetime, timezone

    from vector_sync.airflow.schedule import metadata_schedules
    from vector_sync.cli.context import runtime
    from vector_sync.cli.output import UsageError, protocol_stdout
    from vector_sync.mcp.stdio import runtime_index, serve_stdio, stdio_viewer

    try:
        stdio_viewer(args.user)  # a blank or non-email --user: exit 2 before anything starts
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    index = runtime_index(runtime(), lambda names: metadata_schedules(names, datetime.now(timezone.utc)))
    with protocol_stdout():  # the protocol is the result: it alone on the real stdout
        serve_stdio(index, args.user)
    return 0
