"""The breadcrumb of a Notion page: titles of its parents (pages, data sources, databases,
blocks), each retrieved once per run."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from typing import Any

from notion_client import APIErrorCode, APIResponseError, Client

from vector_sync.notion_blocks import rich_text

# A page's parent is often not shared with the integration (403/404): the breadcrumb ends there.
UNREADABLE = frozenset({APIErrorCode.ObjectNotFound, APIErrorCode.RestrictedResource})
_MAX_ANCESTORS = 32  # guards against a parent cycle


class Ancestry:
    """Titles and parents of pages, data sources, databases and blocks, each retrieved once.

    Search results seed it, so parents edited recently cost no request. Concurrent workers
    asking for the same parent wait for one request (single flight) instead of each sending it.
    """

    def __init__(self, call: Callable[..., Any], client: Client) -> None:
        self._call = call
        self._retrieve = {
            "page_id": client.pages.retrieve,
            "data_source_id": client.data_sources.retrieve,
            "database_id": client.databases.retrieve,
            "block_id": client.blocks.retrieve,
        }
        self._nodes: dict[str, Future] = {}
        self._lock = threading.Lock()

    def remember(self, page: Mapping[str, Any]) -> None:
        done: Future = Future()
        done.set_result((page_title(page), page.get("parent")))
        with self._lock:
            self._nodes.setdefault(str(page["id"]), done)

    def titles(self, parent: Any) -> list[str]:
        """Titles from the top-most readable ancestor down to the direct parent."""
        titles: list[str] = []
        seen: set[str] = set()
        while isinstance(parent, Mapping) and parent.get("type") in self._retrieve and len(seen) < _MAX_ANCESTORS:
            kind = parent["type"]
            node_id = str(parent.get(kind) or "")
            if not node_id or node_id in seen:
                break
            seen.add(node_id)
            title, parent = self._node(kind, node_id)
            if title and (not titles or titles[-1] != title):  # a data source and its database share a name
                titles.append(title)
        return titles[::-1]

    def _node(self, kind: str, node_id: str) -> tuple[str, Any]:
        with self._lock:
            future = self._nodes.get(node_id)
            owner = future is None
            if owner:
                future = self._nodes[node_id] = Future()
        if owner:
            try:
                future.set_result(self._fetch(kind, node_id))
            except BaseException as exc:
                future.set_exception(exc)
        return future.result()

    def _fetch(self, kind: str, node_id: str) -> tuple[str, Any]:
        try:
            obj = self._call(self._retrieve[kind], node_id)
        except APIResponseError as exc:
            if exc.code in UNREADABLE:
                return "", None
            raise
        if kind == "block_id":  # blocks have no title: climb on to the page holding them
            return "", obj.get("parent")
        if kind == "data_source_id":  # a data source's own parent is its database: skip a level
            return rich_text(obj.get("title")), obj.get("database_parent") or obj.get("parent")
        if kind == "database_id":
            return rich_text(obj.get("title")), obj.get("parent")
        return page_title(obj), obj.get("parent")


def page_title(page: Mapping[str, Any]) -> str:
    """The page's title property (whichever property has ``type == "title"``)."""
    for prop in (page.get("properties") or {}).values():
        if isinstance(prop, Mapping) and prop.get("type") == "title":
            return rich_text(prop.get("title")).strip() or "Untitled"
    return "Untitled"
