"""Airflow hook: the Tempo connection (plus the Jira one) -> a ready ``TempoClient``.

Tempo has no Airflow provider. Connection fields: password = Tempo API token, host = base URL
(default ``https://api.tempo.io``; regional ``https://api.eu.tempo.io`` or
``https://api.us.tempo.io`` where the data lives); extras ``timeout_s`` and ``total_retries``
(optional). Worklogs name issues and people only by id, so the client also holds a Jira client,
built by ``JiraHook`` from the connection ``jira_conn_id`` (the tempo option of that name,
which the caller passes in; default ``jira_default``).
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from airflow.sdk import BaseHook

from vector_sync.hooks.connection import base_url, client_options, connection, require
from vector_sync.hooks.jira import JiraHook
from vector_sync.sources.tempo import API_BASE, TempoClient, make_client


class TempoHook(BaseHook):
    """Builds the Tempo client from one connection; the token never reaches a log line."""

    conn_name_attr = "tempo_conn_id"
    default_conn_name = "tempo_default"
    conn_type = "tempo"
    hook_name = "Tempo"

    def __init__(self, tempo_conn_id: str = default_conn_name, jira_conn_id: str = JiraHook.default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.tempo_conn_id = tempo_conn_id
        self.jira_conn_id = jira_conn_id

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        return {
            "hidden_fields": ["schema", "port", "login"],
            "relabeling": {"host": "Base URL", "password": "API token"},
            "placeholders": {
                "host": f"{API_BASE} (or https://api.eu.tempo.io, https://api.us.tempo.io)",
                "password": "Tempo API token (Tempo > Settings > API integration)",
                "extra": '{"timeout_s": 120, "total_retries": 5}',
            },
        }

    def get_conn(self) -> TempoClient:
        """A new client; raises ``FatalError`` when a connection is missing or has no token."""
        conn = connection(self, self.tempo_conn_id, f"password = Tempo API token, host = {API_BASE} or a regional host, optional")
        token = require(conn.password, self.tempo_conn_id, "password (the Tempo API token)")
        url = base_url(conn, API_BASE)
        options = client_options(conn, timeout_s=float, total_retries=int)
        jira_conn_id = self.jira_conn_id
        jira = JiraHook(jira_conn_id=jira_conn_id).get_conn()
        self.log.info("Connecting to Tempo at %s (connection '%s', Jira via '%s')", url, self.tempo_conn_id, jira_conn_id)
        return make_client(url, token, jira, conn_id=self.tempo_conn_id, jira_conn_id=jira_conn_id, **options)

    @cached_property
    def client(self) -> TempoClient:
        return self.get_conn()
