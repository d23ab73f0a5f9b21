"""Atlassian Document Format (ADF) -> readable plain text.

Jira Cloud REST v3 returns descriptions and comment bodies as ADF trees (REST v2 as plain
strings). What reaches the index should read like the issue does in the browser, keep the
words a search will hit (names, link targets, code) and drop editor-only detail (marks,
colours, layout widths). Markdown-like markers are used because embedding models know them.

Pure functions and tolerant of anything: ``None`` and strings pass through, unknown node
types render their children, malformed nodes render as nothing rather than raise.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from typing import Any

# Nodes that flow inside a paragraph; everything else is a block separated by a blank line.
_INLINE_TYPES = frozenset(
    {"text", "mention", "emoji", "hardBreak", "inlineCard", "date", "status", "placeholder", "mediaInline", "inlineExtension"}
)


def adf_to_text(node: Any) -> str:
    """Render an ADF document (or any node, or a list of nodes) as readable text."""
    if node is None:
        return ""
    if isinstance(node, str):  # REST v2, or a field some apps still write as plain text
        return node.strip()
    if isinstance(node, list):
        return _blocks(node).strip()
    if not isinstance(node, dict):
        return str(node).strip()
    if node.get("type") in _INLINE_TYPES:
        return _inline([node]).strip()
    return _block(node).strip()


# ---------------------------------------------------------------- blocks


def _blocks(nodes: Iterable[Any], sep: str = "\n\n") -> str:
    """Render sibling nodes, gluing runs of inline nodes into one paragraph."""
    parts: list[str] = []
    run: list[Any] = []
    for node in nodes if isinstance(nodes, list) else []:
        if isinstance(node, dict) and node.get("type") in _INLINE_TYPES:
            run.append(node)
            continue
        if run:
            parts.append(_inline(run))
            run = []
        parts.append(_block(node))
    if run:
        parts.append(_inline(run))
    return sep.join(p for p in (p.strip("\n") for p in parts) if p.strip())


def _block(node: Any) -> str:
    if not isinstance(node, dict):
        return node if isinstance(node, str) else ""
    renderer = _BLOCK_RENDERERS.get(node.get("type", ""), _unknown)
    return renderer(node)


def _content(node: dict) -> list:
    content = node.get("content")
    return content if isinstance(content, list) else []


def _attrs(node: dict) -> dict:
    attrs = node.get("attrs")
    return attrs if isinstance(attrs, dict) else {}


def _children(node: dict) -> str:
    return _blocks(_content(node))


def _paragraph(node: dict) -> str:
    return _inline(_content(node))


def _heading(node: dict) -> str:
    level = _attrs(node).get("level", 1)
    level = level if isinstance(level, int) and 1 <= level <= 6 else 1
    text = _inline(_content(node))
    return f"{'#' * level} {text}" if text.strip() else ""


def _indent_item(marker: str, body: str) -> str:
    """Put ``marker`` before the first line and align the following lines under the text."""
    pad = " " * len(marker)
    lines = body.split("\n")
    rest = [f"{pad}{line}" if line.strip() else "" for line in lines[1:]]
    return "\n".join([f"{marker}{lines[0]}", *rest])


def _list_item_body(item: Any) -> str:
    # Items are tight: a nested list follows its paragraph on the next line.
    if isinstance(item, dict) and item.get("type") in ("taskItem", "decisionItem"):
        return _render_task_like(item)
    return _blocks(_content(item), sep="\n") if isinstance(item, dict) else ""


def _bullet_list(node: dict) -> str:
    return "\n".join(_indent_item("- ", _list_item_body(item)) for item in _content(node))


def _ordered_list(node: dict) -> str:
    start = _attrs(node).get("order", 1)
    number = start if isinstance(start, int) and start >= 0 else 1
    lines = []
    for offset, item in enumerate(_content(node)):
        lines.append(_indent_item(f"{number + offset}. ", _list_item_body(item)))
    return "\n".join(lines)


def _render_task_like(item: dict) -> str:
    """A task or decision item: inline content, possibly followed by a nested list."""
    box = ""
    if item.get("type") == "taskItem":
        box = "[x] " if _attrs(item).get("state") == "DONE" else "[ ] "
    return box + _blocks(_content(item), sep="\n")


def _task_list(node: dict) -> str:
    lines = []
    for item in _content(node):
        if isinstance(item, dict) and item.get("type") == "taskList":  # nested task list
            lines.append(_indent_item("  ", _task_list(item)))
        else:
            lines.append(_indent_item("- ", _list_item_body(item)))
    return "\n".join(lines)


def _code_block(node: dict) -> str:
    language = _attrs(node).get("language") or ""
    code = "".join(str(child.get("text", "")) for child in _content(node) if isinstance(child, dict))
    return f"```{language}\n{code.rstrip()}\n```"


def _blockquote(node: dict) -> str:
    body = _children(node)
    return "\n".join(f"> {line}" if line else ">" for line in body.split("\n")) if body else ""


def _panel(node: dict) -> str:
    body = _children(node)
    kind = str(_attrs(node).get("panelType") or "info").capitalize()
    return f"[{kind}] {body}" if body else ""


def _expand(node: dict) -> str:
    title = str(_attrs(node).get("title") or "").strip()
    body = _children(node)
    return "\n".join(part for part in (title, body) if part)


def _table(node: dict) -> str:
    rows = []
    for row in _content(node):
        if not isinstance(row, dict):
            continue
        # A cell may hold several paragraphs; a row must stay on one line.
        cells = [" ".join(_children(cell).split()) for cell in _content(row) if isinstance(cell, dict)]
        if any(cells):
            rows.append(" | ".join(cells))
    return "\n".join(rows)


def _media(node: dict) -> str:
    attrs = _attrs(node)
    if attrs.get("type") == "external" and attrs.get("url"):
        return str(attrs["url"])
    name = attrs.get("alt") or attrs.get("fileName") or attrs.get("__fileName")
    return f"[attachment: {name}]" if name else "[attachment]"


def _media_group(node: dict) -> str:
    return "\n".join(_media(child) for child in _content(node) if isinstance(child, dict))


def _card(node: dict) -> str:
    attrs = _attrs(node)
    data = attrs.get("data") if isinstance(attrs.get("data"), dict) else {}
    return str(attrs.get("url") or data.get("url") or data.get("name") or "")


def _unknown(node: dict) -> str:
    """Unknown or future node types: keep whatever text they carry."""
    if _content(node):
        return _children(node)
    text = node.get("text") or _attrs(node).get("text")
    return str(text) if text else ""


_BLOCK_RENDERERS: dict[str, Callable[[dict], str]] = {
    "doc": _children,
    "paragraph": _paragraph,
    "heading": _heading,
    "bulletList": _bullet_list,
    "orderedList": _ordered_list,
    "taskList": _task_list,
    "decisionList": _task_list,
    "listItem": lambda node: _blocks(_content(node), sep="\n"),
    "codeBlock": _code_block,
    "blockquote": _blockquote,
    "rule": lambda node: "---",
    "panel": _panel,
    "expand": _expand,
    "nestedExpand": _expand,
    "table": _table,
    "mediaSingle": _media_group,
    "mediaGroup": _media_group,
    "media": _media,
    "blockCard": _card,
    "embedCard": _card,
    "layoutSection": _children,
    "layoutColumn": _children,
}


# ---------------------------------------------------------------- inline


def _inline(nodes: Iterable[Any]) -> str:
    """Render inline nodes; adjacent text sharing one link becomes ``label (url)`` once."""
    out: list[str] = []
    link_href: str | None = None
    link_label: list[str] = []

    def close_link() -> None:
        if link_href is not None:
            label = "".join(link_label)
            out.append(_link(label, link_href))

    for node in nodes if isinstance(nodes, list) else []:
        href = _link_href(node)
        if href != link_href:
            close_link()
            link_href, link_label = href, []
        if href is not None:
            link_label.append(_inline_node(node))
        else:
            out.append(_inline_node(node))
    close_link()
    return "".join(out)


def _link(label: str, href: str) -> str:
    if not label.strip() or label.strip() == href:
        return href
    return f"{label} ({href})"


def _link_href(node: Any) -> str | None:
    if not isinstance(node, dict) or node.get("type") != "text":
        return None
    for mark in node.get("marks") or []:
        if isinstance(mark, dict) and mark.get("type") == "link":
            href = _attrs(mark).get("href")
            return str(href) if href else None
    return None


def _inline_node(node: Any) -> str:
    if isinstance(node, str):
        return node
    if not isinstance(node, dict):
        return ""
    kind = node.get("type")
    attrs = _attrs(node)
    if kind == "text":
        return _text(node)
    if kind == "mention":
        # attrs.text already starts with "@" in Jira ("@Dana Reyes"); never double it.
        name = str(attrs.get("text") or attrs.get("displayName") or attrs.get("id") or "unknown")
        return "@" + name.lstrip("@")
    if kind == "emoji":
        # Unicode reads naturally; custom emoji have no text, only ":short_name:".
        return str(attrs.get("text") or attrs.get("shortName") or "")
    if kind == "hardBreak":
        return "\n"
    if kind == "inlineCard":
        return _card(node)
    if kind == "date":
        return _date(attrs.get("timestamp"))
    if kind == "status":
        text = str(attrs.get("text") or "").strip()
        return f"[{text}]" if text else ""
    if kind == "placeholder":  # editor hint shown in empty templates, not content
        return ""
    if kind in ("media", "mediaInline"):
        return _media(node)
    if _content(node):
        return _inline(_content(node))
    return str(node.get("text") or attrs.get("text") or "")


def _text(node: dict) -> str:
    text = node.get("text")
    text = text if isinstance(text, str) else ""
    marks = node.get("marks") or []
    if text and any(isinstance(m, dict) and m.get("type") == "code" for m in marks):
        return f"`{text}`"
    return text


def _date(timestamp: Any) -> str:
    """ADF dates are epoch milliseconds as a string, at midnight UTC."""
    try:
        moment = datetime.fromtimestamp(int(timestamp) / 1000, tz=timezone.utc)
    except (TypeError, ValueError, OverflowError, OSError):
        return ""
    return moment.strftime("%Y-%m-%d")
