"""Airflow hook: the Slack API connection -> a ready ``WebClient``.

A thin subclass of the Slack provider's ``SlackHook``: the provider reads the token from the
connection's password and ``base_url`` / ``timeout`` / ``proxy`` from its extras (the sandbox
sets ``base_url`` to ``http://127.0.0.1:PORT/slack/api/``). What this adds: the SDK's retry
handlers (429 with Retry-After, 500/503, dropped connections) instead of the provider's
default of none for 429, and a token check that fails the task at once.
"""

from __future__ import annotations

from typing import Any

from airflow.providers.slack.hooks.slack import SlackHook
from slack_sdk import WebClient

from vector_sync.sources.slack_client import DEFAULT_MAX_RETRIES, check_credentials, retry_handlers


class SlackClientHook(SlackHook):
    """``SlackHook`` whose client retries rate limits; ``get_conn`` verifies the token."""

    def __init__(
        self,
        slack_conn_id: str = SlackHook.default_conn_name,
        *,
        max_retries: int = DEFAULT_MAX_RETRIES,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("retry_handlers", retry_handlers(max_retries))
        super().__init__(slack_conn_id=slack_conn_id, **kwargs)
        self._checked = False

    def get_conn(self) -> WebClient:
        """The cached client, after one ``auth.test``: a rejected token raises ``CredentialsError``."""
        client = self.client
        if not self._checked:
            check_credentials(client, self.slack_conn_id)
            self._checked = True
        return client
