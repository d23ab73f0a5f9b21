"""Slack mrkdwn -> readable plain text.

Slack stores references as angle-bracket tokens (``<@U123>``, ``<#C123|general>``,
``<https://x|label>``, ``<!here>``) and escapes ``&``, ``<`` and ``>`` as HTML entities.
What reaches the index should read as the message does in the client: names rather than
ids, link labels with their targets kept (a search may hit either), entities unescaped.
Emphasis markers (``*bold*``, ``_italic_``) are left alone: they read fine.

Pure functions: the caller passes the name lookups, so this module never calls the API.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable

NameLookup = Callable[[str], str | None]

# One token: <...> with no nested brackets; Slack escapes literal < and > inside text.
_TOKEN = re.compile(r"<([^<>\n]+)>")
# Special mentions Slack writes as <!name>; anything else after "!" keeps its label or name.
_SPECIAL = {"here": "@here", "channel": "@channel", "everyone": "@everyone"}


def mrkdwn_to_text(
    text: str | None,
    user_name: NameLookup | None = None,
    channel_name: NameLookup | None = None,
) -> str:
    """Render Slack message text readably.

    Args:
        text: the message's ``text`` field (mrkdwn with Slack's escaping).
        user_name: user id -> display name (``None`` when unknown: the id is kept).
        channel_name: channel id -> name, used when a channel token carries no label.
    """
    if not text:
        return ""

    def replace(match: re.Match) -> str:
        return _render(match.group(1), user_name, channel_name)

    return html.unescape(_TOKEN.sub(replace, text)).strip()


def _render(token: str, user_name: NameLookup | None, channel_name: NameLookup | None) -> str:
    target, _, label = token.partition("|")
    if target.startswith("@"):  # <@U123> or legacy <@U123|dana>
        ident = target[1:]
        name = (user_name(ident) if user_name else None) or label or ident
        return f"@{name}"
    if target.startswith("#"):  # <#C123|general>, or <#C123> from older clients
        ident = target[1:]
        name = label or (channel_name(ident) if channel_name else None) or ident
        return f"#{name}"
    if target.startswith("!"):  # <!here>, <!subteam^S123|@team>, <!date^...|fallback>
        keyword = target[1:].split("^", 1)[0]
        if keyword in _SPECIAL:
            return _SPECIAL[keyword]
        return label or f"@{keyword}"
    if target.startswith("mailto:"):
        address = target[len("mailto:") :]
        return label if label and label != address else address
    if label and label != target:
        return f"{label} ({target})"
    return target
