"""Notion blocks (and database-row properties) -> readable markdown-like text, split into
heading sections.

Notion pages are trees of blocks (``GET /v1/blocks/{id}/children``, first level only). The
source fetches the tree and attaches each block's children under the key ``"children"``; this
module only renders. Markdown markers are used because embedding models know them; editor
detail (colours, widths, icons other than emoji) is dropped.

Pure and tolerant: a malformed block renders as nothing rather than raise; block types that
carry no readable content are ignored, and unknown types are reported (counted by the
caller), never fatal.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

_INDENT = "  "
# Blocks with nothing to read: navigation widgets, not content.
_IGNORED = frozenset({"table_of_contents", "breadcrumb"})
# Containers whose children read as if they were the parent's own (layout, synced copies).
_TRANSPARENT = frozenset({"column_list", "column", "synced_block"})
_HEADINGS = {"heading_1": 1, "heading_2": 2, "heading_3": 3}
# Notion-hosted files ("type": "file") come with signed S3 URLs that expire after an hour:
# indexing them would change the page's text, and re-embed it, on every run. Only external
# URLs are stable enough to keep.
_MEDIA = {"image": "Image", "video": "Video", "file": "File", "pdf": "PDF", "audio": "Audio"}
_LINKS = {"bookmark": "Bookmark", "embed": "Embed", "link_preview": "Link"}
_NOTION_URL = "https://www.notion.so/"


@dataclass(frozen=True)
class Section:
    """The text under one heading (``heading`` is ``""`` before the first heading)."""

    heading: str
    text: str
    level: int = 0


@dataclass
class Rendered:
    sections: list[Section]
    unsupported: Counter = field(default_factory=Counter)  # block type -> count

    @property
    def text(self) -> str:
        return "\n\n".join(s.text for s in self.sections if s.text)


def render_blocks(blocks: Iterable[Mapping[str, Any]]) -> Rendered:
    """Render a block tree (children under ``"children"``) as sections split at headings."""
    writer = _Writer()
    writer.blocks(list(blocks or []), "")
    return Rendered([s for s in writer.finish() if s.text or s.heading], writer.unsupported)


def blocks_to_markdown(blocks: Iterable[Mapping[str, Any]]) -> str:
    return render_blocks(blocks).text


def rich_text(items: Any) -> str:
    """Plain text of a rich-text array, keeping link targets (``[text](url)``) and inline code."""
    if not isinstance(items, list):
        return ""
    parts = []
    for item in items:
        if not isinstance(item, Mapping):
            continue
        text = item.get("plain_text")
        if not isinstance(text, str):
            text = str((item.get("text") or {}).get("content") or "")
        if item.get("type") == "equation":
            expression = (item.get("equation") or {}).get("expression") or text
            parts.append(f"${expression}$")
            continue
        if (item.get("annotations") or {}).get("code") and text.strip():
            text = f"`{text}`"
        href = item.get("href")
        if isinstance(href, str) and href and href != text.strip():
            text = f"[{text}]({href})"
        parts.append(text)
    return "".join(parts)


def property_lines(properties: Any) -> list[str]:
    """``Name: value`` for a database row's readable properties (title excluded)."""
    lines = []
    for name, prop in (properties or {}).items():
        if isinstance(prop, Mapping) and prop.get("type") != "title":
            value = property_value(prop)
            if value:
                lines.append(f"{name}: {value}")
    return lines


def property_value(prop: Mapping[str, Any]) -> str:
    """A property's readable value; ``""`` for kinds that say nothing to a reader (relations,
    formulas, rollups, audit fields: ids and timestamps the metadata already has)."""
    kind = prop.get("type")
    value = prop.get(kind) if isinstance(kind, str) else None
    if kind == "rich_text":
        return rich_text(value)
    if kind in ("select", "status") and isinstance(value, Mapping):
        return str(value.get("name") or "")
    if kind == "multi_select" and isinstance(value, list):
        return ", ".join(str(v.get("name")) for v in value if isinstance(v, Mapping))
    if kind == "people" and isinstance(value, list):
        return ", ".join(str(p.get("name") or "") for p in value if isinstance(p, Mapping) and p.get("name"))
    if kind == "date" and isinstance(value, Mapping) and value.get("start"):
        return f"{value['start']} → {value['end']}" if value.get("end") else str(value["start"])
    if kind == "checkbox":
        return "yes" if value else "no"
    if kind in ("number", "url", "email", "phone_number") and value not in (None, ""):
        return str(value)
    if kind == "unique_id" and isinstance(value, Mapping) and value.get("number") is not None:
        return f"{value.get('prefix') or ''}{'-' if value.get('prefix') else ''}{value['number']}"
    return ""


def notion_url(object_id: str) -> str:
    """The stable app URL of a page or database id (what ``link_to_page`` points to)."""
    return _NOTION_URL + str(object_id).replace("-", "")


class _Writer:
    """Accumulates lines into sections; one method per family of block types."""

    def __init__(self) -> None:
        self.sections: list[tuple[str, int, list[str]]] = [("", 0, [])]
        self.unsupported: Counter = Counter()

    def finish(self) -> list[Section]:
        return [Section(h, "\n".join(lines).strip("\n"), level) for h, level, lines in self.sections]

    def line(self, text: str, prefix: str) -> None:
        lines = self.sections[-1][2]
        for part in text.split("\n"):
            lines.append(f"{prefix}{part}".rstrip())

    def gap(self, prefix: str) -> None:
        """A blank line between top-level blocks (nested blocks hug their parent)."""
        lines = self.sections[-1][2]
        if not prefix and lines and lines[-1] != "":
            lines.append("")

    def blocks(self, blocks: list, prefix: str) -> None:
        number = 0
        previous = None
        for block in blocks:
            if not isinstance(block, Mapping) or not isinstance(block.get("type"), str):
                continue
            kind = block["type"]
            number = number + 1 if kind == "numbered_list_item" else 0
            if not (kind.endswith("list_item") or kind == "to_do") or kind != previous:
                self.gap(prefix)
            previous = kind
            self.block(block, kind, prefix, number)

    def children(self, block: Mapping[str, Any], prefix: str) -> None:
        kids = block.get("children")
        if isinstance(kids, list) and kids:
            self.blocks(kids, prefix)

    def block(self, block: Mapping[str, Any], kind: str, prefix: str, number: int) -> None:
        body = block.get(kind) if isinstance(block.get(kind), Mapping) else {}
        text = rich_text(body.get("rich_text"))
        handler = _HANDLERS.get(kind)
        if kind in _HEADINGS:
            level = _HEADINGS[kind]
            self.sections.append((text.strip(), level, []))
            self.line(f"{'#' * level} {text}", prefix)
            self.children(block, prefix)
        elif handler is not None:
            handler(self, block, body, text, prefix, number)
        elif kind in _TRANSPARENT:
            self.children(block, prefix)
        elif kind in _MEDIA:
            self.media(_MEDIA[kind], body, prefix)
        elif kind in _LINKS:
            self.link(_LINKS[kind], body, prefix)
        elif kind not in _IGNORED:
            self.unsupported[kind] += 1

    def media(self, label: str, body: Mapping[str, Any], prefix: str) -> None:
        caption = rich_text(body.get("caption")) or str(body.get("name") or "")
        url = (body.get("external") or {}).get("url") if body.get("type") == "external" else None
        if url:
            self.line(f"{label}: [{caption}]({url})" if caption else f"{label}: {url}", prefix)
        elif caption:
            self.line(f"{label}: {caption}", prefix)

    def link(self, label: str, body: Mapping[str, Any], prefix: str) -> None:
        url = body.get("url")
        if not url:
            return
        caption = rich_text(body.get("caption"))
        self.line(f"{label}: [{caption}]({url})" if caption else f"{label}: {url}", prefix)


def _paragraph(w: _Writer, block, body, text: str, prefix: str, number: int) -> None:
    if text:
        w.line(text, prefix)
    w.children(block, prefix + _INDENT)


def _item(marker: Callable[[Mapping, int], str]) -> Callable:
    def render(w: _Writer, block, body, text: str, prefix: str, number: int) -> None:
        head = marker(body, number)
        w.line(f"{head} {text}".rstrip().replace("\n", "\n" + " " * (len(head) + 1)), prefix)
        w.children(block, prefix + _INDENT)

    return render


def _quote(w: _Writer, block, body, text: str, prefix: str, number: int) -> None:
    icon = (body.get("icon") or {}).get("emoji") if isinstance(body.get("icon"), Mapping) else None
    line = f"{icon} {text}" if icon else text
    if line.strip():
        w.line(line, prefix + "> ")
    w.children(block, prefix + "> ")


def _code(w: _Writer, block, body, text: str, prefix: str, number: int) -> None:
    language = body.get("language") or ""
    language = "" if language == "plain text" else language
    w.line(f"```{language}\n{text}\n```", prefix)
    caption = rich_text(body.get("caption"))
    if caption:
        w.line(caption, prefix)


def _equation(w: _Writer, block, body, text: str, prefix: str, number: int) -> None:
    expression = body.get("expression")
    if expression:
        w.line(f"$$ {expression} $$", prefix)


def _table(w: _Writer, block, body, text: str, prefix: str, number: int) -> None:
    rows = [r for r in block.get("children") or [] if isinstance(r, Mapping) and r.get("type") == "table_row"]
    for index, row in enumerate(rows):
        cells = [rich_text(cell).replace("|", "\\|").replace("\n", " ") for cell in (row.get("table_row") or {}).get("cells") or []]
        w.line("| " + " | ".join(cells) + " |", prefix)
        if index == 0 and body.get("has_column_header"):
            w.line("|" + " --- |" * len(cells), prefix)


def _titled(label: str) -> Callable:
    # child_page / child_database: their content is their own document; a line names them here.
    def render(w: _Writer, block, body, text: str, prefix: str, number: int) -> None:
        w.line(f"{label}: {body.get('title') or 'Untitled'}", prefix)

    return render


def _link_to_page(w: _Writer, block, body, text: str, prefix: str, number: int) -> None:
    target = body.get(body.get("type") or "") if isinstance(body, Mapping) else None
    if isinstance(target, str) and target:
        w.line(f"Link to page: {notion_url(target)}", prefix)


def _divider(w: _Writer, block, body, text: str, prefix: str, number: int) -> None:
    w.line("---", prefix)


_HANDLERS: dict[str, Callable] = {
    "paragraph": _paragraph,
    "bulleted_list_item": _item(lambda body, n: "-"),
    "numbered_list_item": _item(lambda body, n: f"{n}."),
    "to_do": _item(lambda body, n: "- [x]" if body.get("checked") else "- [ ]"),
    "toggle": _item(lambda body, n: "▸"),
    "quote": _quote,
    "callout": _quote,
    "code": _code,
    "equation": _equation,
    "table": _table,
    "child_page": _titled("Child page"),
    "child_database": _titled("Child database"),
    "link_to_page": _link_to_page,
    "divider": _divider,
}

# Every type this module renders or deliberately ignores; anything else is "unsupported".
SUPPORTED_TYPES = frozenset(_HANDLERS) | frozenset(_HEADINGS) | _TRANSPARENT | frozenset(_MEDIA) | frozenset(_LINKS) | _IGNORED
