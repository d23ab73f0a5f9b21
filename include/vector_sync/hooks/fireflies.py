"""Airflow hook: the Fireflies connection -> a ready ``FirefliesClient``.

Fireflies has no Airflow provider. Connection fields: password = API key, host = GraphQL
endpoint (default ``https://api.fireflies.ai/graphql``); extras ``timeout_s`` and
``total_retries`` (optional).
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowNotFoundException

from vector_sync.errors import FatalError
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
        try:
            conn = self.get_connection(self.fireflies_conn_id)
        except AirflowNotFoundException:
            raise FatalError(
                f"Airflow connection '{self.fireflies_conn_id}' is not defined: add it "
                "(password = Fireflies API key, host = GraphQL endpoint, optional)"
            ) from None
        endpoint = _endpoint(conn.host, conn.port, conn.schema)
        extras = conn.extra_dejson or {}
        options: dict[str, Any] = {}
        if "timeout_s" in extras:
            options["timeout_s"] = float(extras["timeout_s"])
        if "total_retries" in extras:
            options["total_retries"] = int(extras["total_retries"])
        self.log.info("Connecting to Fireflies at %s (connection '%s')", endpoint, self.fireflies_conn_id)
        return make_client(endpoint, conn.password or "", conn_id=self.fireflies_conn_id, **options)

    @cached_property
    def client(self) -> FirefliesClient:
        return self.get_conn()


def _endpoint(host: str | None, port: int | None, path: str | None) -> str:
    """The full endpoint URL; a connection given as a URI (``fireflies://host/graphql``) loses
    its scheme and path into ``host``/``schema``: assume https and Fireflies' ``/graphql``."""
    if not host:
        return ENDPOINT
    if "://" in host:
        return host
    netloc = f"{host}:{port}" if port else host
    return f"https://{netloc}/{(path or 'graphql').lstrip('/')}"
