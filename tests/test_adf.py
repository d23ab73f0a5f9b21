"""ADF -> text: every node type Jira Cloud sends, and whatever it might send tomorrow."""

from __future__ import annotations

import pytest

from vector_sync.adf import adf_to_text


def text(value: str, *marks: dict) -> dict:
    node: dict = {"type": "text", "text": value}
    if marks:
        node["marks"] = list(marks)
    return node


def para(*content: dict) -> dict:
    return {"type": "paragraph", "content": list(content)}


def doc(*content: dict) -> dict:
    return {"type": "doc", "version": 1, "content": list(content)}


def link(href: str) -> dict:
    return {"type": "link", "attrs": {"href": href}}


def item(*content: dict) -> dict:
    return {"type": "listItem", "content": list(content)}


# A description as Jira Cloud returns it (shape copied from a REST v3 issue response).
BUG_REPORT = doc(
    {"type": "heading", "attrs": {"level": 2}, "content": [text("Steps to reproduce")]},
    {
        "type": "orderedList",
        "attrs": {"order": 1},
        "content": [
            item(para(text("Open the "), text("billing page", link("https://app.example.com/billing")))),
            item(para(text("Click "), text("Renew", {"type": "strong"}))),
        ],
    },
    para(
        text("Reported by "),
        {"type": "mention", "attrs": {"id": "5b10ac8d82e05b22cc7d0001", "text": "@Luis Ortega", "accessLevel": ""}},
        text(" in "),
        {"type": "inlineCard", "attrs": {"url": "https://lumen.atlassian.net/browse/SUBS-7"}},
        text(" "),
        {"type": "emoji", "attrs": {"shortName": ":warning:", "id": "26a0", "text": "⚠️"}},
    ),
    {"type": "codeBlock", "attrs": {"language": "python"}, "content": [text("raise RenewalError(plan)\n")]},
)


def test_realistic_bug_report():
    assert adf_to_text(BUG_REPORT) == (
        "## Steps to reproduce\n\n"
        "1. Open the billing page (https://app.example.com/billing)\n"
        "2. Click Renew\n\n"
        "Reported by @Luis Ortega in https://lumen.atlassian.net/browse/SUBS-7 ⚠️\n\n"
        "```python\nraise RenewalError(plan)\n```"
    )


@pytest.mark.parametrize("value, expected", [(None, ""), ("plain v2 text\n", "plain v2 text"), ({}, ""), (42, "42")])
def test_tolerates_non_adf_input(value, expected):
    assert adf_to_text(value) == expected


def test_paragraphs_are_separated_by_blank_lines_and_hard_breaks_by_newlines():
    value = doc(para(text("first"), {"type": "hardBreak"}, text("same paragraph")), para(text("second")))
    assert adf_to_text(value) == "first\nsame paragraph\n\nsecond"


def test_empty_paragraphs_leave_no_gaps():
    assert adf_to_text(doc(para(), para(text("only")), {"type": "paragraph"})) == "only"


@pytest.mark.parametrize("level, prefix", [(1, "# "), (2, "## "), (3, "### "), (9, "# ")])
def test_headings(level, prefix):
    heading = {"type": "heading", "attrs": {"level": level}, "content": [text("Rollout")]}
    assert adf_to_text(doc(heading)) == f"{prefix}Rollout"


def test_nested_lists_are_indented_under_their_item():
    nested = {"type": "orderedList", "attrs": {"order": 3}, "content": [item(para(text("a"))), item(para(text("b")))]}
    value = doc({"type": "bulletList", "content": [item(para(text("one")), nested), item(para(text("two")))]})
    assert adf_to_text(value) == "- one\n  3. a\n  4. b\n- two"


def test_multi_line_list_item_keeps_alignment():
    value = doc({"type": "bulletList", "content": [item(para(text("line 1"), {"type": "hardBreak"}, text("line 2")))]})
    assert adf_to_text(value) == "- line 1\n  line 2"


def test_code_block_is_fenced_with_language_and_inline_code_in_backticks():
    value = doc(
        para(text("run "), text("make test", {"type": "code"})),
        {"type": "codeBlock", "content": [text("SELECT 1;")]},
    )
    assert adf_to_text(value) == "run `make test`\n\n```\nSELECT 1;\n```"


def test_blockquote_prefixes_every_line():
    quote = {"type": "blockquote", "content": [para(text("we should")), para(text("ship it"))]}
    assert adf_to_text(doc(quote)) == "> we should\n>\n> ship it"


@pytest.mark.parametrize(
    "attrs, expected",
    [
        ({"id": "1", "text": "@Dana Reyes"}, "@Dana Reyes"),
        ({"id": "1", "text": "Dana Reyes"}, "@Dana Reyes"),
        ({"id": "1", "text": "@@Dana Reyes"}, "@Dana Reyes"),
        ({"id": "5b10"}, "@5b10"),
    ],
)
def test_mentions_have_exactly_one_at(attrs, expected):
    assert adf_to_text(para({"type": "mention", "attrs": attrs})) == expected


def test_link_label_and_url_once_even_across_marked_runs():
    href = "https://wiki.example.com/runbook"
    value = para(
        text("see "),
        text("the ", link(href)),
        text("runbook", {"type": "strong"}, link(href)),
        text(" or "),
        text(href, link(href)),
    )
    assert adf_to_text(value) == f"see the runbook ({href}) or {href}"


def test_cards_render_their_url():
    value = doc(
        {"type": "blockCard", "attrs": {"url": "https://docs.example.com/spec"}},
        para({"type": "inlineCard", "attrs": {"data": {"url": "https://x.example.com"}}}),
    )
    assert adf_to_text(value) == "https://docs.example.com/spec\n\nhttps://x.example.com"


def test_emoji_falls_back_to_short_name_for_custom_emoji():
    value = para({"type": "emoji", "attrs": {"shortName": ":partyparrot:", "id": "atlassian-partyparrot", "text": ""}})
    assert adf_to_text(value) == ":partyparrot:"


def test_rule_table_panel_status_date():
    table = {
        "type": "table",
        "attrs": {"isNumberColumnEnabled": False, "layout": "default"},
        "content": [
            {
                "type": "tableRow",
                "content": [
                    {"type": "tableHeader", "attrs": {}, "content": [para(text("Plan"))]},
                    {"type": "tableHeader", "attrs": {}, "content": [para(text("Price"))]},
                ],
            },
            {
                "type": "tableRow",
                "content": [
                    {"type": "tableCell", "attrs": {}, "content": [para(text("Pro")), para(text("(annual)"))]},
                    {"type": "tableCell", "attrs": {}, "content": [para(text("$10"))]},
                ],
            },
        ],
    }
    value = doc(
        {"type": "rule"},
        table,
        {"type": "panel", "attrs": {"panelType": "warning"}, "content": [para(text("Freeze on Friday"))]},
        para(
            {"type": "status", "attrs": {"text": "IN REVIEW", "color": "blue", "localId": "x"}},
            text(" due "),
            {"type": "date", "attrs": {"timestamp": "1795132800000"}},
        ),
    )
    assert adf_to_text(value) == ("---\n\nPlan | Price\nPro (annual) | $10\n\n[Warning] Freeze on Friday\n\n[IN REVIEW] due 2026-11-20")


def test_media_renders_alt_or_a_placeholder():
    value = doc(
        {
            "type": "mediaSingle",
            "attrs": {"layout": "center"},
            "content": [
                {"type": "media", "attrs": {"type": "file", "id": "f1", "collection": "", "alt": "checkout.png"}},
            ],
        },
        {"type": "mediaGroup", "content": [{"type": "media", "attrs": {"type": "file", "id": "f2", "collection": ""}}]},
        {
            "type": "mediaSingle",
            "content": [
                {"type": "media", "attrs": {"type": "external", "url": "https://x.example.com/a.png"}},
            ],
        },
    )
    assert adf_to_text(value) == "[attachment: checkout.png]\n\n[attachment]\n\nhttps://x.example.com/a.png"


def test_task_and_decision_lists():
    tasks = {
        "type": "taskList",
        "attrs": {"localId": "t"},
        "content": [
            {"type": "taskItem", "attrs": {"localId": "1", "state": "DONE"}, "content": [text("migrate")]},
            {"type": "taskItem", "attrs": {"localId": "2", "state": "TODO"}, "content": [text("announce")]},
        ],
    }
    decisions = {
        "type": "decisionList",
        "attrs": {"localId": "d"},
        "content": [
            {"type": "decisionItem", "attrs": {"localId": "3", "state": "DECIDED"}, "content": [text("use epoch ms")]},
        ],
    }
    assert adf_to_text(doc(tasks, decisions)) == "- [x] migrate\n- [ ] announce\n\n- use epoch ms"


def test_expand_keeps_title_and_body():
    value = doc({"type": "expand", "attrs": {"title": "Logs"}, "content": [para(text("trace"))]})
    assert adf_to_text(value) == "Logs\ntrace"


def test_unknown_nodes_render_their_children():
    value = doc(
        {"type": "futureContainer", "attrs": {}, "content": [para(text("kept"))]},
        {"type": "futureLeaf", "attrs": {"text": "leaf text"}},
        {"type": "futureEmpty"},
        para({"type": "futureInline", "content": [text("inline kept")]}),
    )
    assert adf_to_text(value) == "kept\n\nleaf text\n\ninline kept"


def test_malformed_nodes_do_not_raise():
    value = {
        "type": "doc",
        "content": [
            None,
            3,
            {"type": "paragraph", "content": "oops"},
            {"content": [text("x")]},
            {"type": "heading", "attrs": "bad", "content": [text("h")]},
            para({"type": "text"}, {"type": "date", "attrs": {"timestamp": "soon"}}),
        ],
    }
    assert adf_to_text(value) == "x\n\n# h"


def test_placeholder_is_not_content():
    assert adf_to_text(para({"type": "placeholder", "attrs": {"text": "Type here"}}, text("real"))) == "real"


def test_accepts_a_bare_content_list():
    assert adf_to_text([para(text("a")), para(text("b"))]) == "a\n\nb"
