"""Fetch exactly the named documents, for the events DAG: ``fetch_ids(source, doc_ids)``.

A webhook names an item; the events DAG syncs that item alone instead of a window. Each source
answers "these document ids, now" with the same client, converter and skip rules its window
fetch uses, one small function per source registered in ``BY_ID``; what a function does not
yield is either skipped (counted in the source's stats) or gone upstream, which the caller
settles with ``Source.confirm_gone`` before deleting. Kept beside the connectors rather than in
them so the window fetches stay untouched (each could become a ``fetch_ids`` method of its
connector; the single entry point stays ``fetch_ids``). A source without one (Tempo: no
webhooks) raises ``NotImplementedError``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from vector_sync.models import Document
from vector_sync.sources.base import Source, skipped

log = logging.getLogger(__name__)

# Keys per JQL ``key in (...)`` search: a short query, one page of results.
JIRA_KEYS_PER_SEARCH = 50


def _slack(source: Any, doc_ids: Sequence[str]) -> Iterator[Document]:
    """``slack:<channel>:<root ts>``: the root from history at exactly its ts, then its thread."""
    from slack_sdk.errors import SlackApiError

    from vector_sync.sources.slack import channel_projects
    from vector_sync.sources.slack_client import check_credentials, error_code, slack_errors
    from vector_sync.sources.slack_messages import decimal, domain, has_replies, last_activity, parse_id, to_document, ts_time

    with slack_errors(source.settings.conn_id):
        if not source._domain:
            source._domain = domain(check_credentials(source.client, source.settings.conn_id).get("url") or "")
        channels = {c["id"]: c for c in source._listed_channels() if source._selected(c)}
        for doc_id in doc_ids:
            parsed = parse_id(doc_id)
            channel = channels.get(parsed[0]) if parsed else None
            if channel is None or not (channel.get("is_member") or source._join(channel)):
                continue
            try:
                response = source.api.call(
                    "conversations.history", channel=channel["id"], oldest=parsed[1], latest=parsed[1], inclusive=True, limit=1
                )
            except SlackApiError as exc:
                if error_code(exc) in ("not_in_channel", "channel_not_found"):
                    continue
                raise
            wanted = decimal(parsed[1])
            parent = next((m for m in response.get("messages") or [] if isinstance(m, dict) and decimal(m.get("ts")) == wanted), None)
            if parent is None or not source._wanted(parent):
                continue
            thread = source._thread(channel, parent) if has_replies(parent) else [parent]
            last = last_activity(parent)
            if not thread or last is None:
                continue
            projects = channel_projects(channel["name"], source.project_keys)
            names = source.api.names(thread)
            yield to_document(
                channel, thread, ts_time(last), source._access(channel), projects, source._domain, names.get, source._channel_names.get
            )


def _jira(source: Any, doc_ids: Sequence[str]) -> Iterator[Document]:
    """``jira:<KEY>`` (or ``jira:id:<n>``, what worklog events name): one JQL search per batch.

    Jira answers 400 to the whole search when one key in ``key in (...)`` no longer exists
    ("An issue with key 'X' does not exist"); the batch is then searched key by key and the
    missing keys are left out (gone: the caller confirms and deletes them)."""
    from jira import JIRAError

    from vector_sync.sources.jira import ISSUE_FIELDS, _to_document, jira_errors, search_issues

    def search(field: str, values: list[str]) -> Iterator[dict]:
        try:
            yield from list(search_issues(source.client, f"{field} in ({', '.join(values)})", ISSUE_FIELDS, JIRA_KEYS_PER_SEARCH))
        except JIRAError as exc:
            if exc.status_code != 400:
                raise
            if len(values) > 1:
                for value in values:
                    yield from search(field, [value])
            else:
                log.info("Jira issue %s %s no longer exists", field, values[0])

    keys = [doc_id.split(":", 1)[1] for doc_id in doc_ids if doc_id.startswith("jira:") and not doc_id.startswith("jira:id:")]
    ids = [doc_id.rsplit(":", 1)[1] for doc_id in doc_ids if doc_id.startswith("jira:id:")]
    with jira_errors(source.settings.conn_id):
        for field, values in (("key", keys), ("id", ids)):
            for start in range(0, len(values), JIRA_KEYS_PER_SEARCH):
                for raw in search(field, values[start : start + JIRA_KEYS_PER_SEARCH]):
                    document = _to_document(raw, source._comments(raw), source.client.server_url, source.stats)
                    if document is not None:
                        yield document


def _notion(source: Any, doc_ids: Sequence[str]) -> Iterator[Document]:
    """``notion:<page id>``: the page, unless it is in the trash, then its blocks."""
    from notion_client import APIErrorCode, APIResponseError

    from vector_sync.sources.notion import notion_errors

    with notion_errors(source.settings.conn_id):
        for doc_id in doc_ids:
            prefix, _, page_id = doc_id.partition(":")
            if prefix != "notion" or not page_id:
                continue
            try:
                page = source._call(source.client.pages.retrieve, page_id)
            except APIResponseError as exc:
                if exc.code in (APIErrorCode.ObjectNotFound, APIErrorCode.RestrictedResource):
                    continue
                raise
            if page.get("in_trash") or page.get("archived"):
                continue
            source.ancestry.remember(page)
            document = source._document(page)
            if document is not None:
                yield document


def _fireflies(source: Any, doc_ids: Sequence[str]) -> Iterator[Document]:
    """``fireflies:<transcript id>``: the transcript query of detail mode, one per id."""
    from vector_sync.sources.fireflies import ONE_QUERY, FirefliesNotFound, to_document
    from vector_sync.sources.projects import ProjectTagger

    tagger = ProjectTagger.from_options(source.settings.options)
    for doc_id in doc_ids:
        prefix, _, tid = doc_id.partition(":")
        if prefix != "fireflies" or not tid:
            continue
        try:
            raw = source.client.query(ONE_QUERY, {"id": tid}).get("transcript")
        except FirefliesNotFound:
            raw = None
        if raw is None:
            skipped(source.stats, "transcript not found", f"Fireflies transcript {tid}", log)
            continue
        document = to_document(raw, tagger, source.stats)
        if document is not None:
            yield document


BY_ID: dict[str, Callable[[Any, Sequence[str]], Iterator[Document]]] = {
    "slack": _slack,
    "jira": _jira,
    "notion": _notion,
    "fireflies": _fireflies,
}


def fetch_ids(source: Source, doc_ids: Sequence[str]) -> Iterator[Document]:
    """The documents of ``doc_ids`` as the source's window fetch would build them."""
    if source.name not in BY_ID:
        raise NotImplementedError(f"source '{source.name}' cannot fetch single items (no webhooks)")
    return BY_ID[source.name](source, list(dict.fromkeys(doc_ids)))
