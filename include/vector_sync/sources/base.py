"""The source interface: one class per API, one generator per window.

The converter contract every source follows: ``to_document(raw, ...) -> Document | None``,
where ``None`` means the item was skipped, already counted with its reason in the run's
``FetchStats`` (``skipped``) and logged. A malformed item never fails a run.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, ClassVar

from vector_sync.config import SourceSettings
from vector_sync.models import Document, FetchStats, Window
from vector_sync.specs import COMMON_OPTIONS

log = logging.getLogger(__name__)

# Mapped fetch tasks per window at most (Slack's channel groups, the others' time slices).
DEFAULT_MAX_PARTITIONS = COMMON_OPTIONS["max_partitions"].default


@dataclass(frozen=True)
class AccessScope:
    """Indexed documents sharing one access rule, as upstream decides it now.

    ``key`` groups the ledger's documents (``Source.access_scope_of``): a Slack channel id, a
    Fireflies document id. ``where`` is metadata every chunk of the scope carries, so a store
    that filters on metadata (Pinecone) updates the whole scope in one request.
    """

    key: str
    access_type: str
    access_list: tuple[str, ...]
    where: Mapping[str, str]


class Source(ABC):
    """Turns one API into documents.

    A source takes a ready client (built from a connection by the Airflow adapter, or from a
    URL by tests and the CLI) and never imports Airflow.
    """

    name: ClassVar[str]
    # Documents with no project mapping pass the active-project filter when True (Slack
    # channels without a key); Jira-like sources where every item has a project set False.
    keep_unmapped: ClassVar[bool] = True
    # "Now" of a prune's listing, fixed at first use (``listing_time``) so that ``live_ids`` and
    # ``live_span`` agree however long the listing takes; tests pin it to the sample's anchor.
    listed_at: datetime | None = None
    # Access of an indexed scope the permission listing no longer shows (the bot left a
    # private channel, a meeting was hidden from the key): nobody's, until a pass sees it again.
    restricted_access: ClassVar[tuple[str, tuple[str, ...]]] = ("private", ())

    def __init__(self, client: Any, settings: SourceSettings, stats: FetchStats | None = None) -> None:
        self.client = client
        self.settings = settings
        self.stats = stats if stats is not None else FetchStats()

    @classmethod
    def state_options(cls, state: Any) -> dict[str, Any]:
        """Constructor keywords taken from the state store (``make_source``): what a source
        must remember between runs, each task being a process of its own. None by default."""
        return {}

    @abstractmethod
    def fetch(self, window: Window) -> Iterator[Document]:
        """Yield every document created or updated within ``window`` (already widened)."""

    def parts(self, window: Window) -> list[dict[str, Any]]:
        """Independent parts of a window's fetch (mapped tasks in Airflow).

        By default, time slices: a window of at least ``2 x partition_min_hours`` (default 24)
        splits into at most ``max_partitions`` (default 4) equal, adjacent slices, each a fetch
        of its own with the API's own time bounds (JQL ``updated``, Fireflies ``fromDate``,
        Notion's search stop rule). Scheduled windows stay whole; backfills and catch-ups split.
        Slack overrides this with channel groups, Tempo with work-date ranges.
        Keep them few: a part is a task, and each pays a task's start-up cost.
        """
        most = int(self.settings.option("max_partitions"))
        hours = float(self.settings.option("partition_min_hours"))
        by_length = int((window.end - window.start) / timedelta(hours=hours)) if hours > 0 else most
        slices = window.slices(max(1, min(most, by_length)))
        return [{}] if len(slices) == 1 else [part.to_json() for part in slices]

    @staticmethod
    def part_window(window: Window, scope: Mapping[str, Any]) -> Window:
        """The slice of ``window`` a part covers: its own time slice, or all of it."""
        if scope.get("start") and scope.get("end"):
            return Window.from_json(scope)
        return window

    @staticmethod
    def part_label(scope: Mapping[str, Any]) -> str:
        """What a part covers, for the mapped task's name in the Airflow UI."""
        if scope.get("start") and scope.get("end"):
            part = Window.from_json(scope)
            return f"{part.start:%Y-%m-%d %H:%M} to {part.end:%Y-%m-%d %H:%M}"
        parts = [f"{len(v)} {k}" if isinstance(v, (list, tuple)) else f"{k} {v}" for k, v in scope.items()]
        return ", ".join(parts) or "whole window"

    def fetch_part(self, window: Window, scope: dict[str, Any]) -> Iterator[Document]:
        """Documents of one part (``window`` is already the part's slice)."""
        return self.fetch(window)

    def items_in(self, document: Document) -> int:
        """How many source items (messages, issues, pages...) a document carries, for metrics."""
        return 1

    def removed_ids(self, window: Window) -> Iterator[str]:
        """Document ids seen as deleted/trashed during this window (removed in the same run)."""
        return iter(())

    def live_ids(self) -> Iterator[str] | None:
        """Optionally yield every document id still present upstream, for pruning."""
        return None

    def live_span(self) -> tuple[datetime, datetime] | None:
        """The ``updated_at`` span ``live_ids`` covers (None: everything); older documents
        are never pruned by a listing that does not reach them.

        ``[listing time - prune_history_days, listing time)`` for a source with that option
        (Slack, Fireflies), None when it is null or the source has none."""
        days = self.settings.option("prune_history_days")
        if days is None:
            return None
        now = self.listing_time()
        return now - timedelta(days=float(days)), now

    def confirm_gone(self, ids: list[str]) -> list[str]:
        """Of ids missing from ``live_ids``, those really gone (default: trust the listing)."""
        return ids

    def access_scopes(self, since: datetime | None = None) -> Iterator[AccessScope] | None:
        """Optionally yield the current access of every scope upstream (the permission pass);
        ``since`` is the oldest indexed ``updated_at``, for listings bounded by time. None: this
        source's access never changes after indexing (or cannot be re-read)."""
        return None

    def access_scope_of(self, doc_id: str) -> str | None:
        """The ``AccessScope.key`` an indexed document belongs to (None: never judged)."""
        return None

    def listing_time(self) -> datetime:
        """``listed_at``, set to the current UTC time on first use."""
        if self.listed_at is None:
            self.listed_at = datetime.now(timezone.utc)
        return self.listed_at


def skipped(stats: FetchStats | None, reason: str, what: str, logger: logging.Logger = log) -> None:
    """Count a skipped item under ``reason`` and log it (on the source's ``logger``); returns
    None so a converter can end with ``return skipped(...)`` (the converter contract above)."""
    logger.warning("Skipping %s: %s", what, reason)
    if stats is not None:
        stats.skip(reason, item=what)  # named in status and on the page (the first 100 per reason)
    return None


def iso_millis(moment: datetime) -> str:
    """``2026-11-20T12:00:00.000Z``: the UTC instant with milliseconds, as the plain-HTTP APIs take it."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def from_epoch_ms(epoch_ms: float) -> datetime:
    return datetime.fromtimestamp(epoch_ms / 1000, tz=timezone.utc)
