"""`vector-sync sandbox serve`: the local simulators of the external APIs."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
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
    sandbox.set_defaults(handler=run)


def rate_limits(specs: list[str]) -> dict[str, object]:
    """``API=N/S[/B]`` options as the sandbox's limiters; ``UsageError`` quoting a bad one."""
    from sandbox.server import RateLimiter
    from vector_sync.cli.output import UsageError

    limits = {}
    for spec in specs:
        try:
            api, rate = spec.split("=")
            count, _, rest = rate.partition("/")
            per, _, burst = rest.partition("/")
            limits[api] = RateLimiter(float(count), float(per or 1), float(burst) if burst else None)
        except ValueError:
            raise UsageError(f"--rate-limit {spec!r}: write API=N/S or API=N/S/B, e.g. jira=100/60") from None
    return limits


def run(args: argparse.Namespace) -> int:
    from datetime import datetime, timezone

    from sandbox import build_sandbox
    from sandbox.workspace import Workspace, floor_to_hour
    from vector_sync.cli.output import emit
    from vector_sync.search_request import parse_bound

    anchor = parse_bound(args.anchor, "--anchor") if args.anchor else floor_to_hour(datetime.now(timezone.utc))
    box = build_sandbox(
        Workspace(anchor=anchor, scale=args.scale),
        host=args.host,
        port=args.port,
        latency_ms=args.latency_ms,
        rate_limits=rate_limits(args.rate_limit),
    )
    emit(f"sandbox serving {', '.join(sorted(s.name for s in box.simulators.values()))} at {box.url} (anchor {anchor.isoformat()})")
    try:
        box.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0
