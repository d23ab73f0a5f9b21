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
from airflow.sdk.exceptions import AirflowNotFoundException
from notion_client import Client

from vector_sync.errors import FatalError
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
        try:
            conn = self.get_connection(self.notion_conn_id)
        except AirflowNotFoundException:
            raise FatalError(
                f"Airflow connection '{self.notion_conn_id}' is not defined: add it "
                "(password = Notion integration token, host = API base URL, optional)"
            ) from None
        if not conn.password:
            raise FatalError(f"Airflow connection '{self.notion_conn_id}' has no password (the integration token)")
        extras = conn.extra_dejson or {}
        base_url = _base_url(conn.host, conn.port, conn.schema)
        self.log.info("Connecting to Notion at %s (connection '%s')", base_url, self.notion_conn_id)
        return make_client(
            base_url,
            conn.password,
            notion_version=str(extras.get("notion_version") or NOTION_VERSION),
            timeout_s=float(extras.get("timeout_s", 60)),
            max_retries=int(extras.get("max_retries", 5)),
        )

    @cached_property
    def client(self) -> Client:
        return self.get_conn()


def _base_url(host: str | None, port: int | None, path: str | None) -> str:
    """The API root; a connection given as a URI (``notion://host:port/path``) loses its scheme."""
    if not host:
        return DEFAULT_BASE_URL
    if "://" in host:
        return host.rstrip("/")
    scheme = "http" if host in ("localhost", "127.0.0.1") else "https"
    url = f"{scheme}://{host}:{port}" if port else f"{scheme}://{host}"
    return f"{url}/{path.strip('/')}" if path else url
