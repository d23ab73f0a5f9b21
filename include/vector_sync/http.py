"""One ``requests`` session for the plain-HTTP APIs (Fireflies GraphQL, Tempo REST).

The APIs without an SDK get their retries here, once: urllib3's ``Retry`` on the adapter
retries 429 and 5xx with exponential backoff and honours ``Retry-After``, so no connector
sleeps by hand. When the retries are spent the last response is returned (not raised), so
the caller can still read the API's own error body and decide fatal vs retryable. Every
request gets a default timeout, because ``requests`` waits forever without one.

The caller sets authentication (``session.headers["Authorization"] = ...``).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

# (connect, read) seconds. A long read timeout because a page of full transcripts can take a
# while to serialize on the vendor's side.
DEFAULT_TIMEOUT_S: tuple[float, float] = (10.0, 120.0)
RETRY_STATUSES: tuple[int, ...] = (429, 500, 502, 503, 504)
# POST is included: the APIs using this session only read (GraphQL queries are POSTs).
RETRY_METHODS: frozenset[str] = frozenset({"GET", "HEAD", "OPTIONS", "POST", "PUT", "DELETE"})
# A Retry-After longer than this (a daily quota) is cut to it: after the last retry the
# caller raises and Airflow's own task retry takes over, instead of a worker sleeping for hours.
RETRY_AFTER_MAX_S = 120
USER_AGENT = "vector-sync/0.1 (+requests)"


class TimeoutSession(requests.Session):
    """A ``requests.Session`` that applies a default timeout to every request."""

    def __init__(self, timeout_s: float | tuple[float, float] = DEFAULT_TIMEOUT_S) -> None:
        super().__init__()
        self.timeout_s = timeout_s

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout_s
        return super().request(method, url, *args, **kwargs)


def make_retry(
    *,
    total_retries: int = 5,
    backoff_factor: float = 0.5,
    backoff_max_s: float = 30.0,
    status_forcelist: Collection[int] = RETRY_STATUSES,
    allowed_methods: Collection[str] = RETRY_METHODS,
    respect_retry_after_header: bool = True,
    retry_after_max_s: int = RETRY_AFTER_MAX_S,
) -> Retry:
    """The retry policy shared by every plain-HTTP client (also usable on its own adapter)."""
    return Retry(
        total=total_retries,
        backoff_factor=backoff_factor,
        backoff_max=backoff_max_s,
        backoff_jitter=0.1 * backoff_factor,
        status_forcelist=frozenset(status_forcelist),
        allowed_methods=frozenset(m.upper() for m in allowed_methods),
        respect_retry_after_header=respect_retry_after_header,
        retry_after_max=retry_after_max_s,
        # Return the last 429/5xx instead of raising MaxRetryError: its body says why.
        raise_on_status=False,
    )


def make_session(
    *,
    total_retries: int = 5,
    backoff_factor: float = 0.5,
    backoff_max_s: float = 30.0,
    status_forcelist: Collection[int] = RETRY_STATUSES,
    allowed_methods: Collection[str] = RETRY_METHODS,
    respect_retry_after_header: bool = True,
    retry_after_max_s: int = RETRY_AFTER_MAX_S,
    timeout_s: float | tuple[float, float] = DEFAULT_TIMEOUT_S,
    pool_maxsize: int = 16,
    headers: Mapping[str, str] | None = None,
) -> requests.Session:
    """A session with urllib3 retries, pooled connections and a default timeout.

    Args:
        total_retries: retries per request (connect, read and status errors together).
        backoff_factor: seconds; the n-th retry waits ``backoff_factor * 2**(n-1)`` unless
            the response carries ``Retry-After``.
        backoff_max_s: upper bound of one exponential backoff wait.
        status_forcelist: statuses retried.
        allowed_methods: methods retried (only idempotent reads belong here).
        respect_retry_after_header: wait as long as ``Retry-After`` says (429/503).
        retry_after_max_s: upper bound of one ``Retry-After`` wait.
        timeout_s: default ``(connect, read)`` timeout of every request.
        pool_maxsize: connections kept per host; size it to the threads sharing the session.
        headers: extra default headers (the caller's auth header, for instance).
    """
    session = TimeoutSession(timeout_s)
    retry = make_retry(
        total_retries=total_retries,
        backoff_factor=backoff_factor,
        backoff_max_s=backoff_max_s,
        status_forcelist=status_forcelist,
        allowed_methods=allowed_methods,
        respect_retry_after_header=respect_retry_after_header,
        retry_after_max_s=retry_after_max_s,
    )
    adapter = HTTPAdapter(max_retries=retry, pool_connections=4, pool_maxsize=pool_maxsize)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.headers["User-Agent"] = USER_AGENT
    if headers:
        session.headers.update(headers)
    return session
