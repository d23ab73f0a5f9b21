"""Jira Cloud issues, with their description and every comment, as documents.

The reference connector: one class, one generator per window, a pure ``_to_document`` beside
it, paging and retries left to the ``jira`` library and ``vector_sync.paging``.

One enhanced JQL search per window covers every project: the old system's per-project
queries missed projects, and filtering inactive projects is the pipeline's job
(``keep_unmapped = False``: every issue has a project).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from jira import JIRA, JIRAError

from vector_sync.adf import adf_to_text
from vector_sync.models import Document, FetchStats, MetadataValue, Window, parse_time
from vector_sync.paging import follow_offsets, follow_tokens
from vector_sync.sources.auth import credentials_checked
from vector_sync.sources.base import Source, skipped

log = logging.getLogger(__name__)

# search/jql returns only `id` unless fields are named; these are all a document needs.
ISSUE_FIELDS: tuple[str, ...] = (
    "summary",
    "description",
    "status",
    "assignee",
    "reporter",
    "priority",
    "labels",
    "issuetype",
    "project",
    "created",
    "updated",
    "comment",
)
# search/jql serves its largest pages (up to 5000 issues) when only ids/keys are requested.
_LIVE_IDS_PAGE_SIZE = 5000
# Every issue matches (JQL counts epoch milliseconds); search/jql rejects unbounded queries.
_ALL_ISSUES_JQL = "created >= 0"
# The jira library's ResilientSession sleeps min(this, 2 x Retry-After) per 429/503, and
# 10 x 2^n s per connection error: the cap keeps a run's worst case at max_retries x this.
_MAX_RETRY_DELAY_S = 30
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_ONE_MS = timedelta(milliseconds=1)


def make_client(
    url: str,
    email: str,
    token: str,
    *,
    conn_id: str = "jira_default",
    timeout_s: float = 30,
    max_retries: int = 3,
    max_retry_delay_s: int = _MAX_RETRY_DELAY_S,
) -> JIRA:
    """A REST v3 client whose session retries 429/503 honouring Retry-After, boundedly.

    ``serverInfo`` is called here, as the library's constructor would, but after the retry cap
    is set (the constructor's own call waited up to the library's 60 s per retry): rejected
    credentials surface here as ``CredentialsError`` (401/403 are not retried: it fails at once).
    """
    with jira_errors(conn_id):
        client = JIRA(
            server=url,
            basic_auth=(email, token),
            options={"rest_api_version": "3"},
            max_retries=max_retries,
            timeout=timeout_s,
            get_server_info=False,
        )
        client._session.max_retry_delay = max_retry_delay_s
        info = client.server_info()
    client._version = tuple(info.get("versionNumbers") or (0, 0, 0))  # what get_server_info=True records
    client.deploymentType = info.get("deploymentType")
    return client


def jira_errors(conn_id: str):
    """A context in which the API's 401/403 become ``CredentialsError`` naming ``conn_id``
    (``exc.text`` is the server's message only: no headers, never the token)."""
    return credentials_checked(conn_id, "Jira", JIRAError, lambda exc: (exc.status_code, None, f"HTTP {exc.status_code} {exc.text or ''}"))


def search_issues(client: JIRA, jql: str, fields: Sequence[str], page_size: int, *, use_post: bool = False) -> Iterator[dict]:
    """Every issue ``jql`` finds, as JSON, following ``nextPageToken`` (a repeated one raises).

    The request holds exactly what the spec documents (``jql``, ``fields``, ``maxResults``,
    ``nextPageToken``), sent through the library's session (its auth and retries). Its own
    ``enhanced_search_issues`` rewrites ``key`` into ``issuekey`` (the spec promises the top-level
    key and 5,000 per page only for ``id``/``key``) and posts ``expand: null`` and
    ``properties: null``, which the POST body's schema does not allow.
    """

    def fetch_page(token: str | None) -> tuple[list[dict], str | None]:
        params: dict[str, Any] = {"jql": jql, "maxResults": page_size, "fields": list(fields) if use_post else ",".join(fields)}
        if token:
            params["nextPageToken"] = token
        page = client._get_json("search/jql", params=params, use_post=use_post)
        # The token marks a next page ("not included in the response for the last page"): it is
        # followed whatever isLast says.
        return page.get("issues") or [], page.get("nextPageToken") or None

    return follow_tokens(fetch_page, what=f"Jira search {jql!r}")


class JiraSource(Source):
    """Issues updated within a window, each with its description and all comments."""

    name = "jira"
    keep_unmapped = False

    def fetch(self, window: Window) -> Iterator[Document]:
        """Yield one document per issue whose ``updated`` lies in ``[start, end)``."""
        jql = f"updated >= {_epoch_ms(window.start)} AND updated < {_epoch_ms(window.end)} ORDER BY updated ASC"
        page_size = int(self.settings.option("page_size"))
        site_url = self.client.server_url
        with jira_errors(self.settings.conn_id):
            for raw in search_issues(self.client, jql, ISSUE_FIELDS, page_size):
                document = _to_document(raw, self._comments(raw), site_url, self.stats)
                if document is None:
                    continue
                if window.contains(document.updated_at):
                    yield document
                else:  # search is eventually consistent: the issue moved on since; next window
                    log.debug("Jira issue %s updated outside %s, left to its own window", document.id, window)

    def live_ids(self) -> Iterator[str]:
        """Yield ``jira:{KEY}`` for every issue the credentials can see, for pruning."""
        with jira_errors(self.settings.conn_id):
            for raw in search_issues(self.client, _ALL_ISSUES_JQL, ("key",), _LIVE_IDS_PAGE_SIZE):
                key = raw.get("key") if isinstance(raw, dict) else None
                if key:
                    yield f"jira:{key}"

    def _comments(self, raw: Any) -> list[dict]:
        """All comments of an issue: the embedded ones, or every page when they are cut short."""
        fields = raw.get("fields") if isinstance(raw, dict) else None
        embedded = fields.get("comment") if isinstance(fields, dict) else None
        if not isinstance(embedded, dict):
            return []
        comments = [c for c in embedded.get("comments") or [] if isinstance(c, dict)]
        total = embedded.get("total")
        key = raw.get("key")
        if not isinstance(total, int) or len(comments) >= total or not key:
            return comments
        page_size = int(self.settings.option("comment_page_size"))

        def fetch_page(start_at: int) -> tuple[list[dict], int | None]:
            page = self.client._get_json(
                f"issue/{key}/comment", params={"startAt": start_at, "maxResults": page_size, "orderBy": "created"}
            )
            return page.get("comments") or [], page.get("total")

        try:
            # Re-read from the start rather than splice onto the embedded page: one ordering.
            return _unique_by_id(follow_offsets(fetch_page, page_size=page_size))
        except JIRAError as exc:
            if exc.status_code != 404:
                raise
            # Deleted or hidden since the search answered: keep what the search sent (pruning
            # removes the issue later) instead of failing the whole window.
            log.warning("Jira issue %s vanished while its comments were read; keeping %d of %d", key, len(comments), total)
            return comments


def _to_document(raw: Any, comments: Sequence[Mapping[str, Any]], site_url: str, stats: FetchStats | None = None) -> Document | None:
    """The issue's document; None (counted in ``stats``) when it has no key, no fields or
    unparsable ``created``/``updated``."""
    key = raw.get("key") if isinstance(raw, dict) else None
    fields = raw.get("fields") if isinstance(raw, dict) else None
    if not isinstance(key, str) or not key or not isinstance(fields, dict):
        return skipped(stats, "malformed issue", f"Jira issue {key or '?'} (no key or no fields)", log)
    try:
        updated_at = parse_time(fields["updated"])
        created_at = parse_time(fields["created"]) if fields.get("created") else None
    except (KeyError, TypeError, ValueError, AttributeError):
        return skipped(stats, "malformed issue", f"Jira issue {key} (unparsable created/updated)", log)

    summary = str(fields.get("summary") or "").strip()
    title = f"{key}: {summary}" if summary else key
    url = f"{site_url.rstrip('/')}/browse/{key}"
    project_key = _get(fields, "project", "key") or key.rsplit("-", 1)[0]
    header = _header(fields, created_at, updated_at)
    return Document(
        id=f"jira:{key}",
        source="jira",
        title=title,
        text=_text(header, fields.get("description"), comments),
        url=url,
        updated_at=updated_at,
        projects=(project_key,),
        metadata=_metadata(key, project_key, title, url, updated_at, header),
    )


def _header(fields: Mapping[str, Any], created_at: datetime | None, updated_at: datetime) -> dict[str, str | None]:
    """The issue's properties as shown above its description (``None``: not set)."""
    return {
        "Type": _get(fields, "issuetype", "name"),
        "Status": _get(fields, "status", "name"),
        "Priority": _get(fields, "priority", "name"),
        "Assignee": _get(fields, "assignee", "displayName") or "Unassigned",
        "Reporter": _get(fields, "reporter", "displayName"),
        "Labels": ", ".join(str(label) for label in fields.get("labels") or []) or None,
        "Created": _minutes(created_at) if created_at else None,
        "Updated": _minutes(updated_at),
    }


def _text(header: Mapping[str, str | None], description: Any, comments: Sequence[Mapping[str, Any]]) -> str:
    """Header lines, description, then ``Comments:`` oldest first.

    No title line: the chunker starts every chunk with the document's title already.
    """
    parts = ["\n".join(f"{name}: {value}" for name, value in header.items() if value)]
    description_text = adf_to_text(description)
    if description_text:
        parts.append(description_text)
    rendered = [text for text in (_comment_text(c) for c in comments) if text]
    if rendered:
        parts.append("Comments:\n" + "\n\n".join(rendered))
    return "\n\n".join(parts)


def _metadata(
    key: str, project_key: str, title: str, url: str, updated_at: datetime, header: Mapping[str, str | None]
) -> dict[str, MetadataValue]:
    """The old system's fields (so its filters keep working) plus a few more; no nulls."""
    metadata: dict[str, MetadataValue | None] = {
        "source": "jira",
        "issue_key": key,
        "project_key": project_key,
        "status": header["Status"],
        "assignee": header["Assignee"],
        "timestamp_epoch": int(updated_at.timestamp()),
        "access_type": "all",
        "title": title,
        "url": url,
        "updated": updated_at.isoformat(),
        "issue_type": header["Type"],
        "priority": header["Priority"],
        "reporter": header["Reporter"],
    }
    # Pinecone rejects null metadata values: an unset field is left out.
    return {name: value for name, value in metadata.items() if value is not None}


def _comment_text(comment: Mapping[str, Any]) -> str:
    """``Name (YYYY-MM-DD HH:MM): text``; empty for a comment without a body."""
    body = adf_to_text(comment.get("body"))
    if not body:
        return ""
    author = _get(comment, "author", "displayName") or "Unknown"
    try:
        stamp = f" ({_minutes(parse_time(comment['created']))})"
    except (KeyError, TypeError, ValueError, AttributeError):
        stamp = ""
    return f"{author}{stamp}: {body}"


def _get(mapping: Mapping[str, Any], name: str, attr: str) -> str | None:
    """``mapping[name][attr]`` as a string, tolerating null objects (unassigned, no priority)."""
    value = mapping.get(name)
    inner = value.get(attr) if isinstance(value, dict) else None
    return str(inner) if inner not in (None, "") else None


def _unique_by_id(comments: Iterator[dict]) -> list[dict]:
    """Drop repeats (a comment added while paging shifts the next page by one)."""
    seen: set[str] = set()
    unique = []
    for comment in comments:
        ident = str(comment.get("id", id(comment)))
        if ident not in seen:
            seen.add(ident)
            unique.append(comment)
    return unique


def _minutes(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M")


def _epoch_ms(moment: datetime) -> int:
    """JQL reads a bare number as epoch milliseconds, exact and time-zone free, unlike
    ``"yyyy/MM/dd HH:mm"`` strings (minute precision, in the querying user's time zone)."""
    return (moment - _EPOCH) // _ONE_MS
