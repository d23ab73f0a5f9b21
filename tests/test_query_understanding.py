"""What a question says besides its words: its time phrase and the kind of document it names."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from vector_sync.query_understanding import understand

# Friday 20 November 2026, noon UTC: this week is 16-22 November, last week 9-15.
NOW = datetime(2026, 11, 20, 12, tzinfo=timezone.utc)


def day(d: int, month: int = 11, year: int = 2026) -> datetime:
    return datetime(year, month, d, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("query", "since", "until", "text"),
    [
        ("what did Dana Reyes log on SUBS last week", day(9), day(16), "what did Dana Reyes log on SUBS"),
        ("Aiko Sato's hours on BC this week", day(16), day(23), "Aiko Sato's hours on BC"),
        ("what did Kofi Novak work on yesterday", day(19), day(20), "what did Kofi Novak work on"),
        ("deploys today", day(20), day(21), "deploys"),
        ("time Tomas logged on BC on 2026-11-18", day(18), day(19), "time Tomas logged on BC"),
        ("hours on SUBS-24 on Nov 17", day(17), day(18), "hours on SUBS-24"),
        ("the December 3rd outage", day(3, 12, 2025), day(4, 12, 2025), "the outage"),  # no future dates
    ],
)
def test_one_time_phrase_becomes_a_date_range_and_leaves_the_text(query, since, until, text):
    asked = understand(query, NOW)
    assert (asked.since, asked.until, asked.text) == (since, until, text)


@pytest.mark.parametrize(
    "query",
    [
        "notes from today's sync on renewal emails",  # names a thing, not the day it was written
        "what changed between yesterday and last week",  # two phrases: ambiguous
        "invoice 2026-02-30 rejected",  # no such day
        "the last weekly report",
        "SUBS-31",
    ],
)
def test_no_filter_without_one_unambiguous_time_phrase(query):
    asked = understand(query, NOW)
    assert (asked.since, asked.until, asked.text) == (None, None, query)


def test_a_naive_now_is_utc_and_the_same_day_twice_is_one_phrase():
    asked = understand("logged yesterday, i.e. on 2026-11-19", datetime(2026, 11, 20, 1))
    assert (asked.since, asked.until) == (day(19), day(20))


@pytest.mark.parametrize(
    ("query", "sources"),
    [
        ("meetings Kofi Novak organised this week", {"fireflies"}),
        ("tickets assigned to Bruno Moreau", {"jira"}),
        ("what did Sara Holm post in Slack", {"slack"}),
        ("Aiko Sato's hours on BC", {"tempo"}),
        ("the Jira ticket and the worklogs on the JPY bug", {"jira", "tempo"}),
        ("time spent on the Glacier restore", {"tempo"}),  # how people ask for worklogs without the word
        ("design doc for the refund flow", {"notion"}),
        ("audit logs move to cold storage", set()),  # "logs" names a subject, not a worklog
    ],
)
def test_words_naming_a_kind_of_document_hint_its_source(query, sources):
    assert understand(query, NOW).sources == sources
