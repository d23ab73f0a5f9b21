"""A shared request-rate limiter for APIs that cap an integration's average rate.

Pools cap how many tasks run at once, not how many requests they send: Notion allows about
three requests per second per integration, shared by every worker thread of a task. One
``RateLimiter`` per task, passed to every thread, holds that average.

The algorithm is GCRA (a token bucket written as one timestamp): each ``acquire`` reserves the
next free slot under a lock and sleeps outside it, so waiting threads never hold the lock and
slots are granted in arrival order, evenly spaced ``1 / rate_per_s`` apart.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class RateLimiter:
    """Holds callers to ``rate_per_s`` on average, allowing bursts of ``burst`` requests.

    ``rate_per_s`` of ``None`` or ``<= 0`` disables limiting (benchmarks, local sandbox).
    """

    def __init__(
        self,
        rate_per_s: float | None,
        burst: int = 1,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        rate = float(rate_per_s or 0)  # settings may carry "3" from a Variable's JSON
        self.rate_per_s = rate if rate > 0 else None
        self.interval_s = 1.0 / self.rate_per_s if self.rate_per_s else 0.0
        # How far ahead of the steady pace a caller may run: burst - 1 extra slots.
        self._tolerance_s = max(0, int(burst) - 1) * self.interval_s
        self._next_free = 0.0  # theoretical arrival time of the next request
        self._lock = threading.Lock()
        self._clock = clock
        self._sleep = sleep
        self.waited_s = 0.0  # total time callers spent waiting (for run metrics)

    @property
    def enabled(self) -> bool:
        return self.rate_per_s is not None

    def reserve(self) -> float:
        """Claim the next slot; return how many seconds the caller must wait for it."""
        if not self.enabled:
            return 0.0
        with self._lock:
            now = self._clock()
            slot = max(self._next_free, now)
            self._next_free = slot + self.interval_s
            wait_s = max(0.0, slot - self._tolerance_s - now)
            self.waited_s += wait_s
            return wait_s

    def acquire(self) -> None:
        """Block until the caller may send one request."""
        wait_s = self.reserve()
        if wait_s > 0:
            self._sleep(wait_s)

    def wrap(self, func: Callable[..., T]) -> Callable[..., T]:
        """``func`` taking one slot per call (for SDK methods that send one request each)."""

        def limited(*args, **kwargs) -> T:
            self.acquire()
            return func(*args, **kwargs)

        limited.__name__ = getattr(func, "__name__", "limited")
        limited.__doc__ = func.__doc__
        return limited
