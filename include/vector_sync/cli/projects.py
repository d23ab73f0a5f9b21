"""`vector-sync projects`: the table `filter_active_projects` reads."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    projects = sub.add_parser("projects", help="list projects or switch one on/off")
    projects.add_argument("action", choices=["list", "activate", "deactivate"])
    projects.add_argument("key", nargs="?")
    projects.add_argument("--json", action="store_true", help="list: as JSON")
    projects.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from vector_sync.cli.context import runtime
    from vector_sync.cli.output import UsageError, emit, emit_json

    if args.action != "list" and not args.key:
        raise UsageError(f"projects {args.action}: give the project key")
    state = runtime(embeds=False).state
    if args.action == "list":
        rows = state.projects.all()
        if args.json:
            emit_json([{"key": p.key, "name": p.name, "is_active": p.is_active} for p in rows])
        for project in rows if not args.json else ():
            emit(f"{project.key:<8} {'active' if project.is_active else 'inactive':<9} {project.name}")
        return 0
    key = args.key.strip().upper()
    if not state.projects.set_active(key, args.action == "activate"):
        known = ", ".join(p.key for p in state.projects.all()) or "none"
        raise UsageError(f"unknown project {key}: known projects are {known} (see `vector-sync projects list`)")
    emit(f"{key} {args.action}d")
    return 0
