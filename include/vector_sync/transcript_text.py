"""Fireflies transcripts as text: speaker turns, the header with people and summary, and the
cleaning of fields the API types loosely (numbers as strings, lists as one string)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from operator import itemgetter
from typing import Any

from vector_sync.models import Segment


def turn_segment(speaker: str, start_s: float, text: str) -> Segment:
    """``Name [12:34]: text``; the metadata lets a chunk link to its moment in the recording."""
    return Segment(f"{speaker} [{_clock(start_s)}]: {text}", {"start_time": start_s, "speaker": speaker})


def turns(sentences: Any, speakers: Any) -> Iterator[tuple[str, float, str]]:
    """(speaker, start seconds, text) for each run of consecutive sentences by one speaker."""
    # An hour-long meeting has ~900 sentences: one pass, each field read and cleaned once.
    names = {str(s.get("id")): str(s["name"]) for s in speakers or [] if isinstance(s, dict) and s.get("name")}
    rows = []  # (index, text, sentence)
    for sentence in sentences or ():
        if isinstance(sentence, dict) and (text := clean(sentence.get("text"))):
            rows.append((sentence.get("index"), text, sentence))
    if all(isinstance(index, int) for index, _, _ in rows):
        rows.sort(key=_INDEX)
    name, start, texts = None, 0.0, []
    for _, text, row in rows:
        speaker = clean(row.get("speaker_name")) or names.get(str(row.get("speaker_id"))) or "Unknown speaker"
        if speaker != name:
            if texts:
                yield name, start, " ".join(texts)
            name, start, texts = speaker, number(row.get("start_time")) or 0.0, []
        texts.append(text)
    if texts:
        yield name, start, " ".join(texts)


_INDEX = itemgetter(0)


def header(
    title: str,
    started: datetime,
    minutes: float | None,
    organizer: str,
    attendees: list[dict],
    participants: list[str],
    overview: str,
    actions: list[str],
    keywords: list[str],
) -> str:
    """Title, date, duration and people, then the summary, action items and keywords."""
    lines = [title, f"Date: {started:%Y-%m-%d %H:%M} UTC"]
    if minutes is not None:
        lines.append(f"Duration: {round(minutes)} min")
    if organizer:
        lines.append(f"Organizer: {organizer}")
    named = [_attendee(a) for a in attendees if a.get("displayName") or a.get("name") or a.get("email")]
    named = named or participants
    if named:
        lines.append("Attendees: " + ", ".join(named))
    parts = ["\n".join(lines)]
    if overview:
        parts.append("Summary:\n" + overview)
    if actions:
        parts.append("Action items:\n" + "\n".join(a if a.endswith(":") else f"- {a}" for a in actions))
    if keywords:
        parts.append("Keywords: " + ", ".join(keywords))
    return "\n\n".join(parts)


def _attendee(attendee: Mapping[str, Any]) -> str:
    name = attendee.get("displayName") or attendee.get("name")
    address = email(attendee.get("email"))
    return f"{name} <{address}>" if name and address else str(name or address)


def action_lines(value: Any) -> list[str]:
    """Action items arrive as one newline-separated string (sometimes a list); speaker headers
    come as ``**Name**`` lines and are kept as ``Name:``."""
    raw = value if isinstance(value, list) else str(value or "").splitlines()
    lines = []
    for item in raw:
        line = clean(item)
        bold = re.fullmatch(r"\*\*(.+?)\*\*:?", line)
        line = bold.group(1).strip() + ":" if bold else line.lstrip("-*•· ").strip()
        if line:
            lines.append(line)
    return lines


def keywords(value: Any) -> list[str]:
    """Keywords arrive as a list (sometimes one comma-separated string)."""
    items = value if isinstance(value, list) else re.split(r"[,\n]", str(value or ""))
    return [w for w in (clean(i) for i in items) if w]


def clean(value: Any) -> str:
    if type(value) is str:  # nearly always: skip the checks below
        return value.strip()
    if isinstance(value, list):
        return "\n".join(clean(v) for v in value if v).strip()
    return str(value).strip() if value is not None else ""


def email(value: Any) -> str:
    return str(value or "").strip().lower()


def number(value: Any) -> float | None:
    """Numbers may come as strings (the docs type sentence times as String)."""
    try:
        return round(float(value), 2)
    except (TypeError, ValueError):
        return None


def unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(v for v in values if v))


def _clock(seconds: float) -> str:
    """``12:34``, or ``1:02:03`` past the first hour."""
    total = int(seconds)
    hours, rest = divmod(total, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60:02d}:{rest % 60:02d}"
