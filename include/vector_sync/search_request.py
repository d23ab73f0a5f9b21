"""A search as a person asks for it: typed options in, JSON out, the same for CLI and page.

The CLI (``vector-sync search``) and the page's ``/api/search`` read the same options
(sources, projects, dates) and print the same result, so both read them here: a bad value is
one ``ValueError`` naming the option and what it accepts (exit 2 in the CLI, 400 in the API),
never a traceback, an ``OverflowError`` or a silent empty answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from vector_sync.models import Hit, SearchFilter, parse_time

# Dates a filter may name. Past the upper one, "a date's end" (+1 day) would overflow at
# 9999-12-31; nothing synced is older than the lower one.
EARLIEST = datetime(1970, 1, 1, tzinfo=timezone.utc)
LATEST = datetime(2999, 12, 31, tzinfo=timezone.utc)
DATE_FORMS = "a date (2026-11-20) or an ISO time (2026-11-20T09:30:00Z)"


def parse_bound(value: str | None, option: str, end_of_day: bool = False) -> datetime | None:
    """``value`` (a date or an ISO time) as aware UTC; a date means its start, or with
    ``end_of_day`` its end. ``ValueError`` quoting the value as typed and the allowed range."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        moment = parse_time(text if "T" in text else f"{text}T00:00:00+00:00")
    except (ValueError, OverflowError):
        raise ValueError(f"{option} {value!r} is not {DATE_FORMS}") from None
    if not EARLIEST <= moment <= LATEST:
        raise ValueError(f"{option} {value!r} is out of range: use a date from {EARLIEST:%Y-%m-%d} to {LATEST:%Y-%m-%d}")
    if end_of_day and "T" not in text:
        moment += timedelta(days=1)
    return moment


def search_filter(
    sources: Sequence[str] = (),
    projects: Sequence[str] = (),
    user: str | None = None,
    since: str | None = None,
    until: str | None = None,
    all_access: bool = False,
    option: str = "--",
) -> SearchFilter:
    """The filter of a search's options. Unknown sources and an empty date range are refused
    (they could only ever answer "no hits"). ``option`` prefixes option names in messages
    (``--`` for the CLI, ``""`` for the API's query parameters)."""
    from vector_sync.specs import REGISTRY

    unknown = [s for s in sources if s not in REGISTRY]
    if unknown:
        raise ValueError(f"unknown source {', '.join(repr(s) for s in unknown)}: use one of {', '.join(REGISTRY)}")
    start = parse_bound(since, f"{option}since")
    end = parse_bound(until, f"{option}until", end_of_day=True)
    if start is not None and end is not None and start >= end:
        raise ValueError(f"{option}since {since!r} is not before {option}until {until!r}: the range is empty")
    return SearchFilter(
        sources=tuple(sources),
        projects=tuple(p.strip().upper() for p in projects),
        user=user,
        since=start,
        until=end,
        all_access=all_access,
    )


def hit_link(hit: Hit) -> str:
    """The hit's link, "" unless http(s) (a stored ``javascript:`` URL is no link: see
    ``vector_sync.links``); meeting chunks jump to their moment in the recording."""
    from vector_sync.links import safe_link

    url = safe_link(hit.url)
    start = hit.metadata.get("start_time")
    if hit.source == "fireflies" and start not in (None, "") and url:
        separator = "&" if "?" in url else "?"
        return f"{url}{separator}t={int(float(start))}"
    return url


def search_json(hits: list[Hit]) -> dict[str, Any]:
    """``{"hits": [...]}``, plus ``hours_by_person`` when worklogs are among them."""
    results = [
        {
            "id": h.id,
            "score": round(h.score, 4),
            "source": h.source,
            "title": h.title,
            "link": hit_link(h),
            "text": h.text,
            "metadata": dict(h.metadata),
        }
        for h in hits
    ]
    out: dict[str, Any] = {"hits": results}
    hours: dict[str, float] = {}
    for h in hits:  # worklog hits: total hours per person
        if h.source == "tempo" and "hours" in h.metadata:
            person = str(h.metadata.get("author", "unknown"))
            hours[person] = round(hours.get(person, 0.0) + float(h.metadata["hours"]), 2)
    if hours:
        out["hours_by_person"] = hours
    return out
