"""`vector-sync webhooks notion-token`: the verification token Notion sent to the receiver.

Notion's first request to a new webhook subscription is unsigned and carries the token that
signs every later event (https://developers.notion.com/reference/webhooks); the receiver keeps
it in ``webhook_handshakes`` and refuses events until it is the password of connection
``vector_sync_webhook_notion``. This prints it for the operator to copy (and to paste into
Notion's "Verify" dialog): the one secret the CLI ever prints, on stdout only.
"""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    hooks = sub.add_parser("webhooks", help="webhook setup: the verification token Notion sent")
    hooks.add_argument("action", choices=["notion-token"])
    hooks.add_argument("--json", action="store_true", help='as JSON: {"source", "verification_token"} (null when none came)')
    hooks.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from vector_sync.cli.context import runtime
    from vector_sync.cli.output import emit, emit_json

    token = runtime(embeds=False).state.webhooks.handshake("notion")
    if args.json:
        emit_json({"source": "notion", "verification_token": token})
    elif token:
        emit(token)
    if not token:
        print(
            "no Notion verification token received yet: create the subscription with the URL "
            ".../vector-sync/webhooks/notion while connection vector_sync_webhook_notion has no password",
            file=sys.stderr,
        )
        return 1
    return 0
