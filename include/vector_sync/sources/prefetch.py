"""The one concurrency helper of the sources: results of a function over items, in order,
computed ahead of the consumer.

Notion reads page contents with several workers; Fireflies asks for the next page while one
is read. Both are ``prefetch``: items are pulled lazily (a search page is requested only
when its results are needed), at most ``ahead`` results wait beyond the one consumed, and
the next item is pulled only after the oldest result has arrived, so a lazy item source may
decide from what it has been answered so far (the last page of a listing asks for no other).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def prefetch(
    func: Callable[[T], R],
    items: Iterable[T],
    *,
    ahead: int = 1,
    workers: int = 1,
    name: str = "prefetch",
    wait_on_close: bool = True,
) -> Iterator[R]:
    """Yield ``func(item)`` for each item in input order, ``ahead`` items computed in advance
    by ``workers`` threads.

    An error of ``func`` is raised where its result would have been yielded, after the results
    before it. Closing the iterator early cancels what has not started; ``wait_on_close``
    decides whether it also waits for what is running (False: a slow request nobody will read
    does not hold the consumer).
    """
    source = iter(items)
    pending: deque[Future] = deque()
    pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix=name)

    def submit_next() -> None:
        for item in source:
            pending.append(pool.submit(func, item))
            return

    try:
        for _ in range(max(1, ahead)):
            submit_next()
        while pending:
            result = pending.popleft().result()
            submit_next()
            yield result
    finally:
        pool.shutdown(wait=wait_on_close, cancel_futures=True)
