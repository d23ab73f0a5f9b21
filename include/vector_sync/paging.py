"""Paginators shared by the sources: one small function per paging style.

Sources use the SDK's own iterator when it has one; these cover the APIs (or endpoints)
where the SDK hands back one page at a time. Each refuses to spin: a repeated token or an
offset that stops advancing raises instead of looping forever on a server bug.
"""

from __future__ import annotations

from typing import Callable, Iterator, Sequence, TypeVar

from vector_sync.errors import VectorSyncError

T = TypeVar("T")


class PagingLoopError(VectorSyncError):
    """The API sent a page token it had already sent: following it would never end."""


def follow_tokens(fetch_page: Callable[[str | None], tuple[Sequence[T], str | None]], *, what: str) -> Iterator[T]:
    """Yield items of every page, following next-page tokens until none is returned.

    Args:
        fetch_page: called with ``None`` for the first page, then with each next token;
            returns the page's items and the next token (``None``/``""`` on the last page).
        what: names the listing in the loop error (e.g. "jira search").
    """
    seen: set[str] = set()
    token: str | None = None
    while True:
        items, next_token = fetch_page(token)
        yield from items
        if not next_token:
            return
        if next_token in seen:
            raise PagingLoopError(f"{what}: page token {next_token!r} was returned twice (loop detected)")
        seen.add(next_token)
        token = next_token


def follow_offsets(
    fetch_page: Callable[[int], tuple[Sequence[T], int | None]], *, page_size: int, start: int = 0
) -> Iterator[T]:
    """Yield items of every page of an offset API (``startAt``/``offset``/``skip``).

    Args:
        fetch_page: called with the offset; returns the page's items and the total when the
            API reports one (``None`` otherwise: then a short page ends the listing).
        page_size: the page size asked for, to recognise the last page without a total.
        start: the first offset (items before it were already read elsewhere).
    """
    offset = start
    while True:
        items, total = fetch_page(offset)
        yield from items
        offset += len(items)
        if not items:  # an empty page never advances: stop even if the total says more
            return
        if total is not None and offset >= total:
            return
        if total is None and len(items) < page_size:
            return
