"""Airflow hook: the Jira connection -> a ready ``JIRA`` client.

There is no maintained Jira provider for Airflow 3 that builds a REST v3 client with bounded
retries, so this small hook does it through ``vector_sync.sources.jira.make_client``.
Connection fields: host = site URL (``https://acme.atlassian.net``), login = account email,
password = API token; extras ``timeout_s``, ``max_retries`` and ``max_retry_delay_s`` (the cap
on the client's wait before a retry; default 30 s) (optional).
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from airflow.sdk import BaseHook
from jira import JIRA

from vector_sync.hooks.connection import base_url, client_options, connection, require
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
                "extra": '{"timeout_s": 30, "max_retries": 3, "max_retry_delay_s": 30}',
            },
        }

    def get_conn(self) -> JIRA:
        """A new client; raises ``FatalError`` when the connection is missing or incomplete."""
        conn = connection(self, self.jira_conn_id, "host = Jira site URL, login = email, password = API token")
        url = base_url(conn, require(conn.host, self.jira_conn_id, "host (the Jira site URL)"))
        self.log.info("Connecting to Jira at %s (connection '%s')", url, self.jira_conn_id)
        options = client_options(conn, timeout_s=float, max_retries=int, max_retry_delay_s=int)
        return make_client(url, conn.login or "", conn.password or "", conn_id=self.jira_conn_id, **options)

    @cached_property
    def client(self) -> JIRA:
        return self.get_conn()
