"""Notion pages (wiki pages and database rows) as documents, one per page, split at headings.

Notion's search has no time filter, so a window is found by paging search newest-first
(``last_edited_time`` descending). Notion promises neither immediate indexing nor a strict order
(https://developers.notion.com/reference/search-optimizations-and-limitations), so paging stops
only once ``STOP_MARGIN_RESULTS`` results older than the window start minus ``STOP_MARGIN`` have
been seen: a page sorted a few places out of line is still read. A page indexed late is caught by
a later run as long as the delay is within the source's overlap (Notion documents no bound: see
the README). Page contents are block trees read level by level (``blocks/{id}/children``), which
costs one request per block with children: they are fetched by a thread pool while one shared
``RateLimiter`` holds the integration's ~3 requests/second across all threads.

Trashed pages: search leaves the trash out (notion-sdk-js release notes: ``in_trash`` "was and
remains excluded by default"), so a window never sees a page being trashed. Deletions come from
the prune (and Notion's webhooks): ``live_ids`` pages search over every page (ids kept, nothing
else read), and since search is known to miss pages, ``confirm_gone`` retrieves each candidate:
only a 404 or a page ``in_trash`` is gone. Should search ever return a trashed page, it is not
indexed and ``removed_ids`` hands it to the pipeline (remembered from ``fetch``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from notion_client import APIErrorCode, APIResponseError, Client
from notion_client.client import RetryOptions

from vector_sync.config import SourceSettings
from vector_sync.models import Document, FetchStats, MetadataValue, Segment, Window, parse_time
from vector_sync.notion_blocks import SUPPORTED_TYPES, notion_url, property_lines, render_blocks
from vector_sync.paging import follow_tokens
from vector_sync.ratelimit import RateLimiter
from vector_sync.sources.auth import credentials_checked
from vector_sync.sources.base import Source
from vector_sync.sources.notion_ancestry import UNREADABLE, Ancestry, page_title
from vector_sync.sources.prefetch import prefetch
from vector_sync.sources.projects import KEY_PATTERN, ProjectTagger

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.notion.com"
# Pinned: block and parent shapes change between versions (2025-09-03 moved database rows
# under data sources: parent {"type": "data_source_id"}). Configurable on the connection.
NOTION_VERSION = "2025-09-03"
# notion-client retries 429 and 5xx (see ReadClient) honouring Retry-After, and caps each wait
# at this; after the last retry the error propagates and Airflow's task retry takes over.
_MAX_RETRIES = 5
_MAX_RETRY_DELAY_S = 30
_SEARCH_FILTER = {"property": "object", "value": "page"}  # database rows are pages too
_NEWEST_FIRST = {"direction": "descending", "timestamp": "last_edited_time"}
# The prune listing pages oldest first: a page edited meanwhile moves to the end, still ahead.
_OLDEST_FIRST = {"direction": "ascending", "timestamp": "last_edited_time"}
# The stop rule's margins: search order is not promised, so results keep coming until this many
# are older than the window start by more than STOP_MARGIN (a stray page within them is kept).
STOP_MARGIN = timedelta(minutes=10)
STOP_MARGIN_RESULTS = 20
# Their content is their own document (found by search): the parent keeps one line naming them.
_OWN_DOCUMENTS = frozenset({"child_page", "child_database"})


class ReadClient(Client):
    """notion-client's ``Client`` with its retry rule fitted to an integration that only reads.

    The SDK retries 429 on any method but 500/503 only on GET/DELETE, so that a write is never
    sent twice. Search is a POST that only reads, so a 503 on it would fail the whole window;
    here every request is retried as a read, and 504 ``gateway_timeout`` joins 500 and 503.
    """

    def _can_retry(self, error: Exception, method: str) -> bool:
        if APIResponseError.is_api_response_error(error) and error.code == APIErrorCode.GatewayTimeout:
            return True
        return super()._can_retry(error, "GET" if method.upper() == "POST" else method)


def make_client(
    base_url: str = DEFAULT_BASE_URL,
    token: str = "",
    *,
    notion_version: str = NOTION_VERSION,
    timeout_s: float = 60.0,
    max_retries: int = _MAX_RETRIES,
    max_retry_delay_s: float = _MAX_RETRY_DELAY_S,
) -> Client:
    """A notion-client ``Client`` for ``base_url`` (without ``/v1``: the SDK adds it)."""
    return ReadClient(
        auth=token,
        base_url=base_url.rstrip("/"),
        notion_version=notion_version,
        timeout_ms=int(timeout_s * 1000),
        retry=RetryOptions(max_retries=max_retries, max_retry_delay_ms=int(max_retry_delay_s * 1000)),
        # Without a logger of its own every Client adds a StreamHandler to "notion_client".
        logger=logging.getLogger("vector_sync.notion_client"),
    )


def notion_errors(conn_id: str):
    """A rejected token (401) fails at once; notion-client does not retry it. A 403
    ``restricted_resource`` is a page not shared with the integration, handled where it is read."""
    return credentials_checked(
        conn_id, "Notion", APIResponseError, lambda exc: (exc.status, None, f"HTTP {exc.status} {exc}"), statuses=(401,)
    )


def project_tagger(options: Mapping[str, Any]) -> ProjectTagger:
    """Keys and names of the known projects in a page's title and breadcrumb; with none
    known, any word shaped like a key (option ``project_key_pattern``)."""
    pattern = options.get("project_key_pattern") or KEY_PATTERN
    return ProjectTagger.from_options(options, fallback=rf"(?<![A-Za-z0-9])({pattern})(?![A-Za-z0-9])")


class NotionSource(Source):
    """Pages last edited within a window, each with its whole block tree."""

    name = "notion"
    keep_unmapped = True  # handbook pages belong to no project and are still worth finding

    def __init__(
        self, client: Client, settings: SourceSettings, stats: FetchStats | None = None, *, limiter: RateLimiter | None = None
    ) -> None:
        super().__init__(client, settings, stats)
        option = settings.option
        self.limiter = limiter or RateLimiter(option("rps"), burst=int(option("burst")))
        self.workers = int(option("workers"))
        self.max_blocks = int(option("max_blocks"))
        self.page_size = int(option("page_size"))
        self.block_page_size = int(option("block_page_size"))
        self.projects = project_tagger(settings.options)
        self.ancestry = Ancestry(self._call, self.client)
        self._trashed: dict[Window, list[str]] = {}
        self._stats_lock = threading.Lock()

    def fetch(self, window: Window) -> Iterator[Document]:
        """Yield a document per page edited in ``[start, end)``; trashed ones go to ``removed_ids``."""
        trashed: list[str] = []
        with notion_errors(self.settings.conn_id):
            pages = self._changed_pages(window, trashed)
            # Search pages are pulled lazily, so they overlap the workers' content reads.
            for document in prefetch(self._document, pages, ahead=self.workers * 4, workers=self.workers, name="notion"):
                if document is not None:
                    yield document
        self._trashed[window] = trashed
        log.info("Notion %s: %d trashed pages, limiter waited %.1f s", window, len(trashed), self.limiter.waited_s)

    def parts(self, window: Window) -> list[dict[str, Any]]:
        """A long window's pages, listed once and split among the fetch partitions.

        Search has no time filter: time slices would each page search from the newest page
        down to their own start (a 30-day sync made 44 search requests where 11 list the window
        once). So the planning task lists the window once and hands each part a share of the
        pages (the fields a document needs, so a part reads no page twice); part 0 also carries
        the trashed ids, if search ever returns any.
        """
        slices = super().parts(window)
        if len(slices) == 1:
            return slices
        trashed: list[str] = []
        with notion_errors(self.settings.conn_id):
            pages = [_page_stub(page) for page in self._changed_pages(window, trashed)]
        count = len(slices)
        shares = [pages[i::count] for i in range(count)]  # round robin: each part gets new and old pages alike
        scopes = [{"pages": share} for share in shares if share] or [{"pages": []}]
        scopes[0]["trashed"] = trashed
        log.info("Notion %s: %d pages listed once for %d parts", window, len(pages), len(scopes))
        return scopes

    def fetch_part(self, window: Window, scope: dict[str, Any]) -> Iterator[Document]:
        """The part's share of the window's pages (``parts``), or the whole window."""
        if "pages" not in scope:
            return self.fetch(window)
        self._trashed[window] = list(scope.get("trashed") or [])
        return self._documents_of(scope["pages"])

    def _documents_of(self, pages: list[dict]) -> Iterator[Document]:
        with notion_errors(self.settings.conn_id):
            for page in pages:
                self.ancestry.remember(page)
            for document in prefetch(self._document, pages, ahead=self.workers * 4, workers=self.workers, name="notion"):
                if document is not None:
                    yield document

    @staticmethod
    def part_label(scope: Mapping[str, Any]) -> str:
        if "pages" in scope:
            return f"{len(scope['pages'])} pages"
        return Source.part_label(scope)

    def removed_ids(self, window: Window) -> Iterator[str]:
        """Ids of trashed pages search returned for the window (remembered by ``fetch``, else
        searched): none while Notion's search leaves the trash out, as it documents."""
        if window not in self._trashed:
            trashed: list[str] = []
            with notion_errors(self.settings.conn_id):
                for _page in self._changed_pages(window, trashed):
                    pass
            self._trashed[window] = trashed
        return iter(self._trashed[window])

    def live_ids(self) -> Iterator[str]:
        """``notion:{id}`` of every page search returns outside the trash (one request per 100)."""

        def search_page(cursor: str | None) -> tuple[list, str | None]:
            body: dict[str, Any] = {"filter": _SEARCH_FILTER, "sort": _OLDEST_FIRST, "page_size": self.page_size}
            if cursor:
                body["start_cursor"] = cursor
            page = self._call(self.client.search, **body)
            return page.get("results") or [], page.get("next_cursor") if page.get("has_more") else None

        with notion_errors(self.settings.conn_id):
            for page in follow_tokens(search_page, what="Notion search (live ids)"):
                if (
                    isinstance(page, dict)
                    and page.get("id")
                    and page.get("object", "page") == "page"
                    and not (page.get("in_trash") or page.get("archived"))
                ):
                    yield f"notion:{page['id']}"

    def confirm_gone(self, ids: list[str]) -> list[str]:
        """The ids whose page answers 404 (object_not_found) or is in the trash; each candidate
        costs one ``GET /v1/pages/{id}`` under the shared limiter, ``workers`` at a time."""
        with notion_errors(self.settings.conn_id):
            verdicts = list(prefetch(self._is_gone, ids, ahead=self.workers * 4, workers=self.workers, name="notion"))
        return [doc_id for doc_id, gone in zip(ids, verdicts) if gone]

    def _is_gone(self, doc_id: str) -> bool:
        prefix, _, page_id = doc_id.partition(":")
        if prefix != "notion" or not page_id:
            return False  # not a Notion document id: never judged
        try:
            page = self._call(self.client.pages.retrieve, page_id)
        except APIResponseError as exc:
            if exc.code == APIErrorCode.ObjectNotFound:
                return True
            if exc.code == APIErrorCode.RestrictedResource:
                log.warning("Notion page %s is restricted (HTTP 403): kept", page_id)
                return False
            raise
        return bool(page.get("in_trash") or page.get("archived"))

    # ------------------------------------------------------------------ requests
    def _call(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """One API request, after taking a slot from the shared limiter."""
        self.limiter.acquire()
        return method(*args, **kwargs)

    def _changed_pages(self, window: Window, trashed: list[str]) -> Iterator[dict]:
        """Live pages edited in the window, about newest first; trashed ones are noted in ``trashed``."""

        floor = window.start - STOP_MARGIN
        past = 0  # results seen older than the floor

        def search_page(cursor: str | None) -> tuple[list, str | None]:
            nonlocal past
            body: dict[str, Any] = {"filter": _SEARCH_FILTER, "sort": _NEWEST_FIRST, "page_size": self.page_size}
            if cursor:
                body["start_cursor"] = cursor
            page = self._call(self.client.search, **body)
            results = page.get("results") or []
            # Newest first, roughly: stop once enough results lie well before the window that a
            # page sorted out of line would have shown up among them.
            past += sum(1 for r in results if (edited := _time(r, "last_edited_time")) is not None and edited < floor)
            done = not page.get("has_more") or past >= STOP_MARGIN_RESULTS
            return results, None if done else page.get("next_cursor")

        seen: set[str] = set()  # the index may change while it is paged: a page can come twice
        for page in follow_tokens(search_page, what="Notion search"):
            if isinstance(page, dict) and page.get("id") in seen:
                continue
            edited = _time(page, "last_edited_time")
            if edited is None or not page.get("id") or page.get("object", "page") != "page":
                self._skip("malformed page", item=f"search result {page.get('id', '?') if isinstance(page, dict) else '?'}")
                log.warning("Skipping malformed Notion search result %s", page.get("id", "?") if isinstance(page, dict) else "?")
                continue
            seen.add(page["id"])
            self.ancestry.remember(page)
            if not window.contains(edited):
                continue  # older, or edited since the window closed (the next window takes it)
            if page.get("in_trash") or page.get("archived"):
                trashed.append(f"notion:{page['id']}")
            else:
                yield page

    def _document(self, page: dict) -> Document | None:
        """Runs on a worker thread: the page's block tree and ancestry -> its document."""
        try:
            blocks = self._block_tree(page["id"])
        except APIResponseError as exc:
            if exc.code not in UNREADABLE:
                raise
            # Trashed or unshared between search and this read: the next window sees its new state.
            self._skip("page vanished", item=f"page {page['id']} ({exc.code})")
            log.warning("Notion page %s could not be read (%s): skipped", page["id"], exc.code)
            return None
        rendered = render_blocks(blocks)
        for kind, count in rendered.unsupported.items():
            self._skip(f"unsupported block: {kind}", count, item=f"page {page['id']}")
        ancestors = self.ancestry.titles(page.get("parent"))
        return _to_document(page, rendered.sections, ancestors, self.projects)

    def _block_tree(self, page_id: str) -> list[dict]:
        """The page's blocks, each block's children under its ``"children"``, to any depth.

        Notion's nesting has no fixed depth (toggles in toggles in columns), so two guards stand
        in for a depth limit, each counted when it stops something: at most ``max_blocks``
        blocks per page ("block budget"), and a block whose content was already read on this
        page is not read again ("block cycle": a duplicate synced block reads its original's
        children, and a duplicate inside its own original would loop forever).
        """
        walk = _Walk(budget=self.max_blocks, seen={page_id})
        top = self._children(page_id, walk)
        pending = list(top)
        while pending:  # a stack, not recursion: depth is whatever the page has
            block = pending.pop()
            kind = block.get("type")
            if not block.get("has_children") or kind in _OWN_DOCUMENTS or kind not in SUPPORTED_TYPES:
                continue
            content = _content_id(block)
            if content in walk.seen:
                self._skip("block cycle", item=f"block {block.get('id')} on page {page_id}")
                continue
            walk.seen.add(content)
            if walk.read >= walk.budget:
                walk.cut = True
                continue
            block["children"] = self._children(block["id"], walk)
            pending.extend(block["children"])
        if walk.cut:
            self._skip("block budget", item=f"page {page_id} (over {walk.budget} blocks)")
            log.warning("Notion page %s has over %d blocks: the rest is not read (option max_blocks)", page_id, walk.budget)
        return top

    def _children(self, block_id: str, walk: _Walk) -> list[dict]:
        """A block's children, paged, until the page's block budget runs out."""

        def children_page(cursor: str | None) -> tuple[list, str | None]:
            page = self._call(self.client.blocks.children.list, block_id, start_cursor=cursor, page_size=self.block_page_size)
            return page.get("results") or [], page.get("next_cursor") if page.get("has_more") else None

        blocks: list[dict] = []
        for block in follow_tokens(children_page, what=f"Notion block {block_id} children"):
            if walk.read >= walk.budget:
                walk.cut = True
                break
            if isinstance(block, dict):
                blocks.append(block)
                walk.read += 1
        return blocks

    def _skip(self, reason: str, count: int = 1, item: str | None = None) -> None:
        with self._stats_lock:  # workers share one FetchStats
            self.stats.skip(reason, count, item=item)


@dataclass
class _Walk:
    """One page's block walk: blocks read against the budget, contents already read."""

    budget: int
    seen: set[str]
    read: int = 0
    cut: bool = False


# What a document and the ancestry need of a search result (a part's scope carries only these).
_STUB_KEYS = ("object", "id", "created_time", "last_edited_time", "parent", "url", "properties")


def _page_stub(page: Mapping[str, Any]) -> dict[str, Any]:
    return {key: page[key] for key in _STUB_KEYS if key in page}


def _content_id(block: Mapping[str, Any]) -> str:
    """Whose children reading this block returns: a duplicate synced block's are its original's."""
    synced = (block.get("synced_block") or {}).get("synced_from") if block.get("type") == "synced_block" else None
    return str((synced or {}).get("block_id") or block.get("id"))


def _to_document(page: Mapping[str, Any], sections: list, ancestors: list[str], projects: ProjectTagger) -> Document:
    """The page's document: intro (title, properties, text before the first heading) + sections."""
    page_id = str(page["id"])
    edited = _time(page, "last_edited_time")
    created = _time(page, "created_time") or edited
    title = page_title(page)
    breadcrumb = " / ".join([*ancestors, title])
    intro = "\n".join([title, *property_lines(page.get("properties"))])
    segments = []
    for index, section in enumerate(sections):
        text = section.text
        if index == 0 and not section.heading:
            text = f"{intro}\n\n{text}".strip()
        segments.append(Segment(text, {"heading": section.heading or title}))
    if not segments or sections[0].heading:
        segments.insert(0, Segment(intro, {"heading": title}))
    url = str(page.get("url") or notion_url(page_id))
    parent = page.get("parent") if isinstance(page.get("parent"), Mapping) else {}
    parent_kind = str(parent.get("type") or "workspace")
    metadata: dict[str, MetadataValue] = {
        # The old system's fields, so existing filters and dashboards keep working.
        "source": "notion",
        "page_id": page_id,
        "url": url,
        "created_time": created.isoformat(),
        "last_edited_time": edited.isoformat(),
        "timestamp_epoch": int(edited.timestamp()),
        "access_type": "all",
        "title": title,
        "parent": parent_kind if parent_kind == "workspace" else f"{parent_kind}:{parent.get(parent_kind)}",
        "breadcrumb": breadcrumb,
    }
    return Document(
        id=f"notion:{page_id}",
        source="notion",
        title=title,
        text="\n\n".join(s.text for s in segments),
        url=url,
        updated_at=edited,
        projects=projects(title, breadcrumb),
        metadata=metadata,
        segments=tuple(segments),
    )


def _time(obj: Any, key: str) -> datetime | None:
    try:
        return parse_time(obj[key])
    except (KeyError, TypeError, ValueError, AttributeError):
        return None
