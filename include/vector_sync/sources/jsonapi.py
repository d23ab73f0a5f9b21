"""The JSON API client of the plain-HTTP sources (Fireflies GraphQL, Tempo REST).

Requests go through the shared session of ``vector_sync.http`` (urllib3 ``Retry``: 429 and
5xx retried with backoff, ``Retry-After`` honoured, a default timeout), built here with the
bearer token. What comes back is judged once: a refused credential is ``CredentialsError``
(``sources.auth``), a refused request (400) is fatal, anything else unusable is retryable
(``ApiError``: Airflow's task retry takes over once the session's retries are spent).
An API that reports errors inside a 200 (GraphQL) overrides ``check``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, TypeVar
from urllib.parse import urlsplit, urlunsplit

import requests

from vector_sync.errors import FatalError, VectorSyncError
from vector_sync.http import make_session
from vector_sync.sources.auth import credentials_error

C = TypeVar("C", bound="JsonApiClient")


class ApiError(VectorSyncError):
    """The API answered with an error a later try may not see (5xx, 429 past retries)."""

    service: ClassVar[str] = "API"

    def __init__(self, status: int | None, message: str, code: str = "") -> None:
        label = f"{self.service} {code} (HTTP {status})" if code else f"{self.service} HTTP {status}"
        super().__init__(f"{label}: {message}")
        self.status = status
        self.code = code


class ApiRequestError(ApiError, FatalError):
    """The API refused the request itself (400, a query it cannot run): retrying cannot help."""


class JsonApiClient:
    """A base URL, the session that reaches it and the connection it authenticates as."""

    service: ClassVar[str] = "API"
    secret: ClassVar[str] = "API token"  # what the connection's password holds, for messages
    default_url: ClassVar[str] = ""
    error: ClassVar[type[ApiError]] = ApiError
    request_error: ClassVar[type[ApiRequestError]] = ApiRequestError

    def __init__(self, session: requests.Session, base_url: str | None = None, conn_id: str = "") -> None:
        self.session = session
        self.base_url = (base_url or self.default_url).rstrip("/")
        self.conn_id = conn_id

    def get(self, path_or_url: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        return self.call("GET", path_or_url, params=params)

    def post(self, path: str, body: Mapping[str, Any], params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        return self.call("POST", path, params=params, json=dict(body))

    def call(self, method: str, path_or_url: str = "", **kwargs: Any) -> dict[str, Any]:
        """Send one request; return the JSON object answered, or raise what ``check`` decides."""
        response = self.session.request(method, self.url(path_or_url), **kwargs)
        try:
            body = response.json()
        except ValueError:
            body = None
        self.check(response, body)
        return body

    def url(self, path_or_url: str) -> str:
        """``path`` below the base URL; an absolute link (a next-page URL) keeps its path and
        query but goes to our base URL's host, so the token never goes to another host."""
        if not path_or_url:
            return self.base_url
        if "://" not in path_or_url:
            return self.base_url + "/" + path_or_url.lstrip("/")
        base, link = urlsplit(self.base_url), urlsplit(path_or_url)
        return urlunsplit((base.scheme, base.netloc, link.path, link.query, ""))

    def check(self, response: requests.Response, body: Any) -> None:
        """REST rule: 401/403 refused credentials, 400 fatal, other errors and non-objects retryable."""
        if response.ok:
            if not isinstance(body, dict):
                raise self.error(response.status_code, f"not a JSON object: {response.text[:200]!r}")
            return
        message = error_message(response, body)
        rejected = credentials_error(self.conn_id, self.service, response.status_code, None, f"HTTP {response.status_code} {message}")
        if rejected is not None:
            raise rejected
        where = f"{response.request.method} {urlsplit(response.url).path}: {message}"
        raise (self.request_error if response.status_code == 400 else self.error)(response.status_code, where)


def error_message(response: requests.Response, body: Any) -> str:
    """The API's ``{"errors": [{"message"}]}`` (or ``{"message"}``) as one line; never headers."""
    if body is None:
        return response.text[:200]
    if isinstance(body, dict):
        errors = body.get("errors")
        if isinstance(errors, list):
            return "; ".join(str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in errors)
        if body.get("message"):
            return str(body["message"])
    return str(body)[:200]


def make_client(
    client_class: type[C],
    base_url: str | None,
    token: str,
    *,
    conn_id: str,
    session: requests.Session | None = None,
    client_options: Mapping[str, Any] | None = None,
    **session_options: Any,
) -> C:
    """A ``client_class`` for ``base_url`` (None: the API's own) sending ``token`` as a bearer.

    ``session_options`` go to ``make_session`` (``total_retries``, ``timeout_s``...);
    ``client_options`` to the client class (Tempo's Jira client).
    """
    if not token:
        raise FatalError(f"connection '{conn_id}' has no {client_class.service} {client_class.secret}: set its password")
    session = session or make_session(**session_options)
    session.headers["Authorization"] = f"Bearer {token}"
    return client_class(session, base_url, conn_id, **dict(client_options or {}))
