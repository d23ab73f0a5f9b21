"""`vector-sync`: search, status, one-off syncs, projects, settings and the sandbox."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from vector_sync.errors import FatalError
from vector_sync.models import SEARCH_MODES, Hit, SearchFilter, Window, parse_time


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "verbose", False):  # before Airflow is imported: it configures logging once
        import os

        os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")
    logging.basicConfig(
        level=logging.WARNING if not getattr(args, "verbose", False) else logging.INFO, format="%(levelname)s %(name)s: %(message)s"
    )
    if not hasattr(args, "handler"):
        parser.print_help()
        return 2
    import os

    # Like Airflow's own `airflow connections` command: read connections and Variables from
    # the metadata DB too (a plain process only sees the environment and secrets backends).
    previous = os.environ.get("_AIRFLOW_PROCESS_CONTEXT")
    os.environ["_AIRFLOW_PROCESS_CONTEXT"] = "server"
    try:
        return int(args.handler(args) or 0)
    except (FatalError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        if previous is None:
            os.environ.pop("_AIRFLOW_PROCESS_CONTEXT", None)
        else:
            os.environ["_AIRFLOW_PROCESS_CONTEXT"] = previous


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vector-sync", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress")
    sub = parser.add_subparsers()

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
    search.set_defaults(handler=cmd_search)

    status = sub.add_parser("status", help="per-source health, last sync and last run")
    status.add_argument("--json", action="store_true")
    status.set_defaults(handler=cmd_status)

    sync = sub.add_parser("sync", help="run one window outside the scheduler (replays, debugging)")
    sync.add_argument("source")
    sync.add_argument("--start", required=True, help="ISO time, inclusive")
    sync.add_argument("--end", required=True, help="ISO time, exclusive")
    sync.add_argument("--dry-run", action="store_true", help="fetch and chunk only; write nothing")
    sync.add_argument("--settings", help="settings file for connections (default airflow_settings.yaml)")
    sync.set_defaults(handler=cmd_sync)

    reindex = sub.add_parser("reindex", help="re-embed a source's documents (after a model change, or to repair)")
    reindex.add_argument("--source", required=True)
    reindex.add_argument("--since", help="from this date (default: the source's initial history)")
    reindex.set_defaults(handler=cmd_reindex)

    prune = sub.add_parser("prune", help="delete what no longer exists upstream (what the weekly prune DAG does)")
    prune.add_argument("source")
    prune.add_argument("--force", action="store_true", help="delete even past the guard's share")
    prune.add_argument("--dry-run", action="store_true", help="report, delete nothing")
    prune.set_defaults(handler=cmd_prune)

    permissions = sub.add_parser(
        "permissions", help="re-read who may see indexed items and update their access in place (what the hourly permissions DAG does)"
    )
    permissions.add_argument("source")
    permissions.add_argument("--dry-run", action="store_true", help="report the scopes whose access changed, update nothing")
    permissions.set_defaults(handler=cmd_permissions)

    index = sub.add_parser("index", help="the vector index")
    index.add_argument("action", choices=["create", "describe"])
    index.add_argument("--name", help="Pinecone index name (default: setting 'index', vector-sync)")
    index.add_argument("--cloud", default="aws")
    index.add_argument("--region", default="us-east-1")
    index.set_defaults(handler=cmd_index)

    projects = sub.add_parser("projects", help="list projects or switch one on/off")
    projects.add_argument("action", choices=["list", "activate", "deactivate"])
    projects.add_argument("key", nargs="?")
    projects.set_defaults(handler=cmd_projects)

    settings = sub.add_parser("settings", help="load airflow_settings.yaml into Airflow's metadata DB")
    settings.add_argument("action", choices=["load"])
    settings.add_argument("file", nargs="?")
    settings.set_defaults(handler=cmd_settings)

    sandbox = sub.add_parser("sandbox", help="local simulators of the external APIs")
    sandbox.add_argument("action", choices=["serve"])
    sandbox.add_argument("--host", default="127.0.0.1")
    sandbox.add_argument("--port", type=int, default=8765)
    sandbox.add_argument("--scale", type=int, default=1, help="multiply the sample workspace's volume")
    sandbox.add_argument("--latency-ms", type=float, default=0.0)
    sandbox.add_argument(
        "--rate-limit",
        action="append",
        default=[],
        metavar="API=N/S[/B]",
        help="e.g. jira=100/60 (100 requests per 60 s, bursts of up to 100) or slack=50/60/5 (bursts of 5); 429 + Retry-After above it",
    )
    sandbox.add_argument("--anchor", help="the sample's 'now' (default: this hour)")
    sandbox.set_defaults(handler=cmd_sandbox)
    _add_mcp_command(sub)
    return parser


# ----------------------------------------------------------------------------- helpers


def _runtime() -> Any:
    from vector_sync.airflow.backends import Runtime
    from vector_sync.airflow.bootstrap import export_connections, export_variables, projects_from, read_settings

    settings = read_settings()
    export_connections(settings)
    export_variables(settings)
    runtime = Runtime()
    projects = projects_from(settings)
    if projects and not runtime.state.projects.known():  # a fresh state DB: seed it as `settings load` does
        runtime.state.projects.upsert(projects)
    return runtime


def _day_or_time(value: str | None, end_of_day: bool = False) -> datetime | None:
    if not value:
        return None
    moment = parse_time(value if "T" in value else f"{value}T00:00:00+00:00")
    if end_of_day and "T" not in value:
        from datetime import timedelta

        moment += timedelta(days=1)
    return moment


def hit_link(hit: Hit) -> str:
    """The hit's link, "" unless http(s) (a stored ``javascript:`` URL is no link: see
    ``vector_sync.links``); meeting chunks jump to their moment in the recording."""
    from vector_sync.links import safe_link

    url = safe_link(hit.url)
    start = hit.metadata.get("start_time")
    if hit.source == "fireflies" and start not in (None, "") and url:
        separator = "&" if "?" in url else "?"
        return f"{url}{separator}t={int(float(start))}"
    return url


# ----------------------------------------------------------------------------- commands


def cmd_search(args: argparse.Namespace) -> int:
    from vector_sync.search import search, snippet

    flt = SearchFilter(
        sources=tuple(args.source),
        projects=tuple(p.upper() for p in args.project),
        user=args.user,
        since=_day_or_time(args.since),
        until=_day_or_time(args.until, end_of_day=True),
        all_access=args.all_access,
    )
    runtime = _runtime()
    hits = search(args.query, runtime.embedder(), runtime.store(), flt, top_k=args.top_k, mode=args.mode)
    if args.json:
        print(json.dumps(_search_json(hits), indent=2, default=str))
        return 0
    if not hits:
        print("no hits")
    for rank, hit in enumerate(hits, 1):
        print(f"{rank:>2}. [{hit.score:.3f}] {hit.source:<9} {hit.title}")
        print(f"    {snippet(hit.text, args.query)}")
        print(f"    {hit_link(hit)}")
    return 0


def _search_json(hits: list[Hit]) -> dict[str, Any]:
    results = [
        {
            "id": h.id,
            "score": round(h.score, 4),
            "source": h.source,
            "title": h.title,
            "link": hit_link(h),
            "text": h.text,
            "metadata": dict(h.metadata),
        }
        for h in hits
    ]
    out: dict[str, Any] = {"hits": results}
    hours: dict[str, float] = {}
    for h in hits:  # worklog hits: total hours per person
        if h.source == "tempo" and "hours" in h.metadata:
            person = str(h.metadata.get("author", "unknown"))
            hours[person] = round(hours.get(person, 0.0) + float(h.metadata["hours"]), 2)
    if hours:
        out["hours_by_person"] = hours
    return out


def cmd_status(args: argparse.Namespace) -> int:
    from vector_sync.airflow.schedule import metadata_schedules
    from vector_sync.sources import registered_sources
    from vector_sync.status import all_status

    runtime = _runtime()
    names = registered_sources()
    rows = all_status(names, runtime.state, runtime.store(), metadata_schedules(names, datetime.now(timezone.utc)))
    if args.json:
        print(json.dumps([row.to_json() for row in rows], indent=2, default=str))
        return 0
    print(f"{'source':<10} {'health':<8} {'last_sync':<26} {'age':>8} {'vectors':>8}  last run")
    for row in rows:
        age = f"{row.age_minutes:.0f} min" if row.age_minutes is not None else "-"
        run = row.last_run or {}
        last = (
            f"fetched {run.get('fetched', 0)}, filtered {run.get('filtered_out', 0)}, embedded {run.get('embedded', 0)}, "
            f"unchanged {run.get('skipped_unchanged', 0)}, upserted {run.get('upserted', 0)}, deleted {run.get('deleted', 0)}, "
            f"errors {run.get('errors', 0)}, tokens {run.get('tokens', 0)}, {run.get('duration_s') or 0:.1f}s"
            if run
            else "never ran"
        )
        print(f"{row.source:<10} {row.health:<8} {row.last_sync or 'never':<26} {age:>8} {row.vectors:>8}  {last}")
        for window in row.failed_windows:
            print(f"{'':<10} failed window {window['window_start']} .. {window['window_end']} (run {window['run_id']})")
        if (row.schedule or {}).get("state") == "stuck":
            print(f"{'':<10} schedule stuck: {row.schedule['cause']}\n{'':<10} fix: {row.schedule['fix']}")
    return 0


def cmd_sync(args: argparse.Namespace) -> int:
    import os

    from vector_sync.embedders.base import OPENAI_USD_PER_MILLION_TOKENS
    from vector_sync.run import sync_window

    if args.settings:
        os.environ["VECTOR_SYNC_SETTINGS_FILE"] = args.settings
    runtime = _runtime()
    window = Window(parse_time(args.start), parse_time(args.end))
    counts = sync_window(runtime.source(args.source), window, runtime, dry_run=args.dry_run)
    if args.dry_run:
        cost = counts["tokens"] * OPENAI_USD_PER_MILLION_TOKENS / 1_000_000
        print(
            f"dry run {args.source} {window.start.isoformat()} .. {window.end.isoformat()}: "
            f"{counts['fetched']} fetched, {counts['filtered_out']} filtered out, {counts['chunks']} chunks, "
            f"{counts['embedded']} would be embedded ({counts['skipped_unchanged']} unchanged), "
            f"{counts['tokens']} tokens, about ${cost:.6f} on text-embedding-3-small"
        )
        return 0
    print(json.dumps({k: v for k, v in counts.items() if not isinstance(v, (dict, list))}, default=str))
    return 0


def cmd_reindex(args: argparse.Namespace) -> int:
    from datetime import timedelta

    from vector_sync.run import sync_window

    runtime = _runtime()
    now = datetime.now(timezone.utc)
    source = runtime.source(args.source)
    days = float(source.settings.option("initial_history_days"))
    start = _day_or_time(args.since) or now - timedelta(days=days)
    counts = sync_window(source, Window(start, now), runtime, run_id=f"reindex__{now:%Y%m%dT%H%M%S}", force=True)
    print(
        f"reindexed {args.source} {start.isoformat()} .. {now.isoformat()}: {counts['fetched']} documents, {counts['embedded']} chunks embedded, {counts['tokens']} tokens"
    )
    return 0


def cmd_prune(args: argparse.Namespace) -> int:
    from vector_sync.airflow.maintenance import prune

    result = prune(args.source, force=args.force, dry_run=args.dry_run, runtime=_runtime())
    verb = "would delete" if args.dry_run else "deleted"
    print(
        f"{args.source}: {result['listed']} live upstream, {result['known']} indexed, {verb} {result['gone']} "
        f"({result['share']:.0%}; {result['deleted_chunks']} chunks)"
    )
    return 0


def cmd_permissions(args: argparse.Namespace) -> int:
    from vector_sync.airflow.maintenance import permissions

    result = permissions(args.source, dry_run=args.dry_run, runtime=_runtime())
    verb = "would update" if args.dry_run else "updated"
    print(
        f"{args.source}: {result['indexed_scopes']} indexed scopes ({result['listed_scopes']} listed upstream), "
        f"{verb} {result['changed_scopes']} ({result['restricted_scopes']} restricted: no longer listed), "
        f"{result['updated_documents']} documents, {result['updated_chunks']} chunks, 0 embeddings"
    )
    return 0


def cmd_index(args: argparse.Namespace) -> int:
    runtime = _runtime()
    config = runtime.config
    embedder = runtime.embedder()
    if config.store != "pinecone":
        print(
            f"store is {config.store}: its table is created on the first write ({embedder.dimensions} dimensions, {embedder.fingerprint})"
        )
        return 0
    from vector_sync.stores.pinecone import check_dimension, create_index

    name = args.name or config.options.get("index", "vector-sync")
    pc = runtime.pinecone_client()
    if args.action == "create":
        host = create_index(pc, name, embedder.dimensions, metric="dotproduct", cloud=args.cloud, region=args.region)
        print(f"index {name} ready at {host} ({embedder.dimensions} dimensions, dotproduct: dense and keyword vectors)")
    else:
        print(f"index {name}: {check_dimension(pc, name, embedder.dimensions)}")
    return 0


def cmd_projects(args: argparse.Namespace) -> int:
    runtime = _runtime()
    if args.action == "list":
        for project in runtime.state.projects.all():
            print(f"{project.key:<8} {'active' if project.is_active else 'inactive':<9} {project.name}")
        return 0
    if not args.key:
        raise ValueError("give the project key")
    if not runtime.state.projects.set_active(args.key.upper(), args.action == "activate"):
        raise ValueError(f"unknown project {args.key}")
    print(f"{args.key.upper()} {args.action}d")
    return 0


def cmd_settings(args: argparse.Namespace) -> int:
    from vector_sync.airflow.bootstrap import apply_settings, projects_from, read_settings

    settings = read_settings(args.file)
    counts = apply_settings(settings)
    runtime = _runtime()
    projects = projects_from(settings)
    if projects:
        runtime.state.projects.upsert(projects)
    print(f"loaded {counts['connections']} connections, {counts['pools']} pools, {counts['variables']} variables, {len(projects)} projects")
    return 0


def cmd_sandbox(args: argparse.Namespace) -> int:
    from sandbox import build_sandbox
    from sandbox.server import RateLimiter
    from sandbox.workspace import Workspace, floor_to_hour

    anchor = parse_time(args.anchor) if args.anchor else floor_to_hour(datetime.now(timezone.utc))
    limits = {}
    for spec in args.rate_limit:
        api, rate = spec.split("=")
        count, _, rest = rate.partition("/")
        per, _, burst = rest.partition("/")
        limits[api] = RateLimiter(float(count), float(per or 1), float(burst) if burst else None)
    box = build_sandbox(
        Workspace(anchor=anchor, scale=args.scale), host=args.host, port=args.port, latency_ms=args.latency_ms, rate_limits=limits
    )
    print(
        f"sandbox serving {', '.join(sorted(s.name for s in box.simulators.values()))} at {box.url} (anchor {anchor.isoformat()})",
        flush=True,
    )
    try:
        box.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


# ----------------------------------------------------------------------------- mcp (#21)


def _add_mcp_command(sub: Any) -> None:
    mcp = sub.add_parser("mcp", help="serve the index to an AI assistant over stdio (Model Context Protocol)")
    mcp.add_argument("--user", help="whose view to serve (an email): public items and those listing it; default: public items only")
    mcp.set_defaults(handler=cmd_mcp)


def cmd_mcp(args: argparse.Namespace) -> int:
    from vector_sync.airflow.schedule import metadata_schedules
    from vector_sync.mcp.stdio import runtime_index, serve_stdio, stdio_viewer

    stdio_viewer(args.user)  # a blank or non-email --user: exit 2 before anything starts
    index = runtime_index(_runtime(), lambda names: metadata_schedules(names, datetime.now(timezone.utc)))
    serve_stdio(index, args.user)
    return 0


if __name__ == "__main__":
    sys.exit(main())
