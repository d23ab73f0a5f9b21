"""Airflow hook: the Fireflies connection -> a ready ``FirefliesClient``.

Fireflies has no Airflow provider. Connection fields: password = API key, host = GraphQL
endpoint (default ``https://api.fireflies.ai/graphql``); extras ``timeout_s`` and
``total_retries`` (optional).
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from airflow.sdk import BaseHook

from vector_sync.hooks.connection import base_url, client_options, connection
from vector_sync.sources.fireflies import ENDPOINT, FirefliesClient, make_client


class FirefliesHook(BaseHook):
    """Builds the Fireflies client from one connection; the API key never reaches a log line."""

    conn_name_attr = "fireflies_conn_id"
    default_conn_name = "fireflies_default"
    conn_type = "fireflies"
    hook_name = "Fireflies"

    def __init__(self, fireflies_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.fireflies_conn_id = fireflies_conn_id

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        return {
            "hidden_fields": ["schema", "port", "login"],
            "relabeling": {"host": "GraphQL endpoint", "password": "API key"},
            "placeholders": {
                "host": ENDPOINT,
                "password": "Fireflies API key (Settings > Developer settings)",
                "extra": '{"timeout_s": 120, "total_retries": 5}',
            },
        }

    def get_conn(self) -> FirefliesClient:
        """A new client; raises ``FatalError`` when the connection is missing or has no key."""
        conn = connection(self, self.fireflies_conn_id, "password = Fireflies API key, host = GraphQL endpoint, optional")
        endpoint = base_url(conn, ENDPOINT, default_path="graphql")
        self.log.info("Connecting to Fireflies at %s (connection '%s')", endpoint, self.fireflies_conn_id)
        options = client_options(conn, timeout_s=float, total_retries=int)
        return make_client(endpoint, conn.password or "", conn_id=self.fireflies_conn_id, **options)

    @cached_property
    def client(self) -> FirefliesClient:
        return self.get_conn()
