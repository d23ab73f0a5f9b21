"""Errors that decide whether Airflow retries.

Library code raises these; the Airflow adapter turns ``FatalError`` into
``AirflowFailException`` so a rejected credential or bad setting fails at once instead of
burning retries.
"""


class VectorSyncError(Exception):
    """Base class for errors raised by vector-sync."""


class FatalError(VectorSyncError):
    """Retrying cannot help: wrong credentials, missing connection, quota exhausted, bad config.

    The message must name the connection or setting to fix and never contain a secret.
    """


class CredentialsError(FatalError):
    """The API rejected the credentials of a connection."""

    def __init__(self, conn_id: str, service: str, detail: str = "") -> None:
        message = f"{service} rejected the credentials of connection '{conn_id}'"
        if detail:
            message += f": {detail}"
        super().__init__(message + ". Fix the connection's login/password and clear the task.")
        self.conn_id = conn_id
