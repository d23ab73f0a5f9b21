"""Airflow hook: the Jira connection -> a ready ``JIRA`` client.

There is no maintained Jira provider for Airflow 3 that builds a REST v3 client with bounded
retries, so this small hook does it through ``vector_sync.sources.jira.make_client``.
Connection fields: host = site URL (``https://acme.atlassian.net``), login = account email,
password = API token; extras ``timeout_s`` and ``max_retries`` (optional).
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowNotFoundException
from jira import JIRA

from vector_sync.errors import FatalError
from vector_sync.sources.jira import make_client


class JiraHook(BaseHook):
    """Builds the Jira client from one connection; credentials never reach a log line."""

    conn_name_attr = "jira_conn_id"
    default_conn_name = "jira_default"
    conn_type = "jira"
    hook_name = "Jira"

    def __init__(self, jira_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.jira_conn_id = jira_conn_id

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        return {
            "hidden_fields": ["schema", "port"],
            "relabeling": {"host": "Site URL", "login": "Email", "password": "API token"},
            "placeholders": {
                "host": "https://your-site.atlassian.net",
                "login": "you@example.com",
                "password": "Atlassian API token",
                "extra": '{"timeout_s": 30, "max_retries": 3}',
            },
        }

    def get_conn(self) -> JIRA:
        """A new client; raises ``FatalError`` when the connection is missing or incomplete."""
        try:
            conn = self.get_connection(self.jira_conn_id)
        except AirflowNotFoundException:
            raise FatalError(
                f"Airflow connection '{self.jira_conn_id}' is not defined: add it (host = Jira site URL, "
                "login = email, password = API token)"
            ) from None
        if not conn.host:
            raise FatalError(f"Airflow connection '{self.jira_conn_id}' has no host (the Jira site URL)")
        extras = conn.extra_dejson or {}
        self.log.info("Connecting to Jira at %s (connection '%s')", conn.host, self.jira_conn_id)
        return make_client(
            _site_url(conn.host, conn.port),
            conn.login or "",
            conn.password or "",
            conn_id=self.jira_conn_id,
            timeout_s=float(extras.get("timeout_s", 30)),
            max_retries=int(extras.get("max_retries", 3)),
        )

    @cached_property
    def client(self) -> JIRA:
        return self.get_conn()


def _site_url(host: str, port: int | None) -> str:
    """A connection given as a URI (``jira://acme.atlassian.net``) loses its scheme: assume https."""
    if "://" in host:
        return host
    return f"https://{host}:{port}" if port else f"https://{host}"
