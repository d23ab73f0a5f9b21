"""Typed records passed between the sync steps.

Everything here is plain data with a JSON form, because documents, chunks and vectors are
staged as JSON lines between Airflow tasks (never through XCom).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

# Pinecone accepts flat metadata only: strings, numbers, booleans and lists of strings.
MetadataValue = str | int | float | bool | list[str]

# How a search ranks chunks: by vector, by keywords, or both fused (see VectorStore.query).
SEARCH_MODES = ("dense", "keyword", "hybrid")


def utc(dt: datetime) -> datetime:
    """Return ``dt`` as an aware UTC datetime (naive input is taken as UTC)."""
    if dt.tzinfo is not None:
        dt = dt.astimezone(timezone.utc)
    # Always a plain datetime: Airflow hands out pendulum DateTimes, whose arithmetic with
    # plain timedeltas and datetimes misbehaves in places.
    return datetime(dt.year, dt.month, dt.day, dt.hour, dt.minute, dt.second, dt.microsecond, tzinfo=timezone.utc)


def parse_time(value: str | datetime) -> datetime:
    """Parse an ISO-8601 timestamp (``Z`` or offset, Jira's ``+0000`` too) into aware UTC."""
    if isinstance(value, datetime):
        return utc(value)
    text = value.strip().replace("Z", "+00:00")
    # Jira writes offsets without a colon: 2021-01-18T23:45:00.000+0000
    if len(text) > 5 and text[-5] in "+-" and text[-4:].isdigit():
        text = f"{text[:-2]}:{text[-2:]}"
    return utc(datetime.fromisoformat(text))


@dataclass(frozen=True)
class Window:
    """Half-open UTC interval [start, end) covered by one sync run."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", utc(self.start))
        object.__setattr__(self, "end", utc(self.end))
        if self.end < self.start:
            raise ValueError(f"window ends before it starts: {self.start} > {self.end}")

    def widened(self, overlap: timedelta) -> Window:
        """The same window re-scanning ``overlap`` before its start (late data)."""
        return Window(self.start - overlap, self.end)

    def contains(self, moment: datetime) -> bool:
        return self.start <= utc(moment) < self.end

    def slices(self, count: int) -> list[Window]:
        """``count`` adjacent windows of equal length covering this one exactly (half-open,
        so an instant lies in exactly one); fewer when the window is too short to split."""
        count = max(1, min(int(count), int((self.end - self.start) / timedelta(seconds=1)) or 1))
        step = (self.end - self.start) / count
        # Inner bounds on whole seconds: APIs that floor a bound (epoch ms, Tempo's seconds)
        # then agree with the client-side check on which slice an item belongs to.
        inner = [(self.start + step * i).replace(microsecond=0) for i in range(1, count)]
        bounds = [self.start, *inner, self.end]
        return [Window(a, b) for a, b in zip(bounds, bounds[1:])]

    def to_json(self) -> dict[str, str]:
        return {"start": self.start.isoformat(), "end": self.end.isoformat()}

    @classmethod
    def from_json(cls, data: Mapping[str, str]) -> Window:
        return cls(parse_time(data["start"]), parse_time(data["end"]))


@dataclass(frozen=True)
class Segment:
    """A piece of a document the chunker should not split across (a heading's section,
    a speaker turn). ``metadata`` is copied onto the chunk that starts with it."""

    text: str
    metadata: Mapping[str, MetadataValue] = field(default_factory=dict)


@dataclass(frozen=True)
class Document:
    """One searchable item from a source, identified by ``{source}:{native id}``."""

    id: str
    source: str
    title: str
    text: str
    url: str
    updated_at: datetime
    projects: tuple[str, ...] = ()
    access_type: str = "all"
    access_list: tuple[str, ...] = ()
    metadata: Mapping[str, MetadataValue] = field(default_factory=dict)
    segments: tuple[Segment, ...] = ()

    def content_hash(self) -> str:
        """Hash of everything that reaches the index, so any visible change re-syncs."""
        return sha256_json(self.to_json())

    def to_json(self) -> dict[str, Any]:
        # Built by hand: dataclasses.asdict deep-copies recursively and dominated profiles.
        return {
            "id": self.id,
            "source": self.source,
            "title": self.title,
            "text": self.text,
            "url": self.url,
            "updated_at": utc(self.updated_at).isoformat(),
            "projects": list(self.projects),
            "access_type": self.access_type,
            "access_list": list(self.access_list),
            "metadata": dict(self.metadata),
            "segments": [{"text": seg.text, "metadata": dict(seg.metadata)} for seg in self.segments],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Document:
        return cls(
            id=data["id"],
            source=data["source"],
            title=data["title"],
            text=data["text"],
            url=data["url"],
            updated_at=parse_time(data["updated_at"]),
            projects=tuple(data.get("projects", ())),
            access_type=data.get("access_type", "all"),
            access_list=tuple(data.get("access_list", ())),
            metadata=dict(data.get("metadata", {})),
            segments=tuple(Segment(s["text"], dict(s.get("metadata", {}))) for s in data.get("segments", ())),
        )


@dataclass(frozen=True)
class Chunk:
    """A token-bounded piece of a document; the unit that is embedded and stored."""

    id: str  # "{document_id}#{index}"
    document_id: str
    index: int
    text: str
    tokens: int
    metadata: Mapping[str, MetadataValue]

    def content_hash(self) -> str:
        return sha256_json({"text": self.text, "metadata": dict(self.metadata)})

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "document_id": self.document_id,
            "index": self.index,
            "text": self.text,
            "tokens": self.tokens,
            "metadata": dict(self.metadata),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Chunk:
        return cls(**{**data, "metadata": dict(data["metadata"])})


@dataclass(frozen=True)
class VectorRecord:
    """What a vector store holds for one chunk."""

    id: str
    document_id: str
    values: Sequence[float]
    text: str
    metadata: Mapping[str, MetadataValue]


@dataclass(frozen=True)
class SearchFilter:
    """Store-neutral filter: each store translates it to its own query language.

    Who is asking decides what is visible, and the default shows the least (fail closed):

    - no ``user`` and no ``all_access``: public items only (``access_type == "all"``);
    - ``user`` (an email): public items and those whose ``access_list`` holds that email;
    - ``all_access``: every item, an operator's explicit choice (never a default).

    A blank ``user`` is refused rather than read as "nobody in particular".
    ``since``/``until`` bound ``timestamp_epoch`` (half-open, like windows); ``documents``
    narrows to those document ids (a document's own chunks, e.g. to reassemble it).
    """

    sources: tuple[str, ...] = ()
    projects: tuple[str, ...] = ()
    user: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    all_access: bool = False
    documents: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.user is None:
            return
        user = str(self.user).strip().lower()
        if not user:
            raise ValueError("the user is blank: name an email, or leave it out to see public items only")
        if self.all_access:
            raise ValueError("a user and all-access exclude each other: choose one view")
        object.__setattr__(self, "user", user)


@dataclass(frozen=True)
class Hit:
    id: str
    score: float
    source: str
    title: str
    text: str
    url: str
    metadata: Mapping[str, Any]


# Skipped items kept per reason and run part (stored in ``sync_skips``, shown by status).
MAX_SKIPPED_ITEMS = 100


@dataclass
class FetchStats:
    """Counters a source fills while fetching: what it skipped and why, and which items
    (the first ``MAX_SKIPPED_ITEMS`` per reason, as the source describes them)."""

    skipped: Counter = field(default_factory=Counter)
    items: dict[str, list[str]] = field(default_factory=dict)

    def skip(self, reason: str, count: int = 1, item: str | None = None) -> None:
        self.skipped[reason] += count
        if item is not None:
            listed = self.items.setdefault(reason, [])
            if len(listed) < MAX_SKIPPED_ITEMS:
                listed.append(item)

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped.values())


def sha256_json(value: Any) -> str:
    """Stable hash of a JSON-able value (sorted keys, no whitespace)."""
    payload = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(payload.encode("utf-8", "surrogatepass")).hexdigest()
