"""Notion blocks -> markdown-like text: the vendor's recorded block types, sections, rich text."""

from __future__ import annotations

import json

import pytest

from vector_sync.notion_blocks import SUPPORTED_TYPES, blocks_to_markdown, property_lines, render_blocks, rich_text


def _rt(text, href=None, code=False):
    return [
        {
            "type": "text",
            "text": {"content": text, "link": {"url": href} if href else None},
            "annotations": {"code": code},
            "plain_text": text,
            "href": href,
        }
    ]


def _b(kind, text=None, children=(), **body):
    if text is not None:
        body["rich_text"] = _rt(text)
    return {"object": "block", "type": kind, kind: body, "has_children": bool(children), "children": list(children)}


@pytest.fixture(scope="module")
def recorded(vendor_dir):
    """The recorded test page, with the recorded table and column children attached."""
    folder = vendor_dir / "notion"
    page = json.loads((folder / "retrieve_block_children_block_test_page.json").read_text())["results"]
    rows = json.loads((folder / "retrieve_block_children_table.json").read_text())["results"]
    columns = json.loads((folder / "retrieve_block_children_column_list.json").read_text())["results"]
    left = json.loads((folder / "retrieve_block_children_column1.json").read_text())["results"]
    for block in page:
        if block["type"] == "table":
            block["children"] = rows
        if block["type"] == "column_list":
            block["children"] = columns
            columns[0]["children"] = left
    return page


def test_recorded_page_renders_every_readable_block(recorded):
    rendered = render_blocks(recorded)
    text = rendered.text
    for expected in [
        "Text",
        "Child page: Child page",
        "Child database: Child database",
        "# Heading 1",
        "## Heading 2",
        "### Heading 3",
        "- Bulleted list",
        "1. Numbered list",
        "- [ ]",  # the recorded to-do is empty and unchecked
        "▸ Toggle",
        "> Quote",
        "> ✅ Callout",
        "```shell\n% ls -l\n```",
        "$$ x = \\frac{-b\\pm\\sqrt{b^2-4ac}}{2a} $$",
        "| Title |  Contents |",
        "| Title 1 | Contents 1 |",
        "Bookmark: https://hkob.notion.site/",
        "Embed: https://twitter.com/hkob/status/1517825460025331712",
        "Link: https://www.dropbox.com/s/8d6kjlpdlfqiec5/complex.pdf?dl=0",
        "Video: https://youtu.be/gp2yhkVw0z4",
        "Image: https://cdn.worldvectorlogo.com/logos/notion-logo-1.svg",
        "Link to page: https://www.notion.so/c01166c613ae45cbb96818b4ef2f5a77",
        "---",
        "left",
    ]:
        assert expected in text, expected
    # Inline content: user and page mentions, a date, an inline equation, a link preview.
    assert "@Hiroyuki KOBAYASHI" in text
    assert "[notion_ruby_mapping_test_data](https://www.notion.so/c01166c613ae45cbb96818b4ef2f5a77)" in text
    assert "$y = f(x)$" in text
    # Notion-hosted files have signed URLs that expire: never indexed.
    assert "X-Amz-Signature" not in text and "secure.notion-static.com" not in text
    # Notion's own "unsupported" and the deprecated template button are counted, not rendered.
    assert rendered.unsupported == {"unsupported": 1, "template": 1}


def test_every_type_of_the_recording_is_known(recorded):
    seen = {block["type"] for block in recorded}
    assert seen - SUPPORTED_TYPES == {"unsupported", "template"}


def test_sections_split_at_headings():
    blocks = [
        _b("paragraph", "Intro"),
        _b("heading_1", "Setup"),
        _b("paragraph", "Install it."),
        _b("heading_2", "Database"),
        _b("paragraph", "Migrate it."),
        _b("heading_3", "Toggle heading", [_b("paragraph", "Hidden under the heading")], is_toggleable=True),
    ]
    sections = render_blocks(blocks).sections
    assert [(s.heading, s.level) for s in sections] == [("", 0), ("Setup", 1), ("Database", 2), ("Toggle heading", 3)]
    assert sections[1].text == "# Setup\n\nInstall it."
    assert sections[3].text == "### Toggle heading\n\nHidden under the heading"


def test_lists_nesting_and_numbering():
    blocks = [
        _b("numbered_list_item", "One", [_b("bulleted_list_item", "Nested", [_b("to_do", "Deep", checked=True)])]),
        _b("numbered_list_item", "Two"),
        _b("paragraph", "Break"),
        _b("numbered_list_item", "Again one"),
        _b("to_do", "Open", checked=False),
        _b("toggle", "More", [_b("quote", "Quoted\nTwo lines")]),
    ]
    assert blocks_to_markdown(blocks) == (
        "1. One\n  - Nested\n    - [x] Deep\n2. Two\n\nBreak\n\n1. Again one\n\n- [ ] Open\n\n▸ More\n  > Quoted\n  > Two lines"
    )


def test_table_header_code_language_and_links():
    table = _b(
        "table",
        None,
        [
            {"type": "table_row", "table_row": {"cells": [_rt("Plan"), _rt("Price")]}},
            {"type": "table_row", "table_row": {"cells": [_rt("Pro"), _rt("25 | EUR")]}},
        ],
        table_width=2,
        has_column_header=True,
    )
    code = _b("code", "print(1)", language="python", caption=_rt("Example"))
    bookmark = _b("bookmark", url="https://status.example.com", caption=_rt("Status"))
    text = blocks_to_markdown([table, code, bookmark])
    assert "| Plan | Price |\n| --- | --- |\n| Pro | 25 \\| EUR |" in text
    assert "```python\nprint(1)\n```\nExample" in text
    assert "Bookmark: [Status](https://status.example.com)" in text


def test_rich_text_links_code_and_equations():
    items = _rt("See ") + _rt("docs", href="https://docs.example.com") + _rt(" and ") + _rt("make", code=True)
    items.append({"type": "equation", "equation": {"expression": "a+b"}, "plain_text": "a+b", "href": None})
    assert rich_text(items) == "See [docs](https://docs.example.com) and `make`$a+b$"


def test_unknown_and_malformed_blocks_never_raise():
    blocks = [
        None,
        {"type": 3},
        {"no": "type"},
        _b("ai_block"),
        _b("paragraph", "kept"),
        {"type": "callout", "callout": "not a dict"},
        {"type": "table", "table": {}, "children": [None]},
    ]
    rendered = render_blocks(blocks)
    assert rendered.text == "kept"
    assert rendered.unsupported == {"ai_block": 1}
    assert render_blocks([]).sections == [] and render_blocks(None).text == ""


def test_database_row_properties():
    properties = {
        "Name": {"type": "title", "title": _rt("Row")},
        "Status": {"type": "status", "status": {"name": "In progress"}},
        "Tags": {"type": "multi_select", "multi_select": [{"name": "billing"}, {"name": "urgent"}]},
        "Owner": {"type": "people", "people": [{"object": "user", "id": "u1", "name": "Dana Reyes"}, {"id": "u2"}]},
        "Due": {"type": "date", "date": {"start": "2026-11-20", "end": None}},
        "Done": {"type": "checkbox", "checkbox": False},
        "Points": {"type": "number", "number": 3},
        "Ticket": {"type": "unique_id", "unique_id": {"prefix": "INC", "number": 7}},
        "Notes": {"type": "rich_text", "rich_text": []},
        "Related": {"type": "relation", "relation": [{"id": "x"}]},
        "Broken": "not a property",
    }
    assert property_lines(properties) == [
        "Status: In progress",
        "Tags: billing, urgent",
        "Owner: Dana Reyes",
        "Due: 2026-11-20",
        "Done: no",
        "Points: 3",
        "Ticket: INC-7",
    ]
    assert property_lines(None) == []
