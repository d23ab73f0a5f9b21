"""Which stored URLs may become links: absolute ``http:``/``https:`` ones only.

Hit URLs come from the sources' data, which anyone who can post a Slack message or edit a
Notion page shapes: a ``javascript:``, ``data:`` or relative URL must never become a link the
CLI prints or the operations page makes clickable.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

LINK_SCHEMES = frozenset({"http", "https"})


def safe_link(url: Any) -> str:
    """``url`` (stripped) when it is an absolute http(s) URL with a host, else ``""``."""
    text = str(url or "").strip()
    try:
        parts = urlsplit(text)
    except ValueError:  # e.g. an unbalanced "[" in the host
        return ""
    return text if parts.scheme.lower() in LINK_SCHEMES and parts.netloc else ""
