"""Paginators shared by the sources: one small function per paging style.

Sources use the SDK's own iterator when it has one; these cover the APIs (or endpoints)
where the SDK hands back one page at a time. Each refuses to spin: a repeated token or an
offset that stops advancing raises instead of looping forever on a server bug.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

from vector_sync.errors import VectorSyncError
from vector_sync.sources.prefetch import prefetch

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
    fetch_page: Callable[[int], tuple[Sequence[T], int | None]],
    *,
    page_size: int,
    start: int = 0,
    read_ahead: bool = False,
) -> Iterator[T]:
    """Yield items of every page of an offset API (``startAt``/``offset``/``skip``).

    Args:
        fetch_page: called with the offset; returns the page's items and the total when the
            API reports one (``None`` otherwise: then a short page ends the listing).
        page_size: the page size asked for, to recognise the last page without a total.
        start: the first offset (items before it were already read elsewhere).
        read_ahead: ask for the next page (on a worker thread) while this one is consumed.
            The requests are exactly the sequential ones, one in flight at a time, so
            ``fetch_page`` must be safe to call from another thread.
    """
    following: list[int | None] = [start]  # the next offset; None once the listing ended

    def offsets() -> Iterator[int]:
        while following[0] is not None:
            yield following[0]

    def read(offset: int) -> Sequence[T]:
        items, total = fetch_page(offset)
        after = offset + len(items)
        # An empty page never advances: stop even if the total says more.
        last = not items or (after >= total if total is not None else len(items) < page_size)
        following[0] = None if last else after
        return items

    if not read_ahead:
        for items in map(read, offsets()):
            yield from items
        return
    pages = prefetch(read, offsets(), ahead=1, name="next-page", wait_on_close=False)
    try:
        for items in pages:
            yield from items
    finally:  # a consumer that stops early does not wait for a page it will not read
        pages.close()
