"""The one place that decides a rejected credential: retrying cannot fix a bad token.

Every source maps its client's errors here: an HTTP 401/403 (Jira, Tempo, Fireflies), a
Notion ``unauthorized``, a Slack ``invalid_auth`` in an HTTP 200 body, a Fireflies
``auth_failed`` in ``errors[]``. The result is ``CredentialsError`` naming the connection, so
the task fails at once instead of spending its retries.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager

from vector_sync.errors import CredentialsError

AUTH_STATUSES = frozenset({401, 403})
# Vendor error codes that mean the token itself is refused (Slack: ok=false bodies;
# Fireflies: errors[].code; Notion: the code of its 401).
AUTH_CODES = frozenset(
    {
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "token_expired",  # Slack
        "auth_failed",  # Fireflies
        "unauthorized",  # Notion
    }
)

# (HTTP status or None, vendor error code or None, the server's message: never headers)
ErrorFacts = tuple["int | None", "str | None", str]


def credentials_error(
    conn_id: str,
    service: str,
    status: int | None = None,
    code: str | None = None,
    detail: str = "",
    *,
    statuses: Collection[int] = AUTH_STATUSES,
) -> CredentialsError | None:
    """``CredentialsError`` when ``status`` or ``code`` says the credentials were refused, else None."""
    if status in statuses or (code or "") in AUTH_CODES:
        return CredentialsError(conn_id, service, detail.strip())
    return None


@contextmanager
def credentials_checked(
    conn_id: str,
    service: str,
    errors: type[Exception] | tuple[type[Exception], ...],
    facts: Callable[[Exception], ErrorFacts],
    *,
    statuses: Collection[int] = AUTH_STATUSES,
) -> Iterator[None]:
    """Re-raise an ``errors`` instance whose ``facts`` name a refused credential as
    ``CredentialsError``; any other error passes unchanged."""
    try:
        yield
    except errors as exc:
        rejected = credentials_error(conn_id, service, *facts(exc), statuses=statuses)
        if rejected is not None:
            raise rejected from None
        raise
