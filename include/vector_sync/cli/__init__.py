"""`vector-sync`: search, status, one-off syncs, cursors, projects, settings and the sandbox.

Each command is a module of this package with ``register(subparsers)``; adding one is one name
in ``COMMANDS``. A module imports only ``argparse`` and light modules at the top, and what its
command needs inside it, so ``search``, ``status`` and ``projects list`` never pay for Airflow (see
``vector_sync.cli.context``). While a command runs, ``sys.stdout`` is stderr: whatever a library
prints or logs (Airflow's log handler is set up on stdout) lands there, and only the command's
result, written through ``vector_sync.cli.output``, reaches stdout.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence

# Subcommands, in help order: each is vector_sync.cli.<name> with register(subparsers).
COMMANDS = (
    "search",
    "status",
    "sync",
    "cursor",
    "reindex",
    "rebuild",
    "verify",
    "maintenance",
    "index",
    "projects",
    "settings",
    "webhooks",
    "sandbox",
    "mcp",
)


def main(argv: Sequence[str] | None = None) -> int:
    from vector_sync.cli.fastimport import defer_unused_imports
    from vector_sync.cli.output import run_guarded

    defer_unused_imports()
    parser = build_parser()
    args = parser.parse_args(argv)
    verbose = bool(getattr(args, "verbose", False))
    if not verbose:  # before Airflow is imported: it configures its logging once
        os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")
        # Airflow's own warnings (a Variable too short to mask...) are nothing a CLI user can act
        # on; vector-sync's warnings (skipped items) still show. -v shows everything.
        os.environ.setdefault("AIRFLOW__LOGGING__NAMESPACE_LEVELS", "airflow=ERROR")
    logging.basicConfig(stream=sys.stderr, level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if not hasattr(args, "handler"):
        parser.print_help(sys.stderr)
        return 2
    # Like Airflow's own `airflow connections` command: where Airflow is used, read connections
    # and Variables from the metadata DB too (a plain process sees only the environment).
    previous = os.environ.get("_AIRFLOW_PROCESS_CONTEXT")
    os.environ["_AIRFLOW_PROCESS_CONTEXT"] = "server"
    try:
        return run_guarded(args.handler, args, verbose)
    finally:
        if previous is None:
            os.environ.pop("_AIRFLOW_PROCESS_CONTEXT", None)
        else:
            os.environ["_AIRFLOW_PROCESS_CONTEXT"] = previous


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vector-sync", description=__doc__.split("\n", 1)[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress; tracebacks on errors")
    sub = parser.add_subparsers()
    for name in COMMANDS:
        importlib.import_module(f"{__name__}.{name}").register(sub)
    return parser


if __name__ == "__main__":
    sys.exit(main())
