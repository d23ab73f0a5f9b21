"""What a question says besides its words: the day or week it is about, the kind of document it names.

A keyword index reads "last week" as two common words and a vector as a vague notion of time;
neither restricts anything. Read here, an unambiguous time phrase becomes a date filter applied
inside the store's query (like ``--since/--until``), and a word naming a kind of document
("meeting", "ticket", "worklog") becomes a ranking hint. Anything unclear is left to the words.

Time phrases (UTC, weeks Monday to Sunday, half-open ranges):

- ``2026-11-18``: that day; ``Nov 17`` / ``November 17``: that day of the latest such date not
  after now;
- ``today``, ``yesterday``: that day (not "today's", which names a thing — "today's sync" —
  more often than a date the text was written on);
- ``this week``, ``last week``: that calendar week.

A question with two different time phrases ("between Monday and yesterday") gets no filter.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

_MONTHS = {m: i for i, m in enumerate("jan feb mar apr may jun jul aug sep oct nov dec".split(), 1)}
_MONTH_NAMES = (
    r"jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?"
    r"|nov(?:ember)?|dec(?:ember)?"
)
_TIME_PHRASES = re.compile(
    r"\b(?:on\s+)?(?P<iso>\d{4}-\d{2}-\d{2})\b"
    rf"|\b(?:on\s+)?(?P<month>{_MONTH_NAMES})\.?\s+(?P<day>\d{{1,2}})(?:st|nd|rd|th)?\b"
    r"|\b(?P<relative>today|yesterday)\b(?!'s|’s)"
    r"|\b(?P<week>this|last)\s+week\b(?!'s|’s)",
    re.IGNORECASE,
)
# Words that name the kind of document a question wants, by source. Only words that mean the
# document itself, not its subject: "log" and "call" are left out (audit logs, API calls).
SOURCE_WORDS = {
    "jira": ("ticket", "tickets", "issue", "issues", "jira"),
    "tempo": ("worklog", "worklogs", "logged", "spent", "hours", "timesheet", "timesheets", "tempo"),
    "fireflies": ("meeting", "meetings", "transcript", "transcripts"),
    "slack": ("slack", "message", "messages", "posted", "post", "thread"),
    "notion": ("page", "pages", "doc", "docs", "wiki", "runbook", "notion"),
}
_WORD = re.compile(r"[^\W_]+")


@dataclass(frozen=True)
class Understood:
    """A question read for its time and document kind.

    ``text`` is the question without its time phrase (that is now the filter); ``since`` and
    ``until`` bound the documents' time (both None without one unambiguous phrase); ``sources``
    are the sources whose kind of document the question names.
    """

    text: str
    since: datetime | None = None
    until: datetime | None = None
    sources: frozenset[str] = frozenset()


def understand(query: str, now: datetime) -> Understood:
    """Read ``query`` asked at ``now`` (a timezone-aware moment; naive means UTC)."""
    today = (now if now.tzinfo else now.replace(tzinfo=timezone.utc)).astimezone(timezone.utc).date()
    found = [(match, _days(match, today)) for match in _TIME_PHRASES.finditer(query)]
    ranges = {days for _, days in found if days is not None}
    text, since, until = query, None, None
    if len(ranges) == 1:
        first, last = ranges.pop()
        since, until = _midnight(first), _midnight(last + timedelta(days=1))
        for match, _ in reversed(found):
            text = text[: match.start()] + " " + text[match.end() :]
        text = " ".join(text.split()) or query
    words = {w.casefold() for w in _WORD.findall(query)}
    sources = frozenset(source for source, names in SOURCE_WORDS.items() if words.intersection(names))
    return Understood(text=text, since=since, until=until, sources=sources)


def _days(match: re.Match[str], today: date) -> tuple[date, date] | None:
    """The first and last day a time phrase covers, or None when it names no real date."""
    try:
        if match["iso"]:
            day = date.fromisoformat(match["iso"])
            return day, day
        if match["month"]:
            day = date(today.year, _MONTHS[match["month"][:3].casefold()], int(match["day"]))
            if day > today:  # "Nov 17" asked in January: last year's
                day = day.replace(year=today.year - 1)
            return day, day
    except ValueError:  # 2026-02-30, "Feb 30"
        return None
    if match["relative"]:
        day = today - timedelta(days=1 if match["relative"].casefold() == "yesterday" else 0)
        return day, day
    monday = today - timedelta(days=today.weekday())
    if match["week"].casefold() == "last":
        monday -= timedelta(days=7)
    return monday, monday + timedelta(days=6)


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=timezone.utc)
