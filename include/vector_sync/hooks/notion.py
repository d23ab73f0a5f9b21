"""Airflow hook: the Notion connection -> a ready notion-client ``Client``.

There is no Notion provider for Airflow, so this small hook builds the SDK client through
``vector_sync.sources.notion.make_client``. Connection fields: password = integration token,
host = API base URL (default ``https://api.notion.com``; the sandbox's URL in tests); extras
``notion_version`` (default pinned in the source module), ``timeout_s``, ``max_retries``.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from airflow.sdk import BaseHook
from notion_client import Client

from vector_sync.hooks.connection import base_url, client_options, connection, require
from vector_sync.sources.notion import DEFAULT_BASE_URL, NOTION_VERSION, make_client


class NotionHook(BaseHook):
    """Builds the Notion client from one connection; the token never reaches a log line."""

    conn_name_attr = "notion_conn_id"
    default_conn_name = "notion_default"
    conn_type = "notion"
    hook_name = "Notion"

    def __init__(self, notion_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.notion_conn_id = notion_conn_id

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        return {
            "hidden_fields": ["schema", "login", "port"],
            "relabeling": {"host": "API base URL", "password": "Integration token"},
            "placeholders": {
                "host": DEFAULT_BASE_URL,
                "password": "ntn_...",
                "extra": f'{{"notion_version": "{NOTION_VERSION}", "timeout_s": 60, "max_retries": 5}}',
            },
        }

    def get_conn(self) -> Client:
        """A new client; raises ``FatalError`` when the connection is missing or has no token."""
        conn = connection(self, self.notion_conn_id, "password = Notion integration token, host = API base URL, optional")
        token = require(conn.password, self.notion_conn_id, "password (the integration token)")
        url = base_url(conn, DEFAULT_BASE_URL)
        self.log.info("Connecting to Notion at %s (connection '%s')", url, self.notion_conn_id)
        return make_client(url, token, **client_options(conn, notion_version=str, timeout_s=float, max_retries=int))

    @cached_property
    def client(self) -> Client:
        return self.get_conn()
